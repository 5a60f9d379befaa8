"""The Deployment aggregate: every method moves the phase by the table and records one fact."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from builders import applied, make_deployment, make_fingerprint, make_revision, make_spec

from reconciler.domain import events
from reconciler.domain.drift import DriftFinding
from reconciler.domain.errors import InvalidTransitionError, NothingToRollBackError
from reconciler.domain.model import HISTORY_LIMIT, AppliedRevision, Deployment
from reconciler.domain.status import DriftState, Phase

SPEC = make_spec()
OLD = make_revision("old")
NEW = make_revision("new")
OLD_FINGERPRINT = make_fingerprint("old")
NEW_FINGERPRINT = make_fingerprint("new")
ENDPOINT = "https://orders.example.test/live"
EARLIER = datetime(2025, 11, 25, 7, 0, tzinfo=UTC)
FINDING = DriftFinding(resource="lambda:orders", path="memorySize", desired=128, live=256)


def lived_in(phase: Phase, **changes) -> Deployment:
    """A deployment in `phase` that serves OLD and last attempted NEW."""
    fields = {
        "spec": SPEC,
        "desired_revision": NEW,
        "attempted_revision": NEW,
        "applied_revision": OLD,
        "applied_fingerprint": OLD_FINGERPRINT,
        "endpoint": ENDPOINT,
        "history": [applied("old", at=EARLIER)],
    }
    return make_deployment(phase, **(fields | changes))


def state_of(deployment: Deployment) -> dict[str, object]:
    """Everything the deployment records, deep-copied so later changes cannot leak into it."""
    return copy.deepcopy(vars(deployment))


# --- the transition table, driven through the aggregate's methods ------------------------------


@dataclass(frozen=True)
class Move:
    """One aggregate method, the phase it moves to, the reason it records and its events."""

    call: Callable[[Deployment, datetime], None]
    target: Phase
    reason: str
    events: tuple[type[events.DomainEvent], ...]
    allowed_from: frozenset[Phase]


_P = Phase
ANYWHERE_BUT_SUSPENDED = frozenset(Phase) - {_P.SUSPENDED}
AT_REST = ANYWHERE_BUT_SUSPENDED - {_P.PROGRESSING}
"""Phases a new apply or a rollback may start from: none while another is in flight."""

MOVES = {
    "request": Move(
        lambda d, now: d.request(
            spec=SPEC,
            revision=NEW,
            fingerprint=NEW_FINGERPRINT,
            manifest_path="manifests/orders.yaml",
            reason="NewRevision",
            now=now,
        ),
        _P.PROGRESSING,
        "NewRevision",
        (events.DeploymentRequested,),
        AT_REST,
    ),
    "succeed": Move(
        lambda d, now: d.succeed(fingerprint=NEW_FINGERPRINT, endpoint=ENDPOINT, now=now),
        _P.READY,
        "Applied",
        (events.DeploymentSucceeded,),
        frozenset({_P.PROGRESSING}),
    ),
    "fail": Move(
        lambda d, now: d.fail(reason="ApplyFailed", message="stack locked", now=now),
        _P.FAILED,
        "ApplyFailed",
        (events.DeploymentFailed,),
        ANYWHERE_BUT_SUSPENDED,
    ),
    "stall": Move(
        lambda d, now: d.stall(reason="InvalidProgram", message="no handler", now=now),
        _P.STALLED,
        "InvalidProgram",
        (events.DeploymentStalled,),
        frozenset({_P.PROGRESSING, _P.FAILED}),
    ),
    "reject_manifest": Move(
        lambda d, now: d.reject_manifest(file="orders.yaml", message="1:1: bad", now=now),
        _P.FAILED,
        "ManifestRejected",
        (events.ManifestRejected,),
        ANYWHERE_BUT_SUSPENDED,
    ),
    "start_rollback": Move(
        lambda d, now: d.start_rollback(
            spec=SPEC,
            fingerprint=OLD_FINGERPRINT,
            restored=None,
            to=OLD,
            reverted=NEW,
            automatic=True,
            reason="HealthCheckFailed",
            now=now,
        ),
        _P.PROGRESSING,
        "HealthCheckFailed",
        (events.RollbackStarted,),
        AT_REST,
    ),
    "complete_rollback-automatic": Move(
        lambda d, now: d.complete_rollback(
            restored=None,
            fingerprint=OLD_FINGERPRINT,
            endpoint=ENDPOINT,
            reverted=NEW,
            automatic=True,
            now=now,
        ),
        _P.DEGRADED,
        "RolledBack",
        (events.RollbackCompleted,),
        frozenset({_P.PROGRESSING}),
    ),
    "complete_rollback-by-revert": Move(
        lambda d, now: d.complete_rollback(
            restored=None,
            fingerprint=OLD_FINGERPRINT,
            endpoint=ENDPOINT,
            reverted=NEW,
            automatic=False,
            now=now,
        ),
        _P.READY,
        "RolledBack",
        (events.RollbackCompleted,),
        frozenset({_P.PROGRESSING}),
    ),
    "suspend": Move(
        lambda d, _now: d.suspend(),
        _P.SUSPENDED,
        "Suspended",
        (),
        frozenset({_P.PENDING, _P.READY, _P.FAILED, _P.STALLED, _P.DEGRADED}),
    ),
    "resume": Move(
        lambda d, _now: d.resume(),
        _P.PENDING,
        "Resumed",
        (),
        frozenset({_P.SUSPENDED}),
    ),
}


def _rows(*, allowed: bool) -> list:
    return [
        pytest.param(name, source, id=f"{name}-from-{source}")
        for name, move in MOVES.items()
        for source in Phase
        if (source in move.allowed_from) is allowed
    ]


class TestTransitionsThroughTheAggregate:
    """Each method tried from each phase: allowed moves change the phase, forbidden ones nothing."""

    @pytest.mark.parametrize(("move_name", "source"), _rows(allowed=True))
    def test_allowed_move_changes_the_phase_and_records_its_event(self, move_name, source, now):
        """The phase and reason change, and exactly the method's own event is appended."""
        move = MOVES[move_name]
        deployment = lived_in(source)

        move.call(deployment, now)

        assert deployment.phase is move.target
        assert deployment.reason == move.reason
        pulled = deployment.pull_events()
        assert [type(event) for event in pulled] == list(move.events)
        assert all(event.deployment == "orders" for event in pulled)
        assert all(event.occurred_at == now for event in pulled)

    @pytest.mark.parametrize(("move_name", "source"), _rows(allowed=False))
    def test_forbidden_move_raises_and_leaves_the_deployment_unchanged(
        self, move_name, source, now
    ):
        """The refusal names both phases, and no field or event is touched on the way."""
        move = MOVES[move_name]
        deployment = lived_in(source)
        before = state_of(deployment)

        with pytest.raises(InvalidTransitionError) as caught:
            move.call(deployment, now)

        assert (caught.value.source, caught.value.target) == (source, move.target)
        assert state_of(deployment) == before


