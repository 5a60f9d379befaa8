"""Run an inline Pulumi program against `pulumi.runtime.set_mocks`: the real SDKs, no CLI, no cloud.

No provider logic runs under mocks, so `AwsMocks` plays AWS's part: it echoes inputs and adds
the computed outputs our programs read (ARNs, ids, endpoints), in the wire's camelCase names.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from reconciler.adapters.dependencies import Target
from reconciler.domain.values import DeploymentSpec, Fingerprint, Revision
from reconciler.manifest.loader import parse_text
from reconciler.ports import ApplyRequest

ACCOUNT = "123456789012"
REGION = "eu-west-1"
API_ID = "a1b2c3d4e5"
DOMAIN_TARGET = "d-abc123.execute-api.eu-west-1.amazonaws.com"


@dataclass(frozen=True)
class Created:
    """One resource the program registered: its type token, logical name and inputs."""

    type: str
    name: str
    inputs: dict[str, Any]
    """Wire names (camelCase); a secret value is still wrapped, see `is_secret`."""
    id: str
    depends_on: frozenset[str] = frozenset()
    """Logical names of the resources it waits for, by reference or by `depends_on`."""


class AwsMocks(pulumi.runtime.Mocks):
    """Answers resource registrations as AWS would, recording each one."""

    def __init__(self, *, region: str = REGION) -> None:
        self.region = region
        self.created: list[Created] = []
        self.dependencies: dict[str, frozenset[str]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id, computed = self.computed(args.typ, args.name, args.inputs)
        outputs = {**args.inputs, **computed}
        depends_on = self.dependencies.get(args.name, frozenset())
        self.created.append(
            Created(args.typ, args.name, dict(args.inputs), resource_id, depends_on)
        )
        return resource_id, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise AssertionError(f"the program made an unexpected call: {args.token}")

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{ACCOUNT}:{resource}"

    def computed(self, token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The id and the outputs AWS would compute; ids are names where AWS uses names."""
        match token:
            case "aws:iam/role:Role":
                physical = inputs.get("name") or f"{name}-1a2b3c4"  # what autonaming would pick
                return physical, {
                    "name": physical,
                    "arn": f"arn:aws:iam::{ACCOUNT}:role/{physical}",
                }
            case "aws:lambda/function:Function":
                arn = self.arn("lambda", f"function:{inputs['name']}")
                path = f"path/2015-03-31/functions/{arn}/invocations"
                invoke = f"arn:aws:apigateway:{self.region}:lambda:{path}"
                return inputs["name"], {"arn": arn, "invokeArn": invoke}
            case "aws:apigatewayv2/api:Api":
                scheme = "wss" if inputs["protocolType"] == "WEBSOCKET" else "https"
                host = f"{API_ID}.execute-api.{self.region}.amazonaws.com"
                return API_ID, {
                    "apiEndpoint": f"{scheme}://{host}",
                    "executionArn": self.arn("execute-api", API_ID),
                }
            case "aws:cloudwatch/logGroup:LogGroup":
                return inputs["name"], {"arn": self.arn("logs", f"log-group:{inputs['name']}")}
            case "aws:apigatewayv2/domainName:DomainName":
                configuration = {
                    **inputs["domainNameConfiguration"],
                    "targetDomainName": DOMAIN_TARGET,
                    "hostedZoneId": "Z2FDTNDATAQYW2",
                }
                return inputs["domainName"], {"domainNameConfiguration": configuration}
        # A stage's id is its name; resources without a name get one made up.
        return str(inputs.get("name") or f"{name}-id"), {}

    # --- the views tests assert on ---------------------------------------------------------

    def of_type(self, token: str) -> list[Created]:
        return [created for created in self.created if created.type == token]

    def one(self, token: str) -> Created:
        found = self.of_type(token)
        assert len(found) == 1, f"expected one {token}, found {len(found)}"
        return found[0]

    def types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for created in self.created:
            counts[created.type] = counts.get(created.type, 0) + 1
        return counts


