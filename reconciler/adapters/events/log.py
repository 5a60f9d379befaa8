"""Domain events as structured log lines: the drift reports and rollback lines people read.

Each event becomes one line named after it (`drift_detected`, `rollback_started`, ...); a
completed rollback is the `rollback` line, with the reverted commit and the restored revision.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields

import structlog

from reconciler.domain import events
from reconciler.domain.drift import DriftFinding
from reconciler.domain.values import Fingerprint, Revision

log = structlog.get_logger("reconciler.events")

_NAMES: dict[type[events.DomainEvent], str] = {events.RollbackCompleted: "rollback"}
_WARNINGS = (events.DeploymentFailed, events.DriftDetected, events.RollbackStarted)
_ERRORS = (events.DeploymentStalled, events.ManifestRejected)


class LogPublisher:
    """Writes every event to the structured log."""

    def publish(self, published: Sequence[events.DomainEvent]) -> None:
        """One line per event, at a level that says how much it matters."""
        for event in published:
            name = _NAMES.get(type(event)) or _snake(event.name)
            fields_ = {f.name: _plain(getattr(event, f.name)) for f in fields(event)}
            fields_.pop("occurred_at")
            if isinstance(event, _ERRORS):
                log.error(name, **fields_)
            elif isinstance(event, _WARNINGS):
                log.warning(name, **fields_)
            else:
                log.info(name, **fields_)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _plain(value: object) -> object:
    if isinstance(value, Revision | Fingerprint):
        return str(value)
    if isinstance(value, tuple) and value and isinstance(value[0], DriftFinding):
        return [
            {"resource": f.resource, "path": f.path, "desired": f.desired, "live": f.live}
            for f in value
        ]
    return value