# --- applying ----------------------------------------------------------------------------------


class TestRequest:
    """Starting an apply of a revision."""

    def test_request_records_the_spec_and_revision_it_applies(self, now):
        """The revision becomes desired and attempted, and a pending retry is cancelled."""
        deployment = lived_in(Phase.FAILED, spec=None, next_attempt_at=now, failures=2)
        newer = make_revision("newer")

        deployment.request(
            spec=SPEC,
            revision=newer,
            fingerprint=NEW_FINGERPRINT,
            manifest_path="manifests/orders.yaml",
            reason="NewRevision",
            now=now,
        )

        assert deployment.spec == SPEC
        assert (deployment.desired_revision, deployment.attempted_revision) == (newer, newer)
        assert deployment.next_attempt_at is None
        assert deployment.message == f"applying {newer.short}"
        assert deployment.pull_events() == [
            events.DeploymentRequested(
                deployment="orders", occurred_at=now, revision=newer, reason="NewRevision"
            )
        ]

    def test_request_keeps_the_applied_revision_apart_from_the_attempted_one(self, now):
        """Until the apply succeeds, the previous revision is the one recorded as live."""
        deployment = lived_in(Phase.READY)

        deployment.request(
            spec=SPEC,
            revision=NEW,
            fingerprint=NEW_FINGERPRINT,
            manifest_path="manifests/orders.yaml",
            reason="NewRevision",
            now=now,
        )

        assert deployment.applied_revision == OLD
        assert deployment.applied_fingerprint == OLD_FINGERPRINT
        assert deployment.failures == 0


