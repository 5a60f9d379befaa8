"""Should this deployment be applied now? One pure function, one reason per answer.

`decide` is called once per deployment per tick by `application.reconcile`; it sees only plain
values and `now`, so every branch is tested with a parameter table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.domain.model import Deployment
from reconciler.domain.status import DriftState, Phase
from reconciler.domain.values import DeploymentSpec, DriftPolicy, Fingerprint


class Action(StrEnum):
    """What a tick does with one deployment."""

    APPLY = "apply"
    SKIP = "skip"
    STALL = "stall"
    DESTROY = "destroy"


@dataclass(frozen=True, slots=True)
class Decision:
    """One action, a CamelCase reason for machines and a message for people."""

    action: Action
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Desired:
    """What Git asks for one deployment at the revision being reconciled."""

    spec: DeploymentSpec
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed applies are retried: exponential backoff, then a stall."""

    max_failures: int = 3
    """Failed attempts on the same inputs before the deployment stalls."""
    base_delay: timedelta = timedelta(seconds=10)
    factor: float = 3.0
    max_delay: timedelta = timedelta(hours=1)
    jitter: float = 0.1
    """Each delay moves by up to this fraction either way, so retries do not march in step."""

    def delay(self, failures: int, *, spread: float) -> timedelta:
        """The wait after `failures` failed attempts; `spread` in [-1, 1] picks the jitter."""
        exponent = max(failures - 1, 0)
        seconds = min(
            self.base_delay.total_seconds() * self.factor**exponent,
            self.max_delay.total_seconds(),
        )
        return timedelta(seconds=seconds * (1 + self.jitter * max(-1.0, min(1.0, spread))))


def _apply(reason: str, message: str) -> Decision:
    return Decision(Action.APPLY, reason, message)


def _skip(reason: str, message: str) -> Decision:
    return Decision(Action.SKIP, reason, message)


def decide(  # noqa: PLR0911  # one return per reason is the point
    *, desired: Desired | None, record: Deployment | None, now: datetime, policy: RetryPolicy
) -> Decision:
    """Return what this tick should do for one deployment, and why."""
    if desired is None:
        return _removed(record)
    if desired.spec.policy.suspend:
        return _skip("Suspended", "suspended by its manifest")
    if record is None or record.attempted_fingerprint is None:
        return _apply("New", "first apply")
    if record.phase is Phase.SUSPENDED:
        return _apply("Resumed", "suspension lifted")
    if record.phase is Phase.PROGRESSING:
        return _apply("Interrupted", "an apply was interrupted; applying again")
    if desired.fingerprint != record.attempted_fingerprint:
        if record.applied_fingerprint is None:
            return _apply("New", "first apply")
        if record.spec != desired.spec:
            return _apply("SpecChanged", "the manifest changed")
        return _apply("SourceChanged", "the function source changed")
    return _same_inputs(desired, record, now=now, policy=policy)


def _same_inputs(  # noqa: PLR0911  # one return per reason is the point
    desired: Desired, record: Deployment, *, now: datetime, policy: RetryPolicy
) -> Decision:
    """The inputs are those of the latest attempt: in sync, backing off, or stuck."""
    if record.phase is Phase.READY:
        healing = desired.spec.policy.drift is DriftPolicy.HEAL
        if healing and record.drift is DriftState.DRIFTED:
            return _apply("HealDrift", "live drifted and the policy is heal")
        return _skip("InSync", "live matches Git")
    if record.phase is Phase.DEGRADED:
        return _skip("RolledBack", "serving the last good revision until a new commit")
    if record.phase is Phase.STALLED:
        return _skip("Stalled", "stalled until the manifest or the source changes")
    if record.phase is Phase.FAILED:
        if record.failures >= policy.max_failures:
            return Decision(
                Action.STALL,
                "TooManyFailures",
                f"failed {record.failures} times; waiting for a change",
            )
        if record.next_attempt_at is not None and now < record.next_attempt_at:
            return _skip("BackingOff", f"retrying after {record.next_attempt_at.isoformat()}")
        return _apply("Retry", f"retrying after {record.failures} failure(s)")
    return _apply("Pending", "waiting to be applied")


def _removed(record: Deployment | None) -> Decision:
    """The manifest is gone: destroy only what asked to be pruned."""
    if record is None or record.applied_revision is None:
        return _skip("NotDeployed", "manifest removed; nothing was live")
    if record.applied_spec is not None and record.applied_spec.policy.prune:
        return Decision(Action.DESTROY, "ManifestRemoved", "manifest removed and prune is on")
    return _skip("ManifestRemovedKept", "manifest removed; kept live because prune is off")
