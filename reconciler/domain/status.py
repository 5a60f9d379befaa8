"""Status vocabulary of a deployment: its phase, its drift state, which phase may follow which."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a deployment stands in its lifecycle."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    READY = "Ready"
    FAILED = "Failed"
    STALLED = "Stalled"
    SUSPENDED = "Suspended"
    DEGRADED = "Degraded"


class DriftState(StrEnum):
    """Whether live infrastructure still matches what was applied."""

    NONE = "None"
    DRIFTED = "Drifted"
    UNKNOWN = "Unknown"


_P = Phase

# Every allowed move, read as "from this phase the deployment may go to these".
# Failed -> Failed records one more failed attempt. An apply whose health check fails goes
# Progressing -> Failed, then Failed -> Progressing for the automatic rollback.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.PENDING: frozenset({_P.PROGRESSING, _P.FAILED, _P.SUSPENDED}),
    _P.PROGRESSING: frozenset({_P.READY, _P.FAILED, _P.STALLED, _P.DEGRADED}),
    _P.READY: frozenset({_P.PROGRESSING, _P.FAILED, _P.SUSPENDED}),
    _P.FAILED: frozenset({_P.PROGRESSING, _P.FAILED, _P.STALLED, _P.SUSPENDED}),
    _P.STALLED: frozenset({_P.PROGRESSING, _P.FAILED, _P.SUSPENDED}),
    _P.SUSPENDED: frozenset({_P.PENDING}),
    _P.DEGRADED: frozenset({_P.PROGRESSING, _P.FAILED, _P.SUSPENDED}),
}


def can_transition(source: Phase, target: Phase) -> bool:
    """Return whether the transition table allows moving from `source` to `target`."""
    return target in TRANSITIONS[source]