class TestSucceed:
    """Recording that the attempted revision is live and healthy."""

    def test_success_makes_the_attempted_revision_live(self, now):
        """The revision, fingerprint and endpoint go live; the failure count starts over."""
        deployment = lived_in(Phase.PROGRESSING, failures=2, next_attempt_at=EARLIER)

        deployment.succeed(fingerprint=NEW_FINGERPRINT, endpoint=ENDPOINT, now=now)

        assert deployment.applied_revision == NEW
        assert deployment.applied_fingerprint == NEW_FINGERPRINT
        assert deployment.endpoint == ENDPOINT
        assert (deployment.failures, deployment.next_attempt_at) == (0, None)
        assert deployment.message == f"serving {NEW.short}"
        assert deployment.history[-1] == AppliedRevision(NEW, NEW_FINGERPRINT, now, None)
        assert deployment.pull_events() == [
            events.DeploymentSucceeded(
                deployment="orders",
                occurred_at=now,
                revision=NEW,
                fingerprint=NEW_FINGERPRINT,
                endpoint=ENDPOINT,
            )
        ]

    def test_success_without_an_attempted_revision_is_refused(self, now):
        """A record loaded as Progressing with nothing attempted cannot claim a revision is live."""
        deployment = make_deployment(Phase.PROGRESSING)
        before = state_of(deployment)

        with pytest.raises(InvalidTransitionError) as caught:
            deployment.succeed(fingerprint=NEW_FINGERPRINT, endpoint=ENDPOINT, now=now)

        assert (caught.value.source, caught.value.target) == (Phase.PROGRESSING, Phase.READY)
        assert state_of(deployment) == before


class TestFail:
    """Recording a failed attempt while the previous revision keeps serving."""

    def test_each_failure_is_counted_and_schedules_its_retry(self, now):
        """Failed to Failed is one more attempt, counted, with the latest retry time kept."""
        deployment = lived_in(Phase.PROGRESSING)
        first_retry, second_retry = now + timedelta(seconds=10), now + timedelta(seconds=30)

        deployment.fail(reason="ApplyFailed", message="timeout", now=now, retry_at=first_retry)
        deployment.fail(reason="ApplyFailed", message="timeout", now=now, retry_at=second_retry)

        assert deployment.failures == 2
        assert deployment.next_attempt_at == second_retry
        assert deployment.message == "timeout"
        assert [event.failures for event in deployment.pull_events()] == [1, 2]

    def test_failure_names_the_attempted_revision_and_keeps_the_previous_one_live(self, now):
        """The event names what failed; the record still says what serves."""
        deployment = lived_in(Phase.PROGRESSING)

        deployment.fail(reason="ApplyFailed", message="stack locked", now=now)

        assert deployment.applied_revision == OLD
        assert deployment.endpoint == ENDPOINT
        assert deployment.pull_events() == [
            events.DeploymentFailed(
                deployment="orders",
                occurred_at=now,
                revision=NEW,
                reason="ApplyFailed",
                message="stack locked",
                failures=1,
            )
        ]

    def test_failure_without_a_retry_time_clears_the_schedule(self, now):
        """A failure that gives no retry time leaves no stale schedule behind."""
        deployment = lived_in(Phase.FAILED, failures=1, next_attempt_at=now)

        deployment.fail(reason="ApplyFailed", message="stack locked", now=now)

        assert deployment.next_attempt_at is None

    def test_failure_before_any_attempt_names_no_revision(self, now):
        """Failing before anything was attempted (the source is down) names no revision."""
        deployment = make_deployment(Phase.PENDING)

        deployment.fail(reason="SourceUnavailable", message="git fetch failed", now=now)

        (event,) = deployment.pull_events()
        assert event.revision is None


