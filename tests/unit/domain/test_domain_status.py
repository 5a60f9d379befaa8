"""The phase transition table: every (source, target) pair of phases, allowed or not."""

from __future__ import annotations

import itertools

import pytest

from reconciler.domain.status import TRANSITIONS, Phase, can_transition

_P = Phase

# The table as the design states it, written out again so a change to either side is caught.
ALLOWED = {
    _P.PENDING: {_P.PROGRESSING, _P.FAILED, _P.SUSPENDED},
    _P.PROGRESSING: {_P.READY, _P.FAILED, _P.STALLED, _P.DEGRADED},
    _P.READY: {_P.PROGRESSING, _P.FAILED, _P.SUSPENDED},
    _P.FAILED: {_P.PROGRESSING, _P.FAILED, _P.STALLED, _P.SUSPENDED},
    _P.STALLED: {_P.PROGRESSING, _P.FAILED, _P.SUSPENDED},
    _P.SUSPENDED: {_P.PENDING},
    _P.DEGRADED: {_P.PROGRESSING, _P.FAILED, _P.SUSPENDED},
}


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        pytest.param(
            source,
            target,
            target in ALLOWED[source],
            id=f"{source}->{target}:{'allowed' if target in ALLOWED[source] else 'forbidden'}",
        )
        for source, target in itertools.product(Phase, Phase)
    ],
)
def test_can_transition_follows_the_table(source, target, allowed):
    """Each of the 49 (source, target) pairs is allowed exactly when the design says so."""
    assert can_transition(source, target) is allowed


def test_every_phase_has_a_row_in_the_table():
    """A phase missing from the table would make `can_transition` raise KeyError."""
    assert set(TRANSITIONS) == set(Phase)


def test_suspended_deployment_can_only_resume_to_pending():
    """Nothing applies, fails or rolls back while suspended; resuming waits for a tick."""
    assert {target for target in Phase if can_transition(Phase.SUSPENDED, target)} == {
        Phase.PENDING
    }
