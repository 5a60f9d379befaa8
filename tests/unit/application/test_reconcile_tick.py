"""One tick, with fakes for every port: retries, stalls, suspension, safety limits, isolation."""

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

from reconciler.application.reconcile import Reconciler
from reconciler.application.services import LoopSettings, Services
from reconciler.domain.planning import RetryPolicy
from reconciler.domain.status import Phase
from reconciler.domain.values import Provider
from reconciler.ports import PermanentError, TransientError


@pytest.fixture
def world(tmp_path: Path):
    source, engine, store, clock = FakeSource(), FakeEngine(), MemoryStore(), ManualClock()
    services = Services(
        source=source,
        store=store,
        engines={Provider.LOCAL: engine},
        publisher=ListPublisher(),
        clock=clock,
        probe=HealthyProbe(),
        secrets=NoSecrets(),
        workspace=tmp_path,
        settings=LoopSettings(max_destroy=1, retry=RetryPolicy(max_failures=2)),
        spread=lambda: 0.0,
    )
    return source, engine, store, clock, Reconciler(services)


def test_transient_failure_backs_off_then_retries(world):
    source, engine, store, clock, reconciler = world
    source.push(repository("api"))
    engine.failures = [TransientError("stack locked", retry_after=1)]
    reconciler.tick()
    record = store.load("api")
    assert (record.phase, record.failures) == (Phase.FAILED, 1)
    assert record.next_attempt_at == clock.now() + RetryPolicy().base_delay

    assert reconciler.tick().idle  # Git has not moved and the retry is not due yet.
    clock.advance(seconds=11)
    reconciler.tick()
    assert store.load("api").phase is Phase.READY
    assert engine.applied == ["api"]


def test_permanent_failure_stalls_until_the_inputs_change(world):
    source, engine, store, clock, reconciler = world
    source.push(repository("api"))
    engine.failures = [PermanentError("invalid program")]
    reconciler.tick()
    assert store.load("api").phase is Phase.STALLED
    clock.advance(hours=2)
    reconciler.forget_revision()
    reconciler.tick()
    assert store.load("api").phase is Phase.STALLED
    assert engine.applied == []

    source.push(repository("api", version="v2"))
    reconciler.tick()
    assert store.load("api").phase is Phase.READY


def test_repeated_transient_failures_stall_after_the_limit(world):
    source, engine, store, clock, reconciler = world
    source.push(repository("api"))
    engine.failures = [TransientError("timeout", retry_after=0)] * 2
    reconciler.tick()
    clock.advance(minutes=5)
    reconciler.tick()
    assert store.load("api").failures == 2
    clock.advance(minutes=5)
    reconciler.tick()
    record = store.load("api")
    assert (record.phase, record.reason) == (Phase.STALLED, "TooManyFailures")


def test_one_failing_deployment_does_not_stop_the_others(world):
    source, engine, store, _, reconciler = world
    source.push(repository("a", "b", "c"))
    engine.failures = [PermanentError("boom")]
    reconciler.tick()
    phases = sorted(record.phase for record in store.load_all())
    assert phases == [Phase.READY, Phase.READY, Phase.STALLED]


def test_suspended_manifest_is_left_alone_and_resumes_when_lifted(world):
    source, engine, store, _, reconciler = world
    source.push(repository("api"))
    reconciler.tick()
    source.push(repository("api", suspend=True, version="v2"))
    reconciler.tick()
    assert store.load("api").phase is Phase.SUSPENDED
    assert engine.applied == ["api"]
    source.push(repository("api", version="v2"))
    reconciler.tick()
    assert store.load("api").phase is Phase.READY
    assert engine.applied == ["api", "api"]


def test_more_destroys_than_the_limit_are_refused(world):
    source, engine, store, _, reconciler = world
    source.push(repository("a", "b", "c", prune=True))
    reconciler.tick()
    source.push(repository("c", prune=True))
    reconciler.tick()
    assert engine.destroyed == []  # Two destroys, limit one: refused.
    assert {record.name for record in store.load_all()} == {"a", "b", "c"}


def test_destroy_within_the_limit_removes_the_record_and_keeps_history(world):
    source, engine, store, _, reconciler = world
    source.push(repository("a", "b", prune=True))
    reconciler.tick()
    source.push(repository("b", prune=True))
    reconciler.tick()
    assert engine.destroyed == ["a"]
    assert store.load("a") is None
    assert store.history("a")[0].outcome == "destroyed"


def test_an_apply_interrupted_by_a_crash_is_applied_again(world):
    source, _, store, _, reconciler = world
    revision = source.push(repository("api"))
    reconciler.tick()
    record = store.load("api")
    record.phase = Phase.PROGRESSING  # As left by a daemon killed mid-apply.
    store.save(record)
    reconciler.forget_revision()
    reconciler.tick()
    assert [entry.outcome for entry in store.history("api")] == ["applied", "applied"]
    failed = [e for e in store.events if type(e).__name__ == "DeploymentFailed"]
    assert [e.reason for e in failed] == ["Interrupted"]
    assert store.load("api").phase is Phase.READY
    assert store.load("api").applied_revision == revision


def test_a_source_that_cannot_be_read_ends_the_tick_quietly(world):
    source, _, store, _, reconciler = world

    def unreachable():
        raise TransientError("network down")

    source.current_revision = unreachable
    report = reconciler.tick()
    assert report.error == "network down"
    assert store.load_all() == []


def test_an_unreadable_commit_range_does_not_block_the_apply(world):
    """After a force-push the applied commit may be gone; the apply goes on without a link."""
    source, engine, store, _, reconciler = world
    source.push(repository("api"))
    reconciler.tick()

    def gone(old, _new):
        raise PermanentError(f"commit {old.short} is not in the repository")

    source.commits_between = gone
    source.push(repository("api", version="v2"))
    reconciler.tick()
    assert store.load("api").phase is Phase.READY
    assert engine.applied == ["api", "api"]


def test_a_commit_decides_only_on_the_deployments_whose_inputs_moved(world):
    source, engine, _, _, reconciler = world
    source.push(repository("a", "b", "c"))
    assert sorted(outcome.name for outcome in reconciler.tick().outcomes) == ["a", "b", "c"]

    source.push(repository("a", "c") | repository("b", version="v2"))
    report = reconciler.tick()

    # The two untouched deployments are not looked at (nor logged): they were in sync.
    assert [(outcome.name, outcome.result) for outcome in report.outcomes] == [("b", "applied")]
    assert engine.applied[3:] == ["b"]


def test_a_retry_pending_outside_the_commit_is_still_made_when_due(world):
    source, engine, store, clock, reconciler = world
    source.push(repository("a"))
    engine.failures = [TransientError("throttled", retry_after=1)]
    reconciler.tick()
    assert store.load("a").phase is Phase.FAILED

    source.push(repository("a", "b"))  # a commit that adds b, before a's retry is due
    assert [outcome.name for outcome in reconciler.tick().outcomes] == ["b"]
    assert reconciler.tick().idle

    clock.advance(seconds=11)
    reconciler.tick()
    assert store.load("a").phase is Phase.READY
    assert engine.applied == ["b", "a"]


def test_removing_the_only_live_deployment_is_refused_by_a_commit_too(world):
    source, engine, store, _, reconciler = world
    source.push(repository("a", prune=True))
    reconciler.tick()

    source.push(repository("b"))  # a's manifest removed, b added: a is every live deployment
    reconciler.tick()

    assert engine.destroyed == []
    assert store.load("a").phase is Phase.READY
    assert store.load("b").phase is Phase.READY