class TestStall:
    """Giving up until the deployment's inputs change."""

    def test_stall_stops_retries_and_reports_the_failures_so_far(self, now):
        """No retry stays scheduled, and the event says how many attempts failed."""
        deployment = lived_in(Phase.FAILED, failures=3, next_attempt_at=now)

        deployment.stall(reason="RetriesExhausted", message="gave up after 3", now=now)

        assert deployment.next_attempt_at is None
        assert deployment.failures == 3
        assert deployment.message == "gave up after 3"
        assert deployment.pull_events() == [
            events.DeploymentStalled(
                deployment="orders",
                occurred_at=now,
                revision=NEW,
                reason="RetriesExhausted",
                message="gave up after 3",
                failures=3,
            )
        ]


class TestRejectManifest:
    """Recording that the manifest could not be read."""

    def test_rejected_manifest_fails_without_touching_what_is_live(self, now):
        """A bad manifest is a failed status and an event, never a teardown."""
        deployment = lived_in(Phase.READY)
        message = "manifests/orders.yaml:3:5: spec.function.runtime: unknown runtime"

        deployment.reject_manifest(file="manifests/orders.yaml", message=message, now=now)

        assert (deployment.phase, deployment.message) == (Phase.FAILED, message)
        assert (deployment.applied_revision, deployment.endpoint) == (OLD, ENDPOINT)
        assert deployment.failures == 0
        assert deployment.pull_events() == [
            events.ManifestRejected(
                deployment="orders", occurred_at=now, file="manifests/orders.yaml", message=message
            )
        ]


# --- rolling back -------------------------------------------------------------------------------


class TestRollback:
    """Returning to an earlier revision, automatically or by `git revert`."""

    def test_revert_rollback_starts_from_the_serving_revision(self, now):
        """The event says which revision is left, which is returned to, and why."""
        deployment = lived_in(
            Phase.READY,
            attempted_revision=NEW,
            applied_revision=NEW,
            applied_fingerprint=NEW_FINGERPRINT,
            history=[applied("old", at=EARLIER), applied("new", at=EARLIER)],
        )

        deployment.start_rollback(
            spec=SPEC,
            fingerprint=OLD_FINGERPRINT,
            restored=None,
            to=OLD,
            reverted=NEW,
            automatic=False,
            reason="Reverted",
            now=now,
        )

        assert deployment.phase is Phase.PROGRESSING
        assert deployment.attempted_revision == OLD
        assert deployment.message == f"rolling back to {OLD.short}"
        assert deployment.pull_events() == [
            events.RollbackStarted(
                deployment="orders",
                occurred_at=now,
                from_revision=NEW,
                to_revision=OLD,
                reverted=NEW,
                automatic=False,
                reason="Reverted",
            )
        ]

    def test_automatic_rollback_starts_from_the_revision_that_failed_its_health_check(self, now):
        """Progressing -> Failed -> Progressing: the event leaves NEW, not the OLD it returns to."""
        deployment = lived_in(Phase.PROGRESSING)

        deployment.fail(reason="HealthCheckFailed", message="GET / answered 500", now=now)
        deployment.start_rollback(
            spec=SPEC,
            fingerprint=OLD_FINGERPRINT,
            restored=None,
            to=OLD,
            reverted=None,
            automatic=True,
            reason="HealthCheckFailed",
            now=now,
        )

        started = deployment.pull_events()[-1]
        assert isinstance(started, events.RollbackStarted)
        assert (started.from_revision, started.to_revision) == (NEW, OLD)
        assert deployment.phase is Phase.PROGRESSING

    @pytest.mark.parametrize(
        ("automatic", "phase", "message"),
        [
            pytest.param(
                True,
                Phase.DEGRADED,
                "serving {short} after an automatic rollback",
                id="automatic",
            ),
            pytest.param(False, Phase.READY, "serving {short}", id="by-git-revert"),
        ],
    )
    def test_completed_rollback_makes_the_target_live_again(self, automatic, phase, message, now):
        """An automatic rollback runs older code than Git asks for; a revert is what Git asks."""
        deployment = lived_in(Phase.PROGRESSING, attempted_revision=OLD, failures=1)

        deployment.complete_rollback(
            restored=None,
            fingerprint=OLD_FINGERPRINT,
            endpoint=ENDPOINT,
            reverted=NEW,
            automatic=automatic,
            now=now,
        )

        assert deployment.phase is phase
        assert deployment.message == message.format(short=OLD.short)
        assert (deployment.applied_revision, deployment.failures) == (OLD, 0)
        assert deployment.history[-1] == AppliedRevision(OLD, OLD_FINGERPRINT, now, NEW)
        assert deployment.pull_events() == [
            events.RollbackCompleted(
                deployment="orders",
                occurred_at=now,
                to_revision=OLD,
                reverted=NEW,
                automatic=automatic,
            )
        ]

    @pytest.mark.parametrize(
        "automatic",
        [pytest.param(True, id="automatic"), pytest.param(False, id="by-git-revert")],
    )
    def test_completing_a_rollback_nothing_was_attempted_for_is_refused(self, automatic, now):
        """Without an attempted revision there is nothing to declare live again."""
        deployment = make_deployment(Phase.PROGRESSING)
        before = state_of(deployment)

        with pytest.raises(InvalidTransitionError):
            deployment.complete_rollback(
                restored=None,
                fingerprint=OLD_FINGERPRINT,
                endpoint=ENDPOINT,
                reverted=None,
                automatic=automatic,
                now=now,
            )

        assert state_of(deployment) == before


