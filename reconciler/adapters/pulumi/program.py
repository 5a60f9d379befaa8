"""What the Pulumi engine asks of a provider's programs: its stacks, and one program per stack.

Implemented by `aws.AwsPrograms` (and the Azure programs); used by the Pulumi engine, which runs
each program inline with the Automation API and reads the outputs named here back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.domain.values import DeploymentSpec, Provider, SecretRef
from reconciler.ports import ApplyRequest, PermanentError

Program = Callable[[], None]
"""An inline Pulumi program: declares resources and exports when called inside a Pulumi run."""

# Stack outputs every program exports, so a restarted daemon can read what is applied.
OUTPUT_ENDPOINT = "endpoint"
OUTPUT_FINGERPRINT = "fingerprint"
OUTPUT_REVISION = "revision"
OUTPUT_DEPLOYMENT = "deployment"


@dataclass(frozen=True, slots=True)
class StackTarget:
    """One stack of a deployment: its name, its stack config and the region it lives in."""

    stack: str
    """`orders` for the first region, `orders.eu-west-1` for each further one."""
    config: dict[str, str] = field(hash=False)
    """Plain stack config, such as `{"aws:region": "eu-west-1"}`; never a secret."""
    region: str


class ProgramBuilder(Protocol):
    """Turns an apply request into the stacks to update and the program of each."""

    @property
    def provider(self) -> Provider:
        """The provider whose deployments these programs build."""
        ...

    @property
    def program_version(self) -> str:
        """Part of every fingerprint: changes whenever the resources a spec makes change."""
        ...

    @property
    def plugins(self) -> tuple[tuple[str, str], ...]:
        """Resource plugins the programs need, as `(name, version)`, installed before a run."""
        ...

    def targets(self, spec: DeploymentSpec) -> list[StackTarget]:
        """The stacks of `spec`, the primary region's first."""
        ...

    def program(self, request: ApplyRequest, *, target: StackTarget, workdir: Path) -> Program:
        """Prepare what the program needs under `workdir` (the code package) and return it."""
        ...


@dataclass(frozen=True, slots=True)
class EnvValue:
    """One environment value of a function; a resolved secret is kept out of every repr."""

    value: str = field(repr=False)
    secret: bool = False


def environment(request: ApplyRequest) -> dict[str, EnvValue]:
    """Every variable with its value; secret ones resolved by name. Values never leave here."""
    resolved: dict[str, EnvValue] = {}
    missing: list[str] = []
    for key, value in request.spec.function.environment:
        if not isinstance(value, SecretRef):
            resolved[key] = EnvValue(value, secret=False)
        elif value.name in request.secrets:
            resolved[key] = EnvValue(request.secrets[value.name], secret=True)
        else:
            missing.append(f"{key} needs secret {value.name}")
    if missing:
        raise PermanentError(f"environment of {request.spec.name}: {', '.join(missing)}, not set")
    return resolved
