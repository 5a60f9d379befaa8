"""The daemon: one tick job and one drift job on APScheduler, and a clean stop on SIGTERM.

Neither job overlaps itself (`max_instances=1`, `coalesce`); jitter keeps many daemons from
ticking in step. SIGTERM or SIGINT lets in-flight applies finish, then exits 0.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.blocking import BlockingScheduler

from reconciler.bootstrap import App
from reconciler.domain.status import Phase

log = structlog.get_logger(__name__)

DRIFT_POLL = timedelta(seconds=30)
"""How often the drift job looks for deployments whose own check is due."""


def once(app: App) -> int:
    """One tick and one drift pass; 0 when every deployment is Ready or Suspended, else 1."""
    _job("tick", app.reconciler.tick)()
    _job("drift", app.drift.check)()
    records = app.store.load_all()
    report_endpoints(app)
    healthy = {Phase.READY, Phase.SUSPENDED}
    return 0 if all(record.phase in healthy for record in records) else 1


def run(app: App, *, interval: timedelta) -> int:
    """Tick every `interval` and check drift on each deployment's schedule, until stopped."""
    scheduler = BlockingScheduler(timezone=UTC)
    first = datetime.now(UTC)
    seconds = max(interval.total_seconds(), 1.0)
    scheduler.add_job(
        _job("tick", app.reconciler.tick, after=lambda: report_endpoints(app)),
        "interval",
        seconds=seconds,
        id="tick",
        name="tick",
        next_run_time=first,
        max_instances=1,
        coalesce=True,
        jitter=max(1, int(seconds * 0.1)),
        misfire_grace_time=int(seconds),
    )
    scheduler.add_job(
        _job("drift", lambda: app.drift.check(due_only=True)),
        "interval",
        seconds=DRIFT_POLL.total_seconds(),
        id="drift",
        name="drift",
        next_run_time=first + DRIFT_POLL,
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_listener(_listen, EVENT_JOB_ERROR | EVENT_JOB_MISSED)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("daemon_stopping", signal=signal.Signals(signum).name)
        scheduler.shutdown(wait=True)  # In-flight applies finish first.

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    log.info("daemon_started", repo=app.source.describe(), interval_s=seconds)
    scheduler.start()
    log.info("daemon_stopped")
    return 0


def report_endpoints(app: App) -> None:
    """One `serving` line per Ready deployment: where to call it."""
    for record in app.store.load_all():
        if record.endpoint and record.phase in {Phase.READY, Phase.DEGRADED}:
            log.info(
                "serving", deployment=record.name, endpoint=record.endpoint, phase=record.phase
            )


def _job(
    name: str, work: Callable[[], object], *, after: Callable[[], None] | None = None
) -> Callable[[], None]:
    reported = False

    def job() -> None:
        nonlocal reported
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(run_id=uuid.uuid4().hex[:12], job=name)
        # No catch-all here: APScheduler keeps the daemon alive and `_listen` logs the error.
        try:
            work()
            if after is not None and not reported:
                after()
                reported = True
        finally:
            structlog.contextvars.clear_contextvars()

    return job


def _listen(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("job_missed", job=event.job_id)
    else:
        log.error("job_error", job=event.job_id, error=str(event.exception))