class TestRollbackTargets:
    """Which applied revision a rollback returns to, read from the history."""

    def test_last_good_is_the_latest_history_entry(self):
        """An automatic rollback returns to what served last."""
        deployment = lived_in(
            Phase.READY, history=[applied("old", at=EARLIER), applied("new", at=EARLIER)]
        )

        assert deployment.last_good() == applied("new", at=EARLIER)

    def test_last_good_of_a_never_applied_deployment_is_refused(self):
        """With no history there is nothing to return to, and the error says so."""
        with pytest.raises(NothingToRollBackError, match="'orders' has never been applied"):
            make_deployment(Phase.PENDING).last_good()

    @pytest.mark.parametrize(
        ("history", "serving", "expected"),
        [
            pytest.param(["a", "b"], "b", "a", id="one-earlier"),
            pytest.param(["a", "b", "c"], "c", "b", id="latest-of-several"),
            pytest.param(["a", "b", "b"], "b", "a", id="skips-reapplies-of-the-serving-one"),
        ],
    )
    def test_previous_applied_is_the_latest_other_revision(self, history, serving, expected):
        """Entries of the serving revision itself, re-applied or not, are skipped."""
        deployment = make_deployment(
            Phase.READY,
            applied_revision=make_revision(serving),
            history=[applied(label, at=EARLIER) for label in history],
        )

        assert deployment.previous_applied() == applied(expected, at=EARLIER)

    @pytest.mark.parametrize(
        ("history", "serving"),
        [
            pytest.param([], None, id="never-applied"),
            pytest.param(["a"], "a", id="only-the-serving-one"),
            pytest.param(["a", "a"], "a", id="serving-one-applied-twice"),
        ],
    )
    def test_previous_applied_without_an_earlier_revision_is_refused(self, history, serving):
        """With nothing but the serving revision in history, there is nowhere to go back to."""
        deployment = make_deployment(
            Phase.READY,
            applied_revision=make_revision(serving) if serving else None,
            history=[applied(label, at=EARLIER) for label in history],
        )

        with pytest.raises(NothingToRollBackError, match="has no earlier applied revision"):
            deployment.previous_applied()

    def test_applied_with_finds_the_latest_entry_with_that_fingerprint(self, now):
        """When a fingerprint went live twice, the later entry is the one returned."""
        first, again = applied("a", at=EARLIER), applied("a", at=now)
        deployment = make_deployment(Phase.READY, history=[first, applied("b", at=EARLIER), again])

        assert deployment.applied_with(make_fingerprint("a")) is again

    def test_applied_with_an_unseen_fingerprint_finds_nothing(self):
        """A fingerprint that never went live has no entry."""
        deployment = make_deployment(
            Phase.READY, history=[applied("a", at=EARLIER), applied("b", at=EARLIER)]
        )

        assert deployment.applied_with(make_fingerprint("c")) is None


