"""`decide`: one action and one reason for every situation a deployment can be in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from builders import make_deployment, make_fingerprint, make_revision, make_spec

from reconciler.domain.planning import Action, Desired, RetryPolicy, decide
from reconciler.domain.status import DriftState, Phase
from reconciler.domain.values import DriftPolicy, Policy

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SPEC = make_spec()
A, B = make_fingerprint("a"), make_fingerprint("b")
POLICY = RetryPolicy(max_failures=3)


def wants(fingerprint=A, **policy) -> Desired:
    return Desired(spec=replace(SPEC, policy=Policy(**policy)), fingerprint=fingerprint)


def applied(phase: Phase = Phase.READY, **changes):
    """A deployment that went live with fingerprint A and last attempted `attempted`."""
    fields = {
        "spec": replace(SPEC, policy=Policy()),
        "applied_spec": replace(SPEC, policy=Policy()),
        "applied_revision": make_revision("a"),
        "applied_fingerprint": A,
        "attempted_fingerprint": A,
    } | changes
    return make_deployment(phase, **fields)


PRUNED = replace(SPEC, policy=Policy(prune=True))


@pytest.mark.parametrize(
    ("desired", "record", "action", "reason"),
    [
        pytest.param(None, None, Action.SKIP, "NotDeployed", id="removed-never-seen"),
        pytest.param(
            None, make_deployment(Phase.FAILED), Action.SKIP, "NotDeployed", id="removed-never-live"
        ),
        pytest.param(None, applied(), Action.SKIP, "ManifestRemovedKept", id="removed-prune-off"),
        pytest.param(
            None,
            applied(applied_spec=PRUNED),
            Action.DESTROY,
            "ManifestRemoved",
            id="removed-prune-on",
        ),
        pytest.param(wants(suspend=True), applied(), Action.SKIP, "Suspended", id="suspended"),
        pytest.param(wants(), None, Action.APPLY, "New", id="first-seen"),
        pytest.param(
            wants(),
            make_deployment(Phase.FAILED),
            Action.APPLY,
            "New",
            id="rejected-before-any-attempt",
        ),
        pytest.param(
            wants(), applied(Phase.SUSPENDED), Action.APPLY, "Resumed", id="suspension-lifted"
        ),
        pytest.param(
            wants(), applied(Phase.PROGRESSING), Action.APPLY, "Interrupted", id="interrupted-apply"
        ),
        pytest.param(
            wants(B),
            applied(
                applied_revision=None,
                applied_fingerprint=None,
                attempted_fingerprint=A,
                phase=Phase.FAILED,
            ),
            Action.APPLY,
            "New",
            id="new-inputs-never-applied",
        ),
        pytest.param(
            wants(B, prune=True), applied(), Action.APPLY, "SpecChanged", id="spec-changed"
        ),
        pytest.param(wants(B), applied(), Action.APPLY, "SourceChanged", id="source-changed"),
        pytest.param(
            wants(B),
            applied(Phase.STALLED, attempted_fingerprint=A, failures=3),
            Action.APPLY,
            "SourceChanged",
            id="new-commit-unstalls",
        ),
        pytest.param(
            wants(B),
            applied(Phase.FAILED, failures=2, next_attempt_at=NOW + timedelta(hours=1)),
            Action.APPLY,
            "SourceChanged",
            id="new-commit-resets-backoff",
        ),
        pytest.param(wants(), applied(), Action.SKIP, "InSync", id="in-sync"),
        pytest.param(
            wants(), applied(drift=DriftState.DRIFTED), Action.SKIP, "InSync", id="drifted-report"
        ),
        pytest.param(
            wants(drift=DriftPolicy.HEAL),
            applied(drift=DriftState.DRIFTED),
            Action.APPLY,
            "HealDrift",
            id="drifted-heal",
        ),
        pytest.param(
            wants(B),
            applied(Phase.DEGRADED, attempted_fingerprint=B),
            Action.SKIP,
            "RolledBack",
            id="degraded-waits",
        ),
        pytest.param(
            wants(B),
            applied(Phase.STALLED, attempted_fingerprint=B),
            Action.SKIP,
            "Stalled",
            id="stalled",
        ),
        pytest.param(
            wants(B),
            applied(Phase.FAILED, attempted_fingerprint=B, failures=3),
            Action.STALL,
            "TooManyFailures",
            id="too-many-failures",
        ),
        pytest.param(
            wants(B),
            applied(
                Phase.FAILED,
                attempted_fingerprint=B,
                failures=1,
                next_attempt_at=NOW + timedelta(seconds=1),
            ),
            Action.SKIP,
            "BackingOff",
            id="backing-off",
        ),
        pytest.param(
            wants(B),
            applied(Phase.FAILED, attempted_fingerprint=B, failures=1, next_attempt_at=NOW),
            Action.APPLY,
            "Retry",
            id="backoff-over",
        ),
        pytest.param(
            wants(B),
            applied(Phase.FAILED, attempted_fingerprint=B, failures=1, next_attempt_at=None),
            Action.APPLY,
            "Retry",
            id="failed-without-backoff",
        ),
        pytest.param(wants(), applied(Phase.PENDING), Action.APPLY, "Pending", id="pending"),
    ],
)
def test_decision_table(desired, record, action, reason):
    decision = decide(desired=desired, record=record, now=NOW, policy=POLICY)
    assert (decision.action, decision.reason) == (action, reason)
    assert decision.message


@pytest.mark.parametrize(
    ("failures", "spread", "seconds"),
    [
        pytest.param(1, 0.0, 10, id="first"),
        pytest.param(2, 0.0, 30, id="second"),
        pytest.param(3, 0.0, 90, id="third"),
        pytest.param(20, 0.0, 3600, id="capped"),
        pytest.param(1, 1.0, 11, id="jitter-up"),
        pytest.param(1, -1.0, 9, id="jitter-down"),
        pytest.param(1, 7.0, 11, id="spread-clamped"),
        pytest.param(0, 0.0, 10, id="no-failures-yet"),
    ],
)
def test_backoff_grows_by_three_and_is_capped(failures, spread, seconds):
    assert RetryPolicy().delay(failures, spread=spread) == timedelta(seconds=seconds)
