"""Domain events: facts about a deployment, appended by the aggregate, published after saving."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reconciler.domain.drift import DriftFinding
from reconciler.domain.values import Fingerprint, Revision


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened to one deployment at one moment."""

    deployment: str
    occurred_at: datetime

    @property
    def name(self) -> str:
        """The event's type name, as logs and sinks show it."""
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentRequested(DomainEvent):
    """An apply of `revision` was started."""

    revision: Revision
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentSucceeded(DomainEvent):
    """`revision` is live and serving at `endpoint`."""

    revision: Revision
    fingerprint: Fingerprint
    endpoint: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptFailure(DomainEvent):
    """What a failed attempt leaves behind: the revision tried, why it failed, how many times."""

    revision: Revision | None
    reason: str
    message: str
    failures: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentFailed(AttemptFailure):
    """An apply of `revision` failed; the previous revision, if any, still serves."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentStalled(AttemptFailure):
    """Retries stopped until the deployment's inputs change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftDetected(DomainEvent):
    """Live infrastructure stopped matching the applied spec."""

    findings: tuple[DriftFinding, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftResolved(DomainEvent):
    """Live infrastructure matches the applied spec again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackStarted(DomainEvent):
    """A rollback to `to_revision` began.

    `reverted` is the commit being undone and `restored` the earlier applied revision whose
    state comes back, each when known.
    """

    from_revision: Revision | None
    to_revision: Revision
    reverted: Revision | None
    restored: Revision | None = None
    automatic: bool
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackCompleted(DomainEvent):
    """`to_revision` serves again."""

    to_revision: Revision
    reverted: Revision | None
    restored: Revision | None = None
    automatic: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRejected(DomainEvent):
    """The manifest could not be read; `message` carries `file:line:col: field: message`."""

    file: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentDestroyed(DomainEvent):
    """Everything the deployment had live was removed."""

    revision: Revision | None