def test_history_keeps_only_the_latest_entries(now):
    """The aggregate keeps HISTORY_LIMIT entries in memory; the store keeps them all."""
    deployment = make_deployment(Phase.PENDING)
    labels = [f"r{number}" for number in range(HISTORY_LIMIT + 3)]

    for minute, label in enumerate(labels):
        at = now + timedelta(minutes=minute)
        deployment.request(
            spec=SPEC,
            revision=make_revision(label),
            fingerprint=NEW_FINGERPRINT,
            manifest_path="manifests/orders.yaml",
            reason="NewRevision",
            now=at,
        )
        deployment.succeed(fingerprint=make_fingerprint(label), endpoint=ENDPOINT, now=at)

    assert len(deployment.history) == HISTORY_LIMIT
    assert [entry.revision for entry in deployment.history] == [
        make_revision(label) for label in labels[-HISTORY_LIMIT:]
    ]


# --- suspension, drift, removal ----------------------------------------------------------------


def test_suspend_and_resume_keep_what_is_live():
    """Suspension changes status only: the revision and endpoint are untouched."""
    deployment = lived_in(Phase.READY)

    deployment.suspend()
    suspended = (deployment.phase, deployment.message)
    deployment.resume()

    assert suspended == (Phase.SUSPENDED, "reconciliation is suspended")
    assert (deployment.phase, deployment.message) == (Phase.PENDING, "waiting for the next tick")
    assert (deployment.applied_revision, deployment.endpoint) == (OLD, ENDPOINT)


class TestDrift:
    """Drift checks record the state every time but publish only when drift appears or clears."""

    @pytest.mark.parametrize(
        ("before", "findings", "after", "expected_events"),
        [
            pytest.param(DriftState.NONE, (), DriftState.NONE, [], id="clean-stays-clean"),
            pytest.param(
                DriftState.NONE,
                (FINDING,),
                DriftState.DRIFTED,
                [events.DriftDetected],
                id="drift-appears",
            ),
            pytest.param(
                DriftState.DRIFTED, (FINDING,), DriftState.DRIFTED, [], id="drift-persists"
            ),
            pytest.param(
                DriftState.DRIFTED,
                (),
                DriftState.NONE,
                [events.DriftResolved],
                id="drift-clears",
            ),
        ],
    )
    def test_drift_check_fires_events_only_on_change(
        self, before, findings, after, expected_events, now
    ):
        """The state is recorded on every check; an event fires only when it flips."""
        reported = before is DriftState.DRIFTED
        deployment = lived_in(Phase.READY, drift=before, drift_reported=reported)

        deployment.observe_drift(findings, now=now)

        assert deployment.drift is after
        assert [type(event) for event in deployment.pull_events()] == expected_events

    @pytest.mark.parametrize(
        ("findings", "expected_events"),
        [
            pytest.param((), [events.DriftResolved], id="clean-after-unknown-resolves"),
            pytest.param((FINDING,), [], id="drifted-after-unknown-is-not-news"),
        ],
    )
    def test_a_failed_check_does_not_forget_reported_drift(self, findings, expected_events, now):
        """Drifted -> unknown -> X publishes as if the unknown check never happened."""
        deployment = lived_in(Phase.READY)
        deployment.observe_drift((FINDING,), now=now)
        deployment.pull_events()

        deployment.drift_unknown()
        assert deployment.drift is DriftState.UNKNOWN
        deployment.observe_drift(findings, now=now)

        assert [type(event) for event in deployment.pull_events()] == expected_events

    def test_drift_detected_carries_the_findings(self, now):
        """Subscribers learn what drifted, not only that something did."""
        deployment = lived_in(Phase.READY)

        deployment.observe_drift((FINDING,), now=now)

        assert deployment.pull_events() == [
            events.DriftDetected(deployment="orders", occurred_at=now, findings=(FINDING,))
        ]

    def test_repeated_checks_publish_one_detection_and_one_resolution(self, now):
        """Five checks with drift then without it publish two events, not five."""
        deployment = lived_in(Phase.READY)

        for findings in [(FINDING,), (FINDING,), (FINDING,), (), ()]:
            deployment.observe_drift(findings, now=now)

        assert [type(event) for event in deployment.pull_events()] == [
            events.DriftDetected,
            events.DriftResolved,
        ]

    def test_drift_check_never_moves_the_phase(self, now):
        """Drift is reported beside the phase; healing it is a separate apply."""
        deployment = lived_in(Phase.READY)

        deployment.observe_drift((FINDING,), now=now)

        assert deployment.phase is Phase.READY

    def test_unreachable_engine_makes_drift_unknown_without_an_event(self):
        """Not knowing is recorded, but it is neither drift nor its resolution."""
        deployment = lived_in(Phase.READY, drift=DriftState.DRIFTED)

        deployment.drift_unknown()

        assert deployment.drift is DriftState.UNKNOWN
        assert deployment.phase is Phase.READY
        assert deployment.pull_events() == []


