"""One tick of the loop: read Git at its tip, decide per deployment, act, record, report.

Called by the daemon on its schedule and by `reconciler run --once`. A tick never raises for
one deployment's sake: a broken manifest or a failed apply is that deployment's status, and the
others go on. When Git has not moved and no retry or resync is due, a tick does no work at
all; when it has, a tick decides only on the deployments whose manifest or source moved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from reconciler.application import apply, removal
from reconciler.application.apply import Outcome
from reconciler.application.desired import Snapshot, Wanted
from reconciler.application.services import Services
from reconciler.domain.model import Deployment
from reconciler.domain.planning import Action, Decision, decide
from reconciler.domain.status import Phase, can_transition
from reconciler.domain.values import Fingerprint, Revision
from reconciler.manifest.errors import ManifestError
from reconciler.ports import PermanentError, TransientError

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class TickReport:
    """What one tick saw and did."""

    revision: Revision | None
    outcomes: list[Outcome] = field(default_factory=list)
    idle: bool = False
    """Git had not moved and nothing was due: no deployment was looked at."""
    error: str | None = None
    """Why the tick could not read Git, when it could not."""


@dataclass(slots=True)
class _Job:
    name: str
    decision: Decision
    record: Deployment
    wanted: Wanted | None = None
    rejected_file: str | None = None


class Reconciler:
    """Runs ticks; one instance per repository, shared by the scheduler's jobs."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._last_revision: Revision | None = None
        self._last_inputs: _Inputs | None = None
        self._wake_at: datetime | None = None

    def lock(self, name: str) -> threading.Lock:
        """The lock that keeps two jobs from working on one deployment at once."""
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    def tick(self) -> TickReport:
        """Reconcile every deployment against the tip of the tracked branch."""
        services = self.services
        try:
            revision = services.source.current_revision()
        except (TransientError, PermanentError) as exc:
            log.warning("source_unavailable", error=str(exc))
            return TickReport(revision=None, error=str(exc))
        now = services.clock.now()
        if revision == self._last_revision and (self._wake_at is None or now < self._wake_at):
            return TickReport(revision=revision, idle=True)
        started = time.monotonic()
        snapshot = services.reader.read(revision)
        inputs = _inputs(snapshot)
        due = self._wake_at is not None and now >= self._wake_at
        if inputs == self._last_inputs and not due:
            # Git moved, but no manifest or function source did: nothing to decide.
            self._last_revision = revision
            return TickReport(revision=revision, idle=True)
        # A due retry or resync, a restart or a changed rejection looks at everything; otherwise
        # only the deployments whose inputs moved: the others were decided on when theirs did.
        scope = None if due else _moved(self._last_inputs, inputs)
        jobs = self._plan(snapshot, now=now, scope=scope)
        outcomes = self._run(jobs, snapshot)
        self._last_revision = revision
        self._last_inputs = inputs
        # The handlers updated each job's record in place: no second read of the store.
        # Outside the scope a retry may still be pending: waking early only means a full tick.
        known = [now + services.settings.resync] if scope is None else [self._wake_at]
        retry = _earliest_retry([job.record for job in jobs])
        self._wake_at = min((at for at in [*known, retry] if at is not None), default=None)
        log.info(
            "tick",
            revision=revision.short,
            deployments=len(snapshot.wanted),
            rejected_files=len(snapshot.rejected),
            acted=sum(outcome.result not in {"skipped", "in-sync"} for outcome in outcomes),
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        return TickReport(revision=revision, outcomes=outcomes)

    def forget_revision(self) -> None:
        """Make the next tick look at every deployment, even if Git has not moved."""
        self._last_revision = None
        self._last_inputs = None

    # --- planning -------------------------------------------------------------------------

    def _plan(self, snapshot: Snapshot, *, now: datetime, scope: set[str] | None) -> list[_Job]:
        """A job per deployment in `scope` (every one the store or Git knows, when None)."""
        services = self.services
        store = services.store
        if scope is None:
            records = {record.name: record for record in store.load_all()}
        else:
            records = {name: record for name in scope if (record := store.load(name))}
        jobs: list[_Job] = []
        for name, wanted in snapshot.wanted.items():
            if scope is not None and name not in scope:
                continue
            record = records.get(name) or Deployment(name=name)
            decision = decide(
                desired=wanted.desired,
                record=records.get(name),
                now=now,
                policy=services.settings.retry,
            )
            jobs.append(_Job(name, decision, record, wanted))
        if scope is None:  # a scoped tick has the same rejections as the last one
            for file, errors in snapshot.rejected.items():
                jobs.extend(self._rejections(file, errors, records, snapshot))
        planned = {job.name for job in jobs}
        for name, record in records.items():
            if name not in planned:
                decision = decide(
                    desired=None, record=record, now=now, policy=services.settings.retry
                )
                jobs.append(_Job(name, decision, record, None))
        destroys = any(job.decision.action is Action.DESTROY for job in jobs)
        # The guard counts every live deployment, in scope or not.
        every = store.load_all() if destroys and scope is not None else records.values()
        return self._refuse_mass_destroy(
            jobs, live=sum(record.applied_revision is not None for record in every)
        )

    @staticmethod
    def _rejections(
        file: str, errors: list[ManifestError], records: dict[str, Deployment], snapshot: Snapshot
    ) -> list[_Job]:
        """A job per deployment the broken file held; a placeholder record when none is known."""
        owners = [
            record
            for record in records.values()
            if record.manifest_path == file and record.name not in snapshot.wanted
        ]
        if not owners:
            owners = [records.get(file) or Deployment(name=file, manifest_path=file)]
        decision = Decision(Action.SKIP, "ManifestRejected", str(errors[0]))
        return [_Job(record.name, decision, record, rejected_file=file) for record in owners]

    def _refuse_mass_destroy(self, jobs: list[_Job], *, live: int) -> list[_Job]:
        destroys = [job for job in jobs if job.decision.action is Action.DESTROY]
        limit = self.services.settings.max_destroy
        if destroys and (len(destroys) > limit or len(destroys) == live):
            names = sorted(job.name for job in destroys)
            log.error(
                "destroy_refused",
                deployments=names,
                limit=limit,
                reason="too many at once"
                if len(destroys) > limit
                else "it would remove every deployment",
            )
            refused = Decision(
                Action.SKIP, "DestroyRefused", "too many deployments would be destroyed at once"
            )
            for job in destroys:
                job.decision = refused
        return jobs

    # --- acting ---------------------------------------------------------------------------

    def _run(self, jobs: list[_Job], snapshot: Snapshot) -> list[Outcome]:
        workers = self.services.settings.concurrency
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            futures = [pool.submit(self._act, job, snapshot) for job in jobs]
            return [future.result() for future in futures]

    def _act(self, job: _Job, snapshot: Snapshot) -> Outcome:
        structlog.contextvars.bind_contextvars(
            deployment=job.name, revision=snapshot.revision.short
        )
        started = time.monotonic()
        try:
            with self.lock(job.name):
                outcome = self._dispatch(job, snapshot)
        except Exception as exc:  # The tick boundary: one deployment never stops the rest.
            log.exception("reconcile_crashed", deployment=job.name)
            outcome = Outcome(job.name, "crashed", type(exc).__name__, str(exc))
        finally:
            structlog.contextvars.unbind_contextvars("deployment", "revision")
        log.info(
            "reconciled",
            deployment=job.name,
            decision=job.decision.action,
            reason=job.decision.reason,
            outcome=outcome.result,
            phase=job.record.phase,
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        return outcome

    def _dispatch(self, job: _Job, snapshot: Snapshot) -> Outcome:
        services, decision, record = self.services, job.decision, job.record
        if job.rejected_file is not None:
            errors = snapshot.rejected[job.rejected_file]
            return removal.reject(services, record, file=job.rejected_file, errors=errors)
        if decision.action is Action.APPLY:
            assert job.wanted is not None  # noqa: S101  # decide applies only what Git asks for
            return apply.apply(
                services, record, job.wanted, revision=snapshot.revision, reason=decision.reason
            )
        if decision.action is Action.DESTROY:
            return removal.destroy(services, record)
        if decision.action is Action.STALL:
            record.stall(reason=decision.reason, message=decision.message, now=services.clock.now())
            services.commit(record)
            return Outcome(job.name, "stalled", decision.reason, decision.message)
        if decision.reason == "Suspended" and can_transition(record.phase, Phase.SUSPENDED):
            record.suspend()
            services.commit(record)
        if decision.reason == "NotDeployed" and services.store.load(record.name) is not None:
            # Never live and no manifest any more (a fixed or removed broken file): forget it.
            services.store.delete(record.name)
        result = "in-sync" if decision.reason == "InSync" else "skipped"
        return Outcome(job.name, result, decision.reason, decision.message)


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Everything a tick decides from: each deployment's fingerprint, and each rejection."""

    wanted: dict[str, Fingerprint]
    rejected: dict[str, list[str]]


def _inputs(snapshot: Snapshot) -> _Inputs:
    return _Inputs(
        wanted={name: wanted.fingerprint for name, wanted in snapshot.wanted.items()},
        rejected={
            path: [str(error) for error in errors] for path, errors in snapshot.rejected.items()
        },
    )


def _moved(before: _Inputs | None, now: _Inputs) -> set[str] | None:
    """The deployments whose inputs differ; None when the whole picture must be looked at."""
    if before is None or before.rejected != now.rejected:
        return None
    old, new = before.wanted, now.wanted
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


def _earliest_retry(records: Sequence[Deployment]) -> datetime | None:
    times = [
        record.next_attempt_at
        for record in records
        if record.phase is Phase.FAILED and record.next_attempt_at is not None
    ]
    return min(times, default=None)
