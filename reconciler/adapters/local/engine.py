"""`LocalEngine`: the `Engine` port for `provider: local`, backed by the local cloud host.

It copies each version's source into its own folder with its dependencies beside it
(`version_folder`), registers it with the host (which switches traffic only once the new version
is ready), keeps a record of what it applied, and compares that record with what the host serves
to find drift.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler.adapters import dependencies
from reconciler.adapters.local import snapshot, version_folder
from reconciler.adapters.local.cloud import AdminClient, LocalCloud
from reconciler.adapters.local.registration import (
    CorsBody,
    Function,
    Gateway,
    LiveDeployment,
    Registration,
)
from reconciler.adapters.local.vault import Vault
from reconciler.domain.changes import Change, ChangeAction, Plan
from reconciler.domain.drift import DriftFinding
from reconciler.domain.values import ApiKind, DeploymentSpec, Fingerprint, Revision, SecretRef
from reconciler.ports import ApplyRequest, ApplyResult, LiveState, PermanentError

PROGRAM_VERSION = "local/1"
"""Part of every fingerprint: bump it when what the engine does with a spec changes."""

APPLIED_FILE = "applied.json"


class LocalEngine:
    """Deploys, inspects and removes deployments on the local cloud of one state dir."""

    program_version = PROGRAM_VERSION

    def __init__(
        self,
        state_dir: Path,
        *,
        cloud: LocalCloud | None = None,
        install: dependencies.Installer = dependencies.install,
    ) -> None:
        """`install` puts a version's dependencies beside its code (`version_folder`)."""
        self._install = install
        self.cloud = cloud or LocalCloud(state_dir)
        self.paths = self.cloud.paths
        self.vault = Vault(self.paths.key_file)

    # --- Engine ---------------------------------------------------------------------------

    def plan(self, request: ApplyRequest) -> Plan:
        """The changes an apply would make, by manifest path; host not running: create all."""
        live = self._live(request.spec.name)
        if live is None:
            return Plan(
                (Change("function", ChangeAction.CREATE), Change("gateway", ChangeAction.CREATE))
            )
        registration = self._registration(
            request, version="", code_dir="", code_digest=snapshot.tree_digest(request.source_dir)
        )
        desired = _snapshot_of(
            registration, secret_digests=self.vault.digests(registration.secrets)
        )
        # No port in the manifest means "keep the one it has": the live port is no difference.
        port = live.port if registration.port is not None else None
        current = _live_snapshot(live, code_digest=live.function.code_digest, port=port)
        return _plan(snapshot.differences(desired, current))

    def apply(self, request: ApplyRequest) -> ApplyResult:
        """Register the version of `request`; on failure the previous version keeps serving."""
        name = request.spec.name
        digest = snapshot.tree_digest(request.source_dir)
        if digest is None:
            raise PermanentError(f"function source {request.source_dir} does not exist")
        version = f"{request.revision.short}-{digest[:8]}"
        code_dir = version_folder.build(
            self.paths.deployment_dir(name) / "versions",
            version,
            source=request.source_dir,
            digest=digest,
            runtime=request.spec.function.runtime,
            install=self._install,
        )
        registration = self._registration(
            request, version=version, code_dir=str(code_dir), code_digest=digest
        )
        previous = self._recorded(name)
        with self.cloud.started_client() as client:
            live = client.put(registration)
        self._record(live)
        keep = {version} | ({previous.version} if previous else set())
        self._prune(name, keep=keep)
        return ApplyResult(
            endpoint=live.endpoint, outputs={"port": str(live.port), "version": version}
        )

    def detect_drift(self, name: str) -> tuple[DriftFinding, ...]:
        """Compare the recorded applied state with what the host serves and what is on disk."""
        recorded = self._recorded(name)
        if recorded is None:
            return ()
        client = self.cloud.client()
        if client is None:
            return (
                DriftFinding("deployment", "deployment", "serving", "local cloud host not running"),
            )
        with client:
            live = client.get(name)
        if live is None:
            return (DriftFinding("deployment", "deployment", "serving", "not registered"),)
        on_disk = snapshot.tree_digest(Path(live.function.code_dir))
        found = snapshot.differences(
            _live_snapshot(recorded, code_digest=recorded.function.code_digest, port=recorded.port),
            _live_snapshot(live, code_digest=on_disk, port=live.port),
        )
        return tuple(
            DriftFinding(
                resource=snapshot.resource_of(difference.path),
                path=difference.path,
                desired=difference.desired,
                live=difference.live,
                secret=difference.secret,
            )
            for difference in found
        )

    def destroy(self, name: str) -> None:
        """Unregister `name`, free its port and remove its files."""
        client = self.cloud.client()
        if client is not None:
            with client:
                client.delete(name)
        shutil.rmtree(self.paths.deployment_dir(name), ignore_errors=True)

    def describe(self, name: str) -> LiveState | None:
        """What the host serves for `name`, or None."""
        live = self._live(name)
        if live is None:
            return None
        return LiveState(
            name=name,
            endpoint=live.endpoint,
            revision=Revision(live.revision),
            fingerprint=Fingerprint(live.fingerprint),
        )

    # --- internals ------------------------------------------------------------------------

    def _live(self, name: str) -> LiveDeployment | None:
        client: AdminClient | None = self.cloud.client()
        if client is None:
            return None
        with client:
            return client.get(name)

    def _registration(
        self, request: ApplyRequest, *, version: str, code_dir: str, code_digest: str | None
    ) -> Registration:
        spec = request.spec
        function = spec.function
        plain = {k: v for k, v in function.environment if isinstance(v, str)}
        secrets = {
            key: _secret(request, key=key, ref=value)
            for key, value in function.environment
            if isinstance(value, SecretRef)
        }
        cors = spec.gateway.cors
        return Registration(
            name=spec.name,
            kind="RestApi" if spec.kind is ApiKind.REST else "WebSocketApi",
            revision=request.revision.sha,
            fingerprint=request.fingerprint.value,
            version=version,
            function=Function(
                runtime=function.runtime.value,
                handler=function.handler,
                code_dir=code_dir,
                code_digest=code_digest or "",
                memory_mb=function.memory_mb,
                timeout_seconds=function.timeout_seconds,
                environment=plain,
            ),
            gateway=Gateway(
                routes=list(spec.gateway.route_keys),
                route_selection_expression=spec.gateway.route_selection_expression,
                stage=spec.gateway.stage,
                cors=CorsBody.of(cors) if cors else None,
            ),
            port=_requested_port(spec),
            secrets=secrets,
        )

    def _record(self, live: LiveDeployment) -> None:
        folder = self.paths.deployment_dir(live.name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / APPLIED_FILE).write_text(live.model_dump_json(indent=2))

    def _recorded(self, name: str) -> LiveDeployment | None:
        try:
            text = (self.paths.deployment_dir(name) / APPLIED_FILE).read_text()
        except FileNotFoundError:
            return None
        return LiveDeployment.model_validate_json(text)

    def _prune(self, name: str, *, keep: set[str]) -> None:
        versions = self.paths.deployment_dir(name) / "versions"
        for folder in versions.iterdir():
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)


