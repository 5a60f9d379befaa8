"""The ports: what the application needs from the outside world, in the application's words.

Adapters (`reconciler.adapters`) implement these Protocols; tests use small working fakes.
Adapters report operational failures by raising one of the two errors below, `from` the
third-party exception, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
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
    """One manifest file as of one revision (its content is read separately, by blob id)."""

    path: str
    """Repository-relative, `/`-separated."""
    blob_id: str
    """Git's object id of the file's content: equal ids, equal content."""
    size: int
    """In bytes, known before reading: oversized files are refused unread."""


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
class HistoryEntry:
    """One attempt to change a deployment, and how it ended."""

    deployment: str
    revision: Revision | None
    fingerprint: Fingerprint | None
    outcome: str
    """`applied`, `failed`, `rolled-back`, `destroyed` or `rejected`."""
    reason: str
    message: str
    started_at: datetime
    duration_ms: int
    reverted: Revision | None = None
    """For a rollback: the commit it undid, when known."""
    restored: Revision | None = None
    """For a rollback: the earlier revision whose state it brought back, when known."""


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

    @property
    def program_version(self) -> str:
        """Part of every fingerprint: changes when what the engine makes of a spec changes."""
        ...

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
        """Every `*.yaml`/`*.yml` file under the manifest path as of `revision`, by path."""
        ...

    def read(self, blob_id: str) -> bytes:
        """The content of one blob."""
        ...

    def tree_ids(self, revision: Revision, paths: Collection[str]) -> Mapping[str, str | None]:
        """Git's object id of each folder in `paths` as of `revision`; None where it is absent.

        Equal ids, equal content: a deployment whose source tree id did not change needs no work.
        """
        ...

    def changed_paths(self, old: Revision, new: Revision) -> frozenset[str]:
        """Repository-relative paths of files that differ between two revisions."""
        ...

    def commits_between(self, old: Revision | None, new: Revision) -> Sequence[CommitInfo]:
        """Commits reachable from `new` and not from `old` (at most 100), newest first."""
        ...

    def commit(self, revision: Revision) -> CommitInfo:
        """What `revision` says about itself."""
        ...

    def export_tree(self, revision: Revision, path: str, destination: Path) -> None:
        """Write the folder `path` as of `revision` into `destination` (which exists, empty)."""
        ...

    def restore(self, paths: Collection[str], *, to: Revision, message: str) -> Revision:
        """Commit `paths` as they were at `to` on top of the tracked branch; push when remote.

        Returns the new commit. Paths absent at `to` are removed. Git stays the only source
        of truth: a rollback by command is a commit like any other.
        """
        ...


class Store(Protocol):
    """Durable records of deployments, their history, drift findings and events."""

    def load(self, name: str) -> Deployment | None:
        """The deployment called `name`, or None if the store has never seen it."""
        ...

    def load_all(self) -> Sequence[Deployment]:
        """Every deployment the store knows, by name."""
        ...

    def save(self, deployment: Deployment) -> None:
        """Write the deployment's whole record, replacing the previous one."""
        ...

    def delete(self, name: str) -> None:
        """Forget the deployment's record; its history, drift and events stay."""
        ...

    def append_history(self, entry: HistoryEntry) -> None:
        """Keep one attempt in the history."""
        ...

    def history(self, name: str, *, limit: int = 50) -> Sequence[HistoryEntry]:
        """The latest attempts on `name`, newest first."""
        ...

    def append_events(self, events: Sequence[DomainEvent]) -> None:
        """Keep `events` in the event log."""
        ...

    def save_drift(
        self, name: str, findings: Sequence[DriftFinding], *, checked_at: datetime
    ) -> None:
        """Replace the stored drift findings of `name` with the latest check."""
        ...

    def drift(self, name: str) -> Sequence[DriftFinding]:
        """The findings of the latest drift check of `name`."""
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


class HealthProbe(Protocol):
    """Asks a freshly applied deployment whether it serves."""

    def check(self, url: str, *, expect_status: int, timeout: float) -> str | None:
        """None when `url` answers `expect_status` within `timeout`; otherwise why not."""
        ...


class SecretResolver(Protocol):
    """Where `secretRef` values come from at apply time (the daemon's environment by default)."""

    def resolve(self, names: Collection[str]) -> dict[str, str]:
        """The values of the secrets that exist among `names`; missing ones are left out."""
        ...
