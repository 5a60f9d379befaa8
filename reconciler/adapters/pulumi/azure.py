"""The Azure programs: one stack per deployment, an inline Pulumi program of a Function App.

Used by the Pulumi engine through `program.ProgramBuilder`. A program declares the app (with
its storage, plan, insights and identity), Web PubSub for a WebSocket API, and optionally API
Management in front, and exports what a restarted daemon needs to know what is applied.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.metadata
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pulumi
from pulumi_azure_native import resources

from reconciler.adapters import dependencies
from reconciler.adapters.pulumi import azure_apim, azure_common, azure_functions, azure_pubsub
from reconciler.adapters.pulumi.packaging import PackageInfo, build_package
from reconciler.adapters.pulumi.program import (
    OUTPUT_DEPLOYMENT,
    OUTPUT_ENDPOINT,
    OUTPUT_FINGERPRINT,
    OUTPUT_REVISION,
    EnvValue,
    Program,
    StackTarget,
    environment,
)
from reconciler.domain.values import ApiKind, DeploymentSpec, Provider
from reconciler.ports import ApplyRequest, PermanentError

PROGRAM_VERSION = "azure/2"
"""Part of every fingerprint, with the shim's version: bump it when the resources change."""
DEFAULT_ROUTE_PREFIX = "api"
"""The Functions host's own default, used when host.json names none."""
PYTHON_PACKAGES = ".python_packages/lib/site-packages"
"""Where the Python worker looks for a package's own dependencies."""
PUBLISHER = ("reconciler", "apis@example.invalid")
"""API Management's required publisher (name, email); pass a real one to `AzurePrograms`."""


class ShimFiles(Protocol):
    """Files the Functions host needs beside the user's code: `azure_shim.package_files`."""

    def __call__(self, spec: DeploymentSpec, *, existing: Collection[str]) -> dict[str, bytes]:
        """Paths (at the package root) and bytes, never overwriting one in `existing`."""
        ...


@dataclass(frozen=True, slots=True)
class _Package:
    info: PackageInfo
    route_prefix: str


