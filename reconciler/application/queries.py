"""Read-only views for people and scripts: status, history. They never change anything."""

from __future__ import annotations

from typing import Any

from reconciler.domain.model import Deployment
from reconciler.ports import HistoryEntry, Store


def status_row(record: Deployment) -> dict[str, Any]:
    """The status of one deployment, with the field names `reconciler status -o json` prints."""
    spec = record.spec or record.applied_spec
    return {
        "name": record.name,
        "kind": spec.kind.value if spec else None,
        "provider": spec.provider.value if spec else None,
        "phase": record.phase.value,
        "desiredRevision": _sha(record.desired_revision),
        "attemptedRevision": _sha(record.attempted_revision),
        "appliedRevision": _sha(record.applied_revision),
        "endpoint": record.endpoint,
        "drift": record.drift.value,
        "failures": record.failures,
        "nextAttemptAt": record.next_attempt_at.isoformat() if record.next_attempt_at else None,
        "reason": record.reason,
        "message": record.message,
        "manifest": record.manifest_path,
    }


def status(store: Store) -> list[dict[str, Any]]:
    """Every deployment's status, by name."""
    return [status_row(record) for record in store.load_all()]


def history_row(entry: HistoryEntry) -> dict[str, Any]:
    """One attempt, with the field names `reconciler history -o json` prints."""
    return {
        "revision": _sha(entry.revision),
        "outcome": entry.outcome,
        "reason": entry.reason,
        "message": entry.message,
        "startedAt": entry.started_at.isoformat(),
        "durationMs": entry.duration_ms,
        "fingerprint": entry.fingerprint.value if entry.fingerprint else None,
        "reverted": _sha(entry.reverted),
        "restored": _sha(entry.restored),
    }


def _sha(revision: object) -> str | None:
    return str(revision) if revision is not None else None
