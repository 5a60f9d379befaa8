"""Applying one deployment: the plain case, a rollback by `git revert`, and the automatic one.

Called by `reconcile` (a new or changed manifest, a retry) and by `drift` (healing). Every path
writes the status and a history entry; a failed apply is a status and an event, never an
exception that escapes: the previous version keeps serving.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from reconciler.application.desired import Wanted
from reconciler.application.services import Services
from reconciler.domain.model import Deployment
from reconciler.domain.status import Phase
from reconciler.domain.values import ApiKind, DeploymentSpec, Fingerprint, Revision
from reconciler.ports import (
    ApplyRequest,
    ApplyResult,
    HistoryEntry,
    PermanentError,
    TransientError,
)

log = structlog.get_logger(__name__)


class HealthCheckFailedError(Exception):
    """The deployment went live but did not answer its health check."""


@dataclass(frozen=True, slots=True)
class RollbackLink:
    """Why an apply counts as a rollback: the commit it undoes and the state it restores."""

    reverted: Revision | None
    restored: Revision | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended, for the history and the tick's summary line."""

    name: str
    result: str
    reason: str
    message: str


def apply(
    services: Services, record: Deployment, wanted: Wanted, *, revision: Revision, reason: str
) -> Outcome:
    """Apply `wanted` as of `revision`, as a rollback when Git says it is one."""
    now = services.clock.now()
    _make_ready_to_start(record, now=now)
    link = rollback_link(services, record, wanted, revision=revision)
    if link is None:
        record.request(
            spec=wanted.spec,
            revision=revision,
            fingerprint=wanted.fingerprint,
            manifest_path=wanted.manifest_path,
            reason=reason,
            now=now,
        )
    else:
        record.start_rollback(
            to=revision,
            spec=wanted.spec,
            fingerprint=wanted.fingerprint,
            reverted=link.reverted,
            restored=link.restored,
            automatic=False,
            reason="Reverted",
            now=now,
        )
    record.manifest_path = wanted.manifest_path
    services.commit(record)
    return _attempt(
        services,
        record,
        wanted.spec,
        revision=revision,
        fingerprint=wanted.fingerprint,
        link=link,
        automatic=False,
    )


def rollback_link(
    services: Services, record: Deployment, wanted: Wanted, *, revision: Revision
) -> RollbackLink | None:
    """A rollback is a revert of an applied commit, or a return to an earlier applied state."""
    if record.applied_revision is None:
        return None
    earlier = record.applied_with(wanted.fingerprint)
    restored = (
        earlier.revision if earlier and wanted.fingerprint != record.applied_fingerprint else None
    )
    seen = {entry.revision for entry in record.history}
    if record.attempted_revision is not None:
        seen.add(record.attempted_revision)
    try:
        commits = services.source.commits_between(record.applied_revision, revision)
    except (TransientError, PermanentError) as exc:
        # The applied commit may be gone (a force-push): the fingerprint rule still applies.
        log.warning("commit_range_unreadable", deployment=record.name, error=str(exc))
        commits = []
    reverted = next(
        (c.reverts for c in commits if c.reverts is not None and c.reverts in seen), None
    )
    if reverted is None and restored is None:
        return None
    return RollbackLink(reverted=reverted, restored=restored)


def _make_ready_to_start(record: Deployment, *, now: datetime) -> None:
    """Leave states from which an apply cannot start directly."""
    if record.phase is Phase.PROGRESSING:
        # The daemon stopped in the middle of an apply: record that attempt as failed.
        record.fail(
            reason="Interrupted", message="the reconciler stopped during this apply", now=now
        )
    if record.phase is Phase.SUSPENDED:
        record.resume()