class AzurePrograms:
    """Builds the stack and inline program of `provider: azure` deployments."""

    provider = Provider.AZURE

    def __init__(  # noqa: PLR0913  # keyword-only options, each with a default
        self,
        *,
        shim: ShimFiles | None = None,
        shim_version: str | None = None,
        web_pubsub_sku: str = azure_pubsub.DEFAULT_SKU,
        publisher: tuple[str, str] = PUBLISHER,
        webhook_key: bytes | None = None,
        install: dependencies.Installer = dependencies.install,
    ) -> None:
        """`shim` and `shim_version` default to `azure_shim`'s, imported only when needed.

        `webhook_key` derives each WebSocket deployment's Web PubSub token; without it,
        WebSocket specs are refused. `install` puts the package's dependencies into it.
        """
        if shim is None or shim_version is None:
            module = importlib.import_module("reconciler.adapters.pulumi.azure_shim")
            shim = shim or module.package_files
            shim_version = shim_version or str(module.SHIM_VERSION)
        self.shim: ShimFiles = shim
        self.web_pubsub_sku = web_pubsub_sku
        self.publisher = publisher
        self._webhook_key = webhook_key
        self._install = install
        # The SKU changes what a WebSocket spec makes, so it is part of the fingerprint too.
        sku = "" if web_pubsub_sku == azure_pubsub.DEFAULT_SKU else f"+{web_pubsub_sku}"
        self.program_version = f"{PROGRAM_VERSION}+shim{shim_version}{sku}"
        self.plugins: tuple[tuple[str, str], ...] = (
            ("azure-native", importlib.metadata.version("pulumi_azure_native")),
        )

    def targets(self, spec: DeploymentSpec) -> list[StackTarget]:
        """One stack, named after the deployment, in the manifest's `location`."""
        if spec.region is None:
            raise PermanentError(f"deployment {spec.name} has no location (spec.location)")
        return [
            StackTarget(
                stack=spec.name,
                config={"azure-native:location": spec.region},
                region=spec.region,
            )
        ]

    def program(self, request: ApplyRequest, *, target: StackTarget, workdir: Path) -> Program:
        """Package the source and the shim into `workdir` now, and return the program."""
        variables = environment(request)
        token = self._webpubsub_token(request.spec)
        package = self._package(request, workdir=workdir.resolve(), stack=target.stack)
        sku, publisher = self.web_pubsub_sku, self.publisher

        def run() -> None:
            _declare(
                request,
                target=target,
                package=package,
                environment=variables,
                web_pubsub_sku=sku,
                publisher=publisher,
                webpubsub_token=token,
            )

        return run

    def _webpubsub_token(self, spec: DeploymentSpec) -> str | None:
        """The token Web PubSub's hub carries to the shim: HMAC-SHA256(key, name), hex."""
        if spec.kind is not ApiKind.WEBSOCKET:
            return None
        if self._webhook_key is None:
            raise PermanentError(
                f"deployment {spec.name}: no webhook key configured, and a WebSocket API on"
                " Azure needs one for its Web PubSub token; build AzurePrograms(webhook_key=...)"
            )
        return webpubsub_token(self._webhook_key, spec.name)

    def _package(self, request: ApplyRequest, *, workdir: Path, stack: str) -> _Package:
        """The user's files plus the shim's and the dependencies, zipped deterministically."""

        def prepare(staging: Path) -> str:
            self._add_shim(request.spec, staging)
            # Run from package builds nothing on Azure: what the code imports must be in the zip.
            runtime = request.spec.function.runtime
            self._install(staging, dependencies.Target(runtime, python_path=PYTHON_PACKAGES))
            return _route_prefix(staging / "host.json")

        info, prefix = build_package(request.source_dir, workdir / f"{stack}.zip", prepare=prepare)
        return _Package(info=info, route_prefix=prefix)

    def _add_shim(self, spec: DeploymentSpec, staging: Path) -> None:
        existing = sorted(
            path.relative_to(staging).as_posix() for path in staging.rglob("*") if path.is_file()
        )
        # A function's own requirements.txt or package.json is merged with the shim's, not
        # refused: most real functions have one.
        refusable = [path for path in existing if path not in MERGED]
        for relative, shipped in sorted(self.shim(spec, existing=refusable).items()):
            destination = staging / relative
            data = shipped
            if relative in MERGED and destination.is_file():
                data = MERGED[relative](destination.read_bytes(), shipped)
            elif relative in existing:
                raise PermanentError(f"the function source already has {relative}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)


def webpubsub_token(key: bytes, deployment: str) -> str:
    """The deployment's token for the shim's Web PubSub route; stable for a key and a name."""
    return hmac.new(key, deployment.encode(), hashlib.sha256).hexdigest()


def merged_requirements(user: bytes, shim: bytes) -> bytes:
    """The user's requirements, then each shim requirement whose package they do not name."""
    named = {_requirement_name(line) for line in user.decode().splitlines()}
    added = [line for line in shim.decode().splitlines() if _requirement_name(line) not in named]
    text = user.decode().rstrip("\n")
    return "\n".join([text, *added]).lstrip("\n").encode() + b"\n"


def merged_package_json(user: bytes, shim: bytes) -> bytes:
    """The user's package.json, with the shim's entry point and any dependency it lacks.

    `main` is the shim's: the Functions host loads it, and it loads the manifest's handler.
    """
    package = dependencies.package_json(user)
    ours = json.loads(shim)
    package["main"] = ours["main"]
    package["dependencies"] = {**ours.get("dependencies", {}), **package.get("dependencies", {})}
    return (json.dumps(package, indent=2) + "\n").encode()


MERGED: dict[str, Callable[[bytes, bytes], bytes]] = {
    "package.json": merged_package_json,
    "requirements.txt": merged_requirements,
}
"""Shim files merged into the user's own copy instead of refused as a clash."""


def _requirement_name(line: str) -> str:
    """`Azure_Functions >= 1.0  # note` names `azure-functions`; blank and comment lines nothing."""
    bare = line.split("#", 1)[0].strip()
    name = re.split(r"[\s\[<>=!~;@]", bare, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _route_prefix(host_json: Path) -> str:
    """The HTTP route prefix host.json sets: routes are served under `https://<host>/<it>`."""
    try:
        host = json.loads(host_json.read_text())
    except (OSError, ValueError):
        return DEFAULT_ROUTE_PREFIX
    http = host.get("extensions", {}).get("http", {}) if isinstance(host, dict) else {}
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX) if isinstance(http, dict) else None
    return str(prefix).strip("/") if prefix is not None else DEFAULT_ROUTE_PREFIX


def _declare(  # noqa: PLR0913  # a deployment is all of these parts
    request: ApplyRequest,
    *,
    target: StackTarget,
    package: _Package,
    environment: Mapping[str, EnvValue],
    web_pubsub_sku: str,
    publisher: tuple[str, str],
    webpubsub_token: str | None,
) -> None:
    spec = request.spec
    name = spec.name
    options = azure_common.azure_options(spec)
    tags = azure_common.deployment_tags(spec, request.revision)
    existing_group = options.get("resourceGroup")
    group_name = str(existing_group or azure_common.logical_name(name, "rg"))
    suffix = azure_common.unique_suffix(spec, resource_group=group_name)
    group: pulumi.Input[str] = group_name
    if not existing_group:
        group = resources.ResourceGroup(
            azure_common.logical_name(name, "rg"),
            resource_group_name=group_name,
            location=target.region,
            tags=tags,
        ).name
    place = azure_functions.Place(resource_group=group, location=target.region, tags=tags)
    plan_option = str(options.get("plan", "consumption"))
    store = azure_functions.package_storage(
        name,
        place=place,
        account_name=azure_common.storage_account_name(spec, suffix=suffix),
        package=package.info.path,
        digest=package.info.sha256_hex,
        flex=plan_option == "flex",
    )
    component = azure_functions.insights(name, place=place)
    plan = azure_functions.service_plan(name, place=place, plan=plan_option)
    app = azure_functions.function_app(
        spec,
        place=place,
        app_name=f"{name}-{suffix}",
        plan=plan,
        plan_option=plan_option,
        storage_=store,
    )
    grants = azure_functions.storage_grants(name, app=app, storage_=store)
    # Secret values are wrapped here, inside the run: Pulumi encrypts them in the state file
    # and masks them in diffs; they never reach a command line or the stack config.
    settings: dict[str, pulumi.Input[str]] = {
        key: pulumi.Output.secret(env.value) if env.secret else env.value
        for key, env in environment.items()
    }
    pubsub = None
    if spec.kind is ApiKind.WEBSOCKET:
        if webpubsub_token is None:  # program() refuses this first
            raise PermanentError(f"deployment {name}: no Web PubSub token")
        pubsub = azure_pubsub.web_pubsub(
            name,
            place=place,
            service_name=f"{name}-wps-{suffix}",
            hub_name=azure_common.hub_name(spec),
            app=app,
            route_prefix=package.route_prefix,
            token=webpubsub_token,
            sku=web_pubsub_sku,
        )
        settings |= pubsub.settings
        grants += pubsub.grants
    language, _ = azure_common.RUNTIME_STACKS[spec.function.runtime]
    azure_functions.app_settings(
        name,
        place=place,
        app=app,
        plan_option=plan_option,
        language=language,
        storage_=store,
        component=component,
        settings=settings,
        depends_on=grants,
        package_digest=package.info.sha256_hex,
    )
    prefix = f"/{package.route_prefix}" if package.route_prefix else ""
    app_url = pulumi.Output.concat("https://", app.host, prefix)
    endpoint = app_url if pubsub is None else pubsub.endpoint
    if options.get("gateway") == "apim":
        gateway = azure_apim.Settings.of(options.get("apim") or {})
        apim = azure_apim.service(
            name,
            place=place,
            service_name=f"{name}-apim-{suffix}",
            publisher=publisher,
            settings=gateway,
        )
        if pubsub is None:
            endpoint = azure_apim.rest_api(
                spec, place=place, apim=apim, backend_url=app_url, settings=gateway
            )
        else:
            endpoint = azure_apim.websocket_api(
                spec, place=place, apim=apim, service_url=pubsub.service_url, settings=gateway
            )
    pulumi.export(OUTPUT_ENDPOINT, endpoint)
    pulumi.export(OUTPUT_FINGERPRINT, request.fingerprint.value)
    pulumi.export(OUTPUT_REVISION, request.revision.sha)
    pulumi.export(OUTPUT_DEPLOYMENT, name)
    pulumi.export("location", target.region)
    pulumi.export("resourceGroup", group)
    pulumi.export("functionAppName", app.app.name)
    pulumi.export("packageBlob", store.package.name)
