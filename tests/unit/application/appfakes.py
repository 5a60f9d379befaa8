"""Small working fakes of our ports, for unit tests of the use cases (no I/O, no processes)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.domain.changes import Plan
from reconciler.domain.drift import DriftFinding
from reconciler.domain.events import DomainEvent
from reconciler.domain.model import Deployment
from reconciler.domain.values import Revision
from reconciler.ports import (
    ApplyRequest,
    ApplyResult,
    CommitInfo,
    HistoryEntry,
    LiveState,
    ManifestFile,
)

MANIFEST = """\
apiVersion: reconciler/v1
kind: RestApi
metadata: {{name: {name}}}
spec:
  provider: local
  function: {{runtime: python3.11, handler: app.handler, source: ../functions/{name}}}
  routes: ["GET /"]
  policy: {{prune: {prune}, suspend: {suspend}, drift: {drift}}}
"""


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


class FakeSource:
    """A repository as a list of snapshots ({path: text}), newest last."""

    def __init__(self) -> None:
        self.commits: list[tuple[Revision, dict[str, str], str]] = []

    def push(self, files: Mapping[str, str], message: str = "change") -> Revision:
        revision = Revision(_sha(f"{len(self.commits)}{message}{sorted(files.items())}"))
        self.commits.append((revision, dict(files), message))
        return revision

    def files(self, revision: Revision) -> dict[str, str]:
        return next(files for rev, files, _ in self.commits if rev == revision)

    def current_revision(self) -> Revision:
        return self.commits[-1][0]

    def manifests_at(self, revision: Revision) -> Sequence[ManifestFile]:
        return [
            ManifestFile(path, _sha(text), len(text.encode()))
            for path, text in sorted(self.files(revision).items())
            if path.startswith("manifests/") and path.endswith(".yaml")
        ]

    def read(self, blob_id: str) -> bytes:
        for _, files, _ in self.commits:
            for text in files.values():
                if _sha(text) == blob_id:
                    return text.encode()
        raise KeyError(blob_id)

    def tree_ids(self, revision: Revision, paths: Collection[str]) -> Mapping[str, str | None]:
        files = self.files(revision)
        found: dict[str, str | None] = {}
        for folder in paths:
            inside = sorted((p, t) for p, t in files.items() if p.startswith(folder + "/"))
            found[folder] = _sha(repr(inside)) if inside else None
        return found

    def changed_paths(self, old: Revision, new: Revision) -> frozenset[str]:
        before, after = self.files(old), self.files(new)
        return frozenset(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))

    def commits_between(self, old: Revision | None, new: Revision) -> Sequence[CommitInfo]:
        return []

    def commit(self, revision: Revision) -> CommitInfo:
        return CommitInfo(
            revision, (), "Test <t@example.com>", datetime(2026, 1, 1, tzinfo=UTC), "change"
        )

    def export_tree(self, revision: Revision, path: str, destination: Path) -> None:
        """Nothing to write: the fake engine never reads the folder."""

    def restore(self, paths: Collection[str], *, to: Revision, message: str) -> Revision:
        raise NotImplementedError


@dataclass
class FakeEngine:
    """Applies instantly and remembers; `failures` raises its errors in order, one per apply."""

    program_version: str = "fake/1"
    applied: list[str] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    drift: dict[str, tuple[DriftFinding, ...] | Exception] = field(default_factory=dict)
    drift_checks: list[str] = field(default_factory=list)

    def plan(self, request: ApplyRequest) -> Plan:
        return Plan()

    def apply(self, request: ApplyRequest) -> ApplyResult:
        if self.failures:
            raise self.failures.pop(0)
        self.applied.append(request.spec.name)
        self.drift.pop(request.spec.name, None)  # Applying makes live match again.
        return ApplyResult(endpoint=f"http://fake/{request.spec.name}")

    def detect_drift(self, name: str) -> tuple[DriftFinding, ...]:
        self.drift_checks.append(name)
        found = self.drift.get(name, ())
        if isinstance(found, Exception):
            raise found
        return found

    def destroy(self, name: str) -> None:
        self.destroyed.append(name)

    def describe(self, name: str) -> LiveState | None:
        return None


class MemoryStore:
    """The store, in dictionaries; records are copied so tests see only what was saved."""

    def __init__(self) -> None:
        self.records: dict[str, Deployment] = {}
        self.entries: list[HistoryEntry] = []
        self.events: list[DomainEvent] = []
        self.findings: dict[str, list[DriftFinding]] = {}

    def load(self, name: str) -> Deployment | None:
        record = self.records.get(name)
        return _copy(record) if record else None

    def load_all(self) -> Sequence[Deployment]:
        return [_copy(self.records[name]) for name in sorted(self.records)]

    def save(self, deployment: Deployment) -> None:
        self.records[deployment.name] = _copy(deployment)

    def delete(self, name: str) -> None:
        self.records.pop(name, None)

    def append_history(self, entry: HistoryEntry) -> None:
        self.entries.append(entry)

    def history(self, name: str, *, limit: int = 50) -> Sequence[HistoryEntry]:
        return [e for e in reversed(self.entries) if e.deployment == name][:limit]

    def append_events(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)

    def save_drift(
        self, name: str, findings: Sequence[DriftFinding], *, checked_at: datetime
    ) -> None:
        self.findings[name] = list(findings)

    def drift(self, name: str) -> Sequence[DriftFinding]:
        return self.findings.get(name, [])


def _copy(record: Deployment) -> Deployment:
    return copy.deepcopy(record)


class ListPublisher:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.published.extend(events)


@dataclass
class ManualClock:
    current: datetime = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class HealthyProbe:
    def check(self, url: str, *, expect_status: int, timeout: float) -> str | None:
        return None


class NoSecrets:
    def resolve(self, names: Collection[str]) -> dict[str, str]:
        return {}


def repository(
    *names: str,
    prune: bool = False,
    suspend: bool = False,
    version: str = "v1",
    drift: str = "report",
) -> dict[str, str]:
    """Files of a repository holding one manifest and one function per name."""
    files: dict[str, str] = {}
    for name in names:
        files[f"manifests/{name}.yaml"] = MANIFEST.format(
            name=name, prune=str(prune).lower(), suspend=str(suspend).lower(), drift=drift
        )
        files[f"functions/{name}/app.py"] = f"def handler(e, c):\n    return '{version}'\n"
    return files