def _attempt(  # noqa: PLR0913  # an attempt is all of these facts together
    services: Services,
    record: Deployment,
    spec: DeploymentSpec,
    *,
    revision: Revision,
    fingerprint: Fingerprint,
    link: RollbackLink | None,
    automatic: bool,
) -> Outcome:
    started_at, started = services.clock.now(), time.monotonic()
    roll_back = False
    try:
        result = deploy(services, spec, revision=revision, fingerprint=fingerprint)
        check_health(services, spec, endpoint=result.endpoint)
    except HealthCheckFailedError as exc:
        record.fail(reason="HealthCheckFailed", message=str(exc), now=services.clock.now())
        outcome = Outcome(record.name, "failed", "HealthCheckFailed", str(exc))
        # Never from an automatic rollback itself: one unhealthy return is enough.
        roll_back = spec.policy.auto_rollback and bool(record.history) and not automatic
    except TransientError as exc:
        delay = services.settings.retry.delay(record.failures + 1, spread=services.spread())
        retry_at = services.clock.now() + max(delay, _seconds(exc.retry_after))
        record.fail(
            reason="ApplyFailed", message=str(exc), now=services.clock.now(), retry_at=retry_at
        )
        outcome = Outcome(record.name, "failed", "ApplyFailed", str(exc))
    except PermanentError as exc:
        now = services.clock.now()
        record.fail(reason="ApplyFailed", message=str(exc), now=now)
        record.stall(reason="PermanentError", message=str(exc), now=now)
        outcome = Outcome(record.name, "failed", "PermanentError", str(exc))
    else:
        now = services.clock.now()
        if link is None:
            record.succeed(fingerprint=fingerprint, endpoint=result.endpoint, now=now)
            outcome = Outcome(record.name, "applied", record.reason, record.message)
        else:
            record.complete_rollback(
                fingerprint=fingerprint,
                endpoint=result.endpoint,
                reverted=link.reverted,
                restored=link.restored,
                automatic=automatic,
                now=now,
            )
            outcome = Outcome(record.name, "rolled-back", record.reason, record.message)
    _finish(
        services,
        record,
        outcome,
        revision=revision,
        fingerprint=fingerprint,
        link=link,
        started_at=started_at,
        started=started,
    )
    return roll_back_automatically(services, record) if roll_back else outcome


def roll_back_automatically(services: Services, record: Deployment) -> Outcome:
    """Apply the last good revision again after a failed health check; the result is Degraded."""
    good = record.last_good()
    wanted = services.reader.read_at(good.revision).wanted.get(record.name)
    failed = record.attempted_revision
    if wanted is None:
        message = f"cannot roll back: no manifest for {record.name} at {good.revision.short}"
        log.error("rollback_impossible", deployment=record.name, reason=message)
        return Outcome(record.name, "failed", "RollbackImpossible", message)
    record.start_rollback(
        to=good.revision,
        spec=wanted.spec,
        fingerprint=good.fingerprint,
        reverted=failed,
        restored=good.revision,
        automatic=True,
        reason="HealthCheckFailed",
        now=services.clock.now(),
    )
    services.commit(record)
    link = RollbackLink(reverted=failed, restored=good.revision)
    return _attempt(
        services,
        record,
        wanted.spec,
        revision=good.revision,
        fingerprint=good.fingerprint,
        link=link,
        automatic=True,
    )


def deploy(
    services: Services, spec: DeploymentSpec, *, revision: Revision, fingerprint: Fingerprint
) -> ApplyResult:
    """Export the function source at `revision` and hand everything to the provider's engine."""
    engine = services.engine(spec.provider)
    names = spec.function.secret_names
    secrets = services.secrets.resolve(names)
    missing = sorted(set(names) - secrets.keys())
    if missing:
        raise PermanentError(
            f"secret(s) {', '.join(missing)} not set in the reconciler's environment"
        )
    services.workspace.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=services.workspace))
    try:
        services.source.export_tree(revision, spec.function.source, folder)
        request = ApplyRequest(
            spec=spec,
            revision=revision,
            fingerprint=fingerprint,
            source_dir=folder,
            secrets=secrets,
        )
        return engine.apply(request)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_health(services: Services, spec: DeploymentSpec, *, endpoint: str | None) -> None:
    """Raise HealthCheckFailedError unless the REST API answers its health check in time."""
    check = spec.health_check
    if check is None or endpoint is None or spec.kind is not ApiKind.REST:
        return
    url = endpoint.rstrip("/") + check.path
    problem = services.probe.check(
        url, expect_status=check.expect_status, timeout=services.settings.health_timeout
    )
    if problem is not None:
        raise HealthCheckFailedError(f"GET {url}: {problem}")


def _finish(  # noqa: PLR0913  # the history entry needs every one of these
    services: Services,
    record: Deployment,
    outcome: Outcome,
    *,
    revision: Revision,
    fingerprint: Fingerprint,
    link: RollbackLink | None,
    started_at: datetime,
    started: float,
) -> None:
    entry = HistoryEntry(
        deployment=record.name,
        revision=revision,
        fingerprint=fingerprint,
        outcome=outcome.result,
        reason=outcome.reason,
        message=outcome.message,
        started_at=started_at,
        duration_ms=round((time.monotonic() - started) * 1000),
        reverted=link.reverted if link else None,
        restored=link.restored if link else None,
    )
    services.commit(record, history=entry)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
