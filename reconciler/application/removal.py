"""Taking deployments away, and refusing manifests: destroy a pruned one, reject a broken one."""

from __future__ import annotations

import time

import structlog

from reconciler.application.apply import Outcome
from reconciler.application.services import Services
from reconciler.domain.model import Deployment
from reconciler.domain.status import Phase, can_transition
from reconciler.manifest.errors import ManifestError
from reconciler.ports import HistoryEntry, PermanentError, TransientError

log = structlog.get_logger(__name__)


def destroy(services: Services, record: Deployment) -> Outcome:
    """Remove everything the deployment has live, then forget its record (history stays)."""
    started_at, started = services.clock.now(), time.monotonic()
    provider = record.applied_spec.provider if record.applied_spec else None
    try:
        if provider is not None:
            services.engine(provider).destroy(record.name)
    except (TransientError, PermanentError) as exc:
        # Nothing was removed for sure: keep the record, try again next tick.
        log.warning("destroy_failed", deployment=record.name, error=str(exc))
        return Outcome(record.name, "failed", "DestroyFailed", str(exc))
    revision = record.applied_revision
    record.destroy(now=services.clock.now())
    entry = HistoryEntry(
        deployment=record.name,
        revision=revision,
        fingerprint=None,
        outcome="destroyed",
        reason="ManifestRemoved",
        message="manifest removed and prune is on",
        started_at=started_at,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    services.commit(record, history=entry)
    services.store.delete(record.name)
    return Outcome(record.name, "destroyed", "ManifestRemoved", "removed from the provider")


def reject(
    services: Services, record: Deployment, *, file: str, errors: list[ManifestError]
) -> Outcome:
    """Mark the deployment of a broken manifest Failed with its `file:line:col` errors.

    Nothing live is touched. The same errors on the next tick change nothing and say nothing
    again; a deployment that is suspended or mid-apply keeps its state.
    """
    message = "; ".join(str(error) for error in errors[:5])
    if (
        record.phase is Phase.FAILED
        and record.reason == "ManifestRejected"
        and record.message == message
    ):
        return Outcome(record.name, "skipped", "ManifestRejected", message)
    if not can_transition(record.phase, Phase.FAILED):
        log.warning(
            "manifest_rejected",
            deployment=record.name,
            file=file,
            errors=message,
            phase=record.phase,
        )
        return Outcome(record.name, "skipped", "ManifestRejected", message)
    now = services.clock.now()
    record.reject_manifest(file=file, message=message, now=now)
    record.manifest_path = file
    entry = HistoryEntry(
        deployment=record.name,
        revision=None,
        fingerprint=None,
        outcome="rejected",
        reason="ManifestRejected",
        message=message,
        started_at=now,
        duration_ms=0,
    )
    services.commit(record, history=entry)
    return Outcome(record.name, "rejected", "ManifestRejected", message)
