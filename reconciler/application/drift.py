"""Drift: ask each engine whether live still matches what was applied, and act on the policy.

`report` records findings and says so in the logs when drift appears or clears (not on every
check); `heal` applies the applied revision again; `ignore` skips the check. Run on its own
schedule by the daemon, and on demand by `reconciler drift`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from reconciler.application import apply
from reconciler.application.reconcile import Reconciler
from reconciler.domain.drift import DriftFinding
from reconciler.domain.model import Deployment
from reconciler.domain.status import DriftState, Phase
from reconciler.domain.values import DriftPolicy
from reconciler.ports import PermanentError, TransientError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DriftResult:
    """One deployment's check."""

    name: str
    findings: tuple[DriftFinding, ...]
    state: DriftState
    healed: bool = False


@dataclass(slots=True)
class DriftChecker:
    """Checks deployments for drift, each on its own jittered schedule."""

    reconciler: Reconciler
    _next_check: dict[str, datetime] = field(default_factory=dict)

    def check(
        self,
        *,
        names: Collection[str] | None = None,
        heal: bool = False,
        due_only: bool = False,
    ) -> list[DriftResult]:
        """Check the named deployments (all when None); `heal` heals whatever policy says."""
        services = self.reconciler.services
        now = services.clock.now()
        results = []
        for record in services.store.load_all():
            if names is not None and record.name not in names:
                continue
            if not _checkable(record, explicit=names is not None):
                continue
            if due_only and now < self._next_check.get(record.name, now):
                continue
            self._next_check[record.name] = now + self._interval()
            with self.reconciler.lock(record.name):
                results.append(self._check_one(record.name, heal=heal))
        return results

    def _interval(self) -> timedelta:
        settings = self.reconciler.services.settings
        return settings.drift_interval * (1 + 0.1 * self.reconciler.services.spread())

    def _check_one(self, name: str, *, heal: bool) -> DriftResult:
        services = self.reconciler.services
        record = services.store.load(name)  # Fresh under the lock: a tick may have changed it.
        if record is None or record.applied_spec is None:
            return DriftResult(name, (), DriftState.NONE)
        try:
            findings = services.engine(record.applied_spec.provider).detect_drift(name)
        except (TransientError, PermanentError) as exc:
            log.warning("drift_check_failed", deployment=name, error=str(exc))
            record.drift_unknown()
            services.commit(record)
            return DriftResult(name, (), DriftState.UNKNOWN)
        now = services.clock.now()
        record.observe_drift(findings, now=now)
        services.store.save_drift(name, findings, checked_at=now)
        services.commit(record)
        healing = heal or record.applied_spec.policy.drift is DriftPolicy.HEAL
        if not findings or not healing or record.phase is not Phase.READY:
            return DriftResult(name, findings, record.drift)
        return self._heal(record, findings)

    def _heal(self, record: Deployment, findings: tuple[DriftFinding, ...]) -> DriftResult:
        """Apply the applied revision again, then look once more to confirm."""
        services = self.reconciler.services
        assert record.applied_revision is not None  # noqa: S101  # only applied records are checked
        wanted = services.reader.read_at(record.applied_revision).wanted.get(record.name)
        if wanted is None:
            log.error("drift_heal_impossible", deployment=record.name)
            return DriftResult(record.name, findings, record.drift)
        outcome = apply.apply(
            services, record, wanted, revision=record.applied_revision, reason="HealDrift"
        )
        healed = outcome.result == "applied"
        if healed:
            after = services.engine(wanted.spec.provider).detect_drift(record.name)
            record.observe_drift(after, now=services.clock.now())
            services.store.save_drift(record.name, after, checked_at=services.clock.now())
            services.commit(record)
            findings = after
        log.info("drift_healed" if healed else "drift_heal_failed", deployment=record.name)
        return DriftResult(record.name, findings, record.drift, healed=healed)


def _checkable(record: Deployment, *, explicit: bool) -> bool:
    """Applied, not suspended, and not `ignore` (unless asked for by name)."""
    if record.applied_spec is None or record.phase is Phase.SUSPENDED:
        return False
    return explicit or record.applied_spec.policy.drift is not DriftPolicy.IGNORE