class TestDestroy:
    """Recording that everything the deployment had live was removed."""

    @pytest.mark.parametrize(
        "phase",
        [pytest.param(phase, id=str(phase)) for phase in Phase if phase is not Phase.PROGRESSING],
    )
    def test_destroy_forgets_what_was_live_and_says_which_revision_it_was(self, phase, now):
        """From any settled phase, what was live is cleared and named in the event."""
        deployment = lived_in(phase, drift=DriftState.DRIFTED)

        deployment.destroy(now=now)

        assert deployment.applied_revision is None
        assert deployment.applied_fingerprint is None
        assert deployment.endpoint is None
        assert deployment.drift is DriftState.NONE
        assert (deployment.reason, deployment.message) == ("Destroyed", "removed from the provider")
        assert deployment.pull_events() == [
            events.DeploymentDestroyed(deployment="orders", occurred_at=now, revision=OLD)
        ]

    def test_destroying_a_never_applied_deployment_names_no_revision(self, now):
        """Removing a deployment that never went live names no revision."""
        deployment = make_deployment(Phase.FAILED)

        deployment.destroy(now=now)

        assert deployment.pull_events() == [
            events.DeploymentDestroyed(deployment="orders", occurred_at=now, revision=None)
        ]

    def test_destroy_is_refused_while_an_apply_is_in_flight(self, now):
        """An apply in flight could recreate what was removed, so destroy must wait."""
        deployment = lived_in(Phase.PROGRESSING)
        before = state_of(deployment)

        with pytest.raises(InvalidTransitionError) as caught:
            deployment.destroy(now=now)

        assert (caught.value.source, caught.value.target) == (Phase.PROGRESSING, "Destroyed")
        assert state_of(deployment) == before


class TestPullEvents:
    """Handing events over to be published after the aggregate is saved."""

    def test_pull_events_hands_over_events_in_order_and_forgets_them(self, now):
        """Events come out in the order they happened and are never published twice."""
        deployment = make_deployment(Phase.PENDING)
        deployment.request(
            spec=SPEC,
            revision=NEW,
            fingerprint=NEW_FINGERPRINT,
            manifest_path="manifests/orders.yaml",
            reason="NewRevision",
            now=now,
        )
        deployment.fail(reason="ApplyFailed", message="timeout", now=now)

        first = deployment.pull_events()
        second = deployment.pull_events()

        assert [type(event) for event in first] == [
            events.DeploymentRequested,
            events.DeploymentFailed,
        ]
        assert second == []
        assert deployment.pending_events == []

    def test_new_deployment_has_no_events(self):
        """Creating the record is not an event of its own."""
        assert Deployment(name="orders").pull_events() == []


@pytest.mark.parametrize(
    ("automatic", "expected"),
    [
        pytest.param(True, NEW_FINGERPRINT, id="automatic-keeps-the-failed-inputs"),
        pytest.param(False, OLD_FINGERPRINT, id="revert-takes-the-reverted-inputs"),
    ],
)
def test_rollback_records_which_inputs_were_last_asked_for(automatic, expected, now):
    """After an automatic rollback the failing commit is not retried until Git changes."""
    deployment = lived_in(Phase.FAILED, attempted_fingerprint=NEW_FINGERPRINT)
    deployment.start_rollback(
        to=OLD,
        spec=SPEC,
        fingerprint=OLD_FINGERPRINT,
        reverted=None,
        restored=OLD,
        automatic=automatic,
        reason="Rollback",
        now=now,
    )
    assert deployment.attempted_fingerprint == expected
