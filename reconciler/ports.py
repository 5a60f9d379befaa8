"""The ports: what the application needs from the outside world, in the application's words.

Adapters (`reconciler.adapters`) implement these Protocols; tests use small working fakes.
Adapters report operational failures by raising one of the two errors below, `from` the
third-party exception, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from reconciler.domain.changes import Plan
from reconciler.domain.drift import DriftFinding
from reconciler.domain.events import DomainEvent
from reconciler.domain.model import Deployment
from reconciler.domain.values import DeploymentSpec, Fingerprint, Revision

# --- the two operational errors ---------------------------------------------------------------


class TransientError(Exception):
    """Worth retrying after `retry_after` seconds: network, a locked stack, a timeout."""

    def __init__(self, message: str, *, retry_after: float = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying cannot help until the inputs change: bad credentials, an invalid program."""


# --- values that cross the ports --------------------------------------------------------------

_REVERT_MESSAGE = re.compile(r"This reverts commit ([0-9a-f]{40}|[0-9a-f]{64})\b")


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """One manifest file as of one revision."""

    path: str
    """Repository-relative, `/`-separated."""
    text: str
    blob_id: str
    """Git's object id of the file's content: equal ids, equal content."""


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """What a commit says about itself."""

    revision: Revision
    parents: tuple[Revision, ...]
    author: str
    committed_at: datetime
    message: str

    @property
    def reverts(self) -> Revision | None:
        """The commit this one reverts, from the standard `git revert` message, if any."""
        match = _REVERT_MESSAGE.search(self.message)
        return Revision(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class ApplyRequest:
    """Everything an engine needs to plan or apply one deployment at one revision."""

    spec: DeploymentSpec
    revision: Revision
    fingerprint: Fingerprint
    source_dir: Path
    """The function source as of `revision`, exported from Git."""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Resolved `secretRef` values, by secret name; engines never log or persist them."""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What an apply left live."""

    endpoint: str | None
    outputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LiveState:
    """What an engine reports about a live deployment."""

    name: str
    endpoint: str | None
    revision: Revision | None
    fingerprint: Fingerprint | None


# --- the ports --------------------------------------------------------------------------------


class Engine(Protocol):
    """Makes one provider's live infrastructure match a spec."""

    def plan(self, request: ApplyRequest) -> Plan:
        """Return what `apply(request)` would change; an empty plan when live already matches."""
        ...

    def apply(self, request: ApplyRequest) -> ApplyResult:
        """Make live match `request`; on failure the previous version keeps serving."""
        ...

    def detect_drift(self, name: str) -> tuple[DriftFinding, ...]:
        """Compare the applied state with what is live; empty when nothing drifted."""
        ...

    def destroy(self, name: str) -> None:
        """Remove everything `name` has live; a no-op when nothing is."""
        ...

    def describe(self, name: str) -> LiveState | None:
        """Return what is live for `name`, or None when nothing is."""
        ...


class Source(Protocol):
    """The Git repository of manifests, read at a commit and never from a working tree."""

    def current_revision(self) -> Revision:
        """Fetch if remote, and return the tip of the tracked branch."""
        ...

    def manifests_at(self, revision: Revision) -> Sequence[ManifestFile]:
        """Every manifest file under the manifest path as of `revision`."""
        ...

    def changed_paths(self, old: Revision, new: Revision) -> frozenset[str]:
        """Repository-relative paths that differ between two revisions."""
        ...

    def commit(self, revision: Revision) -> CommitInfo:
        """What `revision` says about itself."""
        ...

    def tree_id(self, revision: Revision, path: str) -> str:
        """Git's object id of the folder `path` as of `revision`: equal ids, equal content."""
        ...

    def export_tree(self, revision: Revision, path: str, destination: Path) -> None:
        """Write the folder `path` as of `revision` into `destination`."""
        ...


class Store(Protocol):
    """Durable records of deployments, their history, drift findings and events."""

    def load(self, name: str) -> Deployment | None:
        """The deployment called `name`, or None if the store has never seen it."""
        ...

    def load_all(self) -> Sequence[Deployment]:
        """Every deployment the store knows."""
        ...

    def save(self, deployment: Deployment) -> None:
        """Write the deployment's status and any history entries not yet stored."""
        ...

    def delete(self, name: str) -> None:
        """Forget the deployment's record; its history and events stay."""
        ...

    def append_events(self, events: Sequence[DomainEvent]) -> None:
        """Keep `events` in the event log."""
        ...

    def save_drift(
        self, name: str, findings: Sequence[DriftFinding], *, checked_at: datetime
    ) -> None:
        """Replace the stored drift findings of `name` with the latest check."""
        ...


class EventPublisher(Protocol):
    """Sends domain events to logs and webhooks; a failing sink never fails a deployment."""

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver `events`, in order."""
        ...


class Clock(Protocol):
    """The time, passed in so decisions stay testable."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...
