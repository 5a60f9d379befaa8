"""`PulumiEngine` with the real Pulumi CLI: a `file://` backend, a program that declares nothing.

No cloud and no provider plugin are needed: the program only exports its outputs. Skipped where
the CLI is not installed; it runs wherever `pulumi` (3.181 or newer) is on PATH.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest
from builders import make_fingerprint, make_revision, make_spec

from reconciler.adapters.pulumi.command import WatchdogCommand
from reconciler.adapters.pulumi.engine import PulumiEngine
from reconciler.adapters.pulumi.program import StackTarget
from reconciler.domain.values import DeploymentSpec, Provider
from reconciler.ports import ApplyRequest, LiveState

pytestmark = pytest.mark.skipif(
    shutil.which("pulumi") is None,
    reason="the Pulumi CLI is not installed on this machine; this test runs where it is",
)

SECRET = "real-cli-secret-3e1"  # noqa: S105  # a marker to search for


class ExportsOnly:
    """A builder whose program exports the engine's outputs and one secret, and nothing else."""

    provider = Provider.AWS
    program_version = "exports-only/1"
    plugins: tuple[tuple[str, str], ...] = ()

    def targets(self, spec: DeploymentSpec) -> list[StackTarget]:
        """One stack, with no config: no provider is ever loaded."""
        return [StackTarget(stack=spec.name, config={}, region="nowhere-1")]

    def program(
        self, request: ApplyRequest, *, target: StackTarget, workdir: Path
    ) -> Callable[[], None]:
        """Exports only."""

        def program() -> None:
            pulumi.export("endpoint", f"https://{target.stack}.example.invalid")
            pulumi.export("revision", request.revision.sha)
            pulumi.export("fingerprint", request.fingerprint.value)
            pulumi.export("deployment", request.spec.name)
            pulumi.export("token", pulumi.Output.secret(request.secrets["token"]))

        return program


class RecordingCommand(WatchdogCommand):
    """The real CLI, with every argv kept."""

    def __init__(self) -> None:
        super().__init__(timeout=300)
        self.runs: list[list[str]] = []

    def run(self, args: list[str], cwd: str, additional_env: Mapping[str, str], *rest: Any) -> Any:
        """Keep the argv, then run the CLI."""
        self.runs.append(list(args))
        return super().run(args, cwd, additional_env, *rest)

    def ups(self) -> int:
        """How many `pulumi up` ran."""
        return sum(1 for args in self.runs if "up" in args)


def test_apply_then_a_no_op_apply_then_describe_drift_and_destroy(tmp_path: Path):
    state = tmp_path / "state"
    command = RecordingCommand()
    engine = PulumiEngine(
        ExportsOnly(), state_dir=state, command=command, env={"PULUMI_CONFIG_PASSPHRASE": ""}
    )
    request = ApplyRequest(
        spec=make_spec(),
        revision=make_revision("real"),
        fingerprint=make_fingerprint("real"),
        source_dir=tmp_path,
        secrets={"token": SECRET},
    )

    result = engine.apply(request)
    assert result.endpoint == "https://orders.example.invalid"
    assert result.outputs["revision"] == request.revision.sha
    assert "token" not in result.outputs
    assert command.ups() == 1

    assert engine.plan(request).is_empty
    engine.apply(request)
    assert command.ups() == 1, "no change: no up"

    assert engine.describe("orders") == LiveState(
        name="orders",
        endpoint="https://orders.example.invalid",
        revision=request.revision,
        fingerprint=request.fingerprint,
    )
    assert engine.detect_drift("orders") == ()
    assert not any(SECRET in arg for args in command.runs for arg in args)

    engine.destroy("orders")
    assert engine.describe("orders") is None
    assert not (state / "pulumi" / "aws" / "orders").exists()
