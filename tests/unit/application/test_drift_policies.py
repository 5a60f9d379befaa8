"""Drift checks with fakes: report once, heal by applying again, ignore, and unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
from appfakes import (
    FakeEngine,
    FakeSource,
    HealthyProbe,
    ListPublisher,
    ManualClock,
    MemoryStore,
    NoSecrets,
    repository,
)

from reconciler.application.drift import DriftChecker
from reconciler.application.reconcile import Reconciler
from reconciler.application.services import Services
from reconciler.domain.drift import SECRET_MASK, DriftFinding
from reconciler.domain.status import DriftState, Phase
from reconciler.domain.values import Provider
from reconciler.ports import TransientError

CHANGED = DriftFinding("function", "function.environment.GREETING", "hello", "tampered")
SECRET = DriftFinding("function", "function.environment.KEY", "a", "b", secret=True)


@pytest.fixture
def world(tmp_path: Path):
    source, engine, store, clock = FakeSource(), FakeEngine(), MemoryStore(), ManualClock()
    publisher = ListPublisher()
    services = Services(
        source=source,
        store=store,
        engines={Provider.LOCAL: engine},
        publisher=publisher,
        clock=clock,
        probe=HealthyProbe(),
        secrets=NoSecrets(),
        workspace=tmp_path,
        spread=lambda: 0.0,
    )
    reconciler = Reconciler(services)
    return source, engine, store, publisher, reconciler, DriftChecker(reconciler)


def names_of(events) -> list[str]:
    return [type(event).__name__ for event in events]


def test_report_records_findings_and_publishes_once(world):
    source, engine, store, publisher, reconciler, drift = world
    source.push(repository("api"))
    reconciler.tick()
    engine.drift["api"] = (CHANGED, SECRET)
    drift.check()
    drift.check()
    assert names_of(publisher.published).count("DriftDetected") == 1
    assert store.load("api").drift is DriftState.DRIFTED
    assert store.drift("api") == [CHANGED, SECRET]
    assert store.drift("api")[1].live == SECRET_MASK
    engine.drift["api"] = ()
    drift.check()
    assert names_of(publisher.published).count("DriftResolved") == 1
    assert engine.applied == ["api"]  # Reported, never healed.


def test_heal_applies_the_applied_revision_again(world):
    source, engine, store, _, reconciler, drift = world
    revision = source.push(repository("api", drift="heal"))
    reconciler.tick()
    engine.drift["api"] = (CHANGED,)
    (result,) = drift.check()
    assert result.healed
    assert engine.applied == ["api", "api"]
    assert store.load("api").applied_revision == revision
    assert store.load("api").drift is DriftState.NONE


def test_ignore_is_never_checked_unless_named(world):
    source, engine, _, _, reconciler, drift = world
    source.push(repository("api", drift="ignore"))
    reconciler.tick()
    assert drift.check() == []
    assert engine.drift_checks == []
    drift.check(names=["api"])
    assert engine.drift_checks == ["api"]


def test_an_engine_that_cannot_check_leaves_drift_unknown(world):
    source, engine, store, _, reconciler, drift = world
    source.push(repository("api"))
    reconciler.tick()
    engine.drift["api"] = TransientError("unreachable")
    (result,) = drift.check()
    assert result.state is DriftState.UNKNOWN
    assert store.load("api").drift is DriftState.UNKNOWN


def test_checks_come_due_on_their_own_schedule(world):
    source, engine, _, _, reconciler, drift = world
    source.push(repository("api"))
    reconciler.tick()
    drift.check(due_only=True)
    drift.check(due_only=True)  # Not due again for ten minutes.
    assert engine.drift_checks == ["api"]
    reconciler.services.clock.advance(minutes=11)
    drift.check(due_only=True)
    assert engine.drift_checks == ["api", "api"]


def test_a_heal_that_failed_is_retried_by_the_resync_while_git_stands_still(world):
    source, engine, store, _, reconciler, checker = world
    source.push(repository("api", drift="heal"))
    reconciler.tick()
    engine.drift["api"] = (CHANGED,)
    engine.failures = [TransientError("throttled", retry_after=1)]

    (result,) = checker.check()
    assert not result.healed
    assert store.load("api").phase is Phase.FAILED
    clock = reconciler.services.clock
    clock.advance(seconds=30)
    assert reconciler.tick().idle  # Git has not moved, and the tick does not know of the failure

    clock.advance(minutes=10)  # the resync: every deployment is decided on again
    reconciler.tick()

    assert store.load("api").phase is Phase.READY
    assert engine.applied == ["api", "api"]