def _secret(request: ApplyRequest, *, key: str, ref: SecretRef) -> str:
    try:
        return request.secrets[ref.name]
    except KeyError:
        raise PermanentError(
            f"environment {key} needs secret {ref.name}, which is not set"
        ) from None


def _requested_port(spec: DeploymentSpec) -> int | None:
    port = spec.provider_options.get("local", {}).get("port")
    return int(port) if port is not None else None


def _snapshot_of(
    registration: Registration, *, secret_digests: dict[str, str]
) -> snapshot.Snapshot:
    return snapshot.snapshot(
        registration.function,
        registration.gateway,
        port=registration.port,
        secret_digests=secret_digests,
        code_digest=registration.function.code_digest or None,
    )


def _live_snapshot(
    live: LiveDeployment, *, code_digest: str | None, port: int | None
) -> snapshot.Snapshot:
    return snapshot.snapshot(
        live.function,
        live.gateway,
        port=port,
        secret_digests=live.secret_digests,
        code_digest=code_digest,
    )


def _plan(found: list[snapshot.Difference]) -> Plan:
    paths: dict[str, list[str]] = {}
    for difference in found:
        paths.setdefault(snapshot.resource_of(difference.path), []).append(difference.path)
    changes = [
        Change(
            resource,
            ChangeAction.REPLACE if "local.port" in resource_paths else ChangeAction.UPDATE,
            tuple(resource_paths),
        )
        for resource, resource_paths in sorted(paths.items())
    ]
    return Plan(tuple(changes))