class _RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also noting each registration's dependencies for the mocks."""

    def __init__(self, mocks: AwsMocks) -> None:
        super().__init__(mocks)
        self.aws = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802  # the gRPC method's name
        names = frozenset(urn.split("::")[-1] for urn in request.dependencies)
        self.aws.dependencies[request.name] = names
        return super().RegisterResource(request)


def is_secret(value: object) -> bool:
    """Whether a recorded input value was marked secret by the program."""
    return rpc.is_rpc_secret(value)


def reveal(value: object) -> object:
    """A recorded input value with its secret wrapper, if any, taken off."""
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


def run(program: Callable[[], None], mocks: AwsMocks, *, stack: str = "orders") -> dict[str, Any]:
    """Run `program` under `mocks` and return its stack outputs, resolved."""
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project="reconciler", stack=stack, preview=False, monitor=monitor
    )
    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def execute() -> pulumi.Output[None]:
        program()
        root = pulumi.runtime.get_root_resource()  # the Stack that set_mocks made
        outputs = root.outputs  # type: ignore[union-attr]
        return pulumi.Output.all(**outputs).apply(exported.update)

    execute()
    return exported


class _LoopPerCallExecutor(ThreadPoolExecutor):
    """Runs each call with an event loop of its own, closed after it.

    The SDK sends every registration to the mock monitor on an executor thread, where
    `_ensure_event_loop` creates a loop it never closes; a loop already set is used instead,
    and closing it here keeps unclosed-loop warnings (errors, in this suite) away.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def call() -> Any:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                return fn(*args, **kwargs)
            finally:
                asyncio.set_event_loop(None)
                loop.close()

        return super().submit(call)


def isolated_runtime() -> Iterator[None]:
    """A fresh event loop and Pulumi settings for one test, and nothing left running after it.

    Resource registration queues work on the current loop; left there, it would run in the next
    test (stelvio's conftest does the same).
    """
    loop = asyncio.new_event_loop()
    loop.set_default_executor(_LoopPerCallExecutor(max_workers=4))
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)
        pulumi.runtime.reset_options()


# --- shared by the AWS and Azure program tests -------------------------------------------------

REVISION = Revision("0123456789abcdef0123456789abcdef01234567")
FINGERPRINT = Fingerprint("f" * 64)
SECRET_VALUE = "hunter2-do-not-log"  # noqa: S105  # a made-up secret to look for


def parse(text: str, *, block: str, options: Mapping[str, Any]) -> DeploymentSpec:
    """The spec of `text`, with `spec.<block>` set to `options` (camelCase keys) when given."""
    if options:
        text += f"  {block}: " + json.dumps(dict(options)) + "\n"
    loaded = parse_text(text, file="m.yaml", location=PurePosixPath("manifests/m.yaml"))
    assert loaded.errors == []
    return loaded.manifests[0].spec


def request_for(spec: DeploymentSpec, source: Path, **secrets: str) -> ApplyRequest:
    """An apply request at `REVISION`; secrets default to the one the REST manifests name."""
    resolved = secrets or {"ORDERS_DB": SECRET_VALUE, "UNUSED": "never-read"}
    return ApplyRequest(spec, REVISION, FINGERPRINT, source_dir=source, secrets=resolved)


class RecordedInstalls:
    """Stands in for `dependencies.install` (tested for real in test_dependencies.py).

    Records each call with the files the staged source held then, and writes `MARKER` where
    the dependencies go, so a test can see the zip was built after the install and from where.
    """

    MARKER = "installed-dependency.txt"

    def __init__(self) -> None:
        self.calls: list[tuple[Target, dict[str, bytes]]] = []

    def __call__(self, staging: Path, target: Target) -> None:
        files = {
            path.relative_to(staging).as_posix(): path.read_bytes()
            for path in staging.rglob("*")
            if path.is_file()
        }
        self.calls.append((target, files))
        folder = staging / (
            target.python_path if target.runtime.language == "python" else "node_modules"
        )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / self.MARKER).write_text("installed\n")
