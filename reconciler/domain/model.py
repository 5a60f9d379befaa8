"""The `Deployment` aggregate: one API's status, revisions and history, changed only by its methods.

Every method checks the transition table in `status`, updates the record and appends a domain
event; the application saves the aggregate and then publishes `pull_events()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reconciler.domain import events
from reconciler.domain.drift import DriftFinding
from reconciler.domain.errors import InvalidTransitionError, NothingToRollBackError
from reconciler.domain.status import DriftState, Phase, can_transition
from reconciler.domain.values import DeploymentSpec, Fingerprint, Revision

HISTORY_LIMIT = 50
"""How many applied revisions the aggregate keeps in memory; the store keeps them all."""


@dataclass(frozen=True, slots=True)
class AppliedRevision:
    """A revision that went live, and whether it went live as a rollback."""

    revision: Revision
    fingerprint: Fingerprint
    applied_at: datetime
    rollback_of: Revision | None = None


@dataclass(eq=False)
class Deployment:
    """One deployment (a function plus its gateway) as the reconciler knows it."""

    name: str
    spec: DeploymentSpec | None = None
    """The spec of the latest attempt."""
    applied_spec: DeploymentSpec | None = None
    """The spec that is live: its `prune` decides what removing the manifest does."""
    manifest_path: str | None = None
    """Where the manifest was read, repository-relative."""
    phase: Phase = Phase.PENDING
    desired_revision: Revision | None = None
    attempted_revision: Revision | None = None
    applied_revision: Revision | None = None
    applied_fingerprint: Fingerprint | None = None
    attempted_fingerprint: Fingerprint | None = None
    """The inputs of the latest attempt: unchanged inputs never reset backoff or a stall."""
    failures: int = 0
    next_attempt_at: datetime | None = None
    reason: str = "Created"
    message: str = ""
    drift: DriftState = DriftState.NONE
    drift_reported: bool = False
    """A DriftDetected went out and no DriftResolved yet; survives checks that fail."""
    endpoint: str | None = None
    history: list[AppliedRevision] = field(default_factory=list)
    pending_events: list[events.DomainEvent] = field(default_factory=list, repr=False)
    """Events appended since the last `pull_events()`."""

    # --- applying ---------------------------------------------------------------------------

    def request(  # noqa: PLR0913  # one attempt is all of these facts together
        self,
        *,
        spec: DeploymentSpec,
        revision: Revision,
        fingerprint: Fingerprint,
        manifest_path: str | None,
        reason: str,
        now: datetime,
    ) -> None:
        """Start applying `spec` as of `revision`."""
        self._move(Phase.PROGRESSING, reason=reason, message=f"applying {revision.short}")
        self.spec = spec
        self.manifest_path = manifest_path
        self.desired_revision = revision
        self.attempted_revision = revision
        self.attempted_fingerprint = fingerprint
        self.next_attempt_at = None
        self._record(
            events.DeploymentRequested(
                deployment=self.name, occurred_at=now, revision=revision, reason=reason
            )
        )

    def succeed(self, *, fingerprint: Fingerprint, endpoint: str | None, now: datetime) -> None:
        """Record that the attempted revision is live and healthy."""
        revision = self._attempted(Phase.READY)
        self._move(Phase.READY, reason="Applied", message=f"serving {revision.short}")
        self._went_live(revision, fingerprint=fingerprint, endpoint=endpoint, now=now)
        self._record(
            events.DeploymentSucceeded(
                deployment=self.name,
                occurred_at=now,
                revision=revision,
                fingerprint=fingerprint,
                endpoint=endpoint,
            )
        )

    def fail(
        self, *, reason: str, message: str, now: datetime, retry_at: datetime | None = None
    ) -> None:
        """Record a failed attempt; whatever was applied before keeps serving."""
        self._move(Phase.FAILED, reason=reason, message=message)
        self.failures += 1
        self.next_attempt_at = retry_at
        self._record_failure(events.DeploymentFailed, reason=reason, message=message, now=now)

    def stall(self, *, reason: str, message: str, now: datetime) -> None:
        """Stop retrying until the deployment's inputs change."""
        self._move(Phase.STALLED, reason=reason, message=message)
        self.next_attempt_at = None
        self._record_failure(events.DeploymentStalled, reason=reason, message=message, now=now)

    def reject_manifest(self, *, file: str, message: str, now: datetime) -> None:
        """Record that the manifest could not be read; nothing live is touched."""
        self._move(Phase.FAILED, reason="ManifestRejected", message=message)
        self._record(
            events.ManifestRejected(
                deployment=self.name, occurred_at=now, file=file, message=message
            )
        )

    # --- rolling back -----------------------------------------------------------------------

    def start_rollback(  # noqa: PLR0913  # a rollback is all of these facts together
        self,
        *,
        to: Revision,
        spec: DeploymentSpec,
        fingerprint: Fingerprint,
        reverted: Revision | None,
        restored: Revision | None,
        automatic: bool,
        reason: str,
        now: datetime,
    ) -> None:
        """Begin applying `to` as a rollback.

        `reverted` is the commit being undone and `restored` the earlier revision whose state
        `to` brings back, when known. The revision rolled back from is the latest attempted
        one: the one that failed its health check, or the one serving when a revert arrives.
        """
        from_revision = self.attempted_revision
        self._move(Phase.PROGRESSING, reason=reason, message=f"rolling back to {to.short}")
        self.spec = spec
        self.attempted_revision = to
        if not automatic:
            # A revert is what Git asks for now. An automatic rollback keeps the failed
            # attempt's fingerprint, so the same failing inputs are not tried again.
            self.attempted_fingerprint = fingerprint
        self._record(
            events.RollbackStarted(
                deployment=self.name,
                occurred_at=now,
                from_revision=from_revision,
                to_revision=to,
                reverted=reverted,
                restored=restored,
                automatic=automatic,
                reason=reason,
            )
        )

    def complete_rollback(  # noqa: PLR0913  # a finished rollback is all of these facts
        self,
        *,
        fingerprint: Fingerprint,
        endpoint: str | None,
        reverted: Revision | None,
        restored: Revision | None,
        automatic: bool,
        now: datetime,
    ) -> None:
        """Record that the rollback target serves again.

        An automatic rollback leaves the deployment Degraded (it runs an older revision than
        Git asks for); a rollback by `git revert` is what Git asks for, so it is Ready.
        """
        target = Phase.DEGRADED if automatic else Phase.READY
        revision = self._attempted(target)
        if automatic:
            self._move(
                Phase.DEGRADED,
                reason="RolledBack",
                message=f"serving {revision.short} after an automatic rollback",
            )
        else:
            self._move(Phase.READY, reason="RolledBack", message=f"serving {revision.short}")
        self._went_live(
            revision, fingerprint=fingerprint, endpoint=endpoint, now=now, rollback_of=reverted
        )
        self._record(
            events.RollbackCompleted(
                deployment=self.name,
                occurred_at=now,
                to_revision=revision,
                reverted=reverted,
                restored=restored,
                automatic=automatic,
            )
        )

    def last_good(self) -> AppliedRevision:
        """The revision serving now, the one an automatic rollback returns to."""
        if not self.history:
            raise NothingToRollBackError(f"deployment {self.name!r} has never been applied")
        return self.history[-1]

    def previous_applied(self) -> AppliedRevision:
        """The latest applied revision before the one serving now."""
        current = self.applied_revision
        for entry in reversed(self.history):
            if entry.revision != current:
                return entry
        raise NothingToRollBackError(f"deployment {self.name!r} has no earlier applied revision")

    def applied_with(self, fingerprint: Fingerprint) -> AppliedRevision | None:
        """The latest history entry that went live with `fingerprint`, if any."""
        for entry in reversed(self.history):
            if entry.fingerprint == fingerprint:
                return entry
        return None

    # --- suspension, drift, removal ---------------------------------------------------------

    def suspend(self) -> None:
        """Stop reconciling; live infrastructure is left as it is (no event: nothing changed)."""
        self._move(Phase.SUSPENDED, reason="Suspended", message="reconciliation is suspended")

    def resume(self) -> None:
        """Reconcile again from the next tick on."""
        self._move(Phase.PENDING, reason="Resumed", message="waiting for the next tick")

    def observe_drift(self, findings: tuple[DriftFinding, ...], *, now: datetime) -> None:
        """Record a drift check; events fire only when drift appears or clears."""
        drifted = bool(findings)
        if drifted and not self.drift_reported:
            self._record(
                events.DriftDetected(deployment=self.name, occurred_at=now, findings=findings)
            )
        elif not drifted and self.drift_reported:
            self._record(events.DriftResolved(deployment=self.name, occurred_at=now))
        self.drift = DriftState.DRIFTED if drifted else DriftState.NONE
        self.drift_reported = drifted

    def drift_unknown(self) -> None:
        """Record that drift could not be checked; what was reported before still stands."""
        self.drift = DriftState.UNKNOWN

    def destroy(self, *, now: datetime) -> None:
        """Record that everything the deployment had live was removed.

        The aggregate keeps its history for the event; the application then deletes the record.
        """
        if self.phase is Phase.PROGRESSING:
            raise InvalidTransitionError(self.name, self.phase, "Destroyed")
        revision = self.applied_revision
        self.applied_revision = None
        self.applied_fingerprint = None
        self.endpoint = None
        self.drift, self.drift_reported = DriftState.NONE, False
        self.reason, self.message = "Destroyed", "removed from the provider"
        self._record(
            events.DeploymentDestroyed(deployment=self.name, occurred_at=now, revision=revision)
        )

    def pull_events(self) -> list[events.DomainEvent]:
        """Hand over the events appended since the last call, and forget them."""
        pulled, self.pending_events = self.pending_events, []
        return pulled

    # --- internals --------------------------------------------------------------------------

    def _move(self, target: Phase, *, reason: str, message: str) -> None:
        if not can_transition(self.phase, target):
            raise InvalidTransitionError(self.name, self.phase, target)
        self.phase, self.reason, self.message = target, reason, message

    def _attempted(self, target: Phase) -> Revision:
        if self.attempted_revision is None:
            raise InvalidTransitionError(self.name, self.phase, target)
        return self.attempted_revision

    def _went_live(
        self,
        revision: Revision,
        *,
        fingerprint: Fingerprint,
        endpoint: str | None,
        now: datetime,
        rollback_of: Revision | None = None,
    ) -> None:
        self.applied_revision = revision
        self.applied_fingerprint = fingerprint
        self.applied_spec = self.spec
        self.endpoint = endpoint
        self.failures = 0
        self.next_attempt_at = None
        entry = AppliedRevision(revision, fingerprint, now, rollback_of)
        self.history = [*self.history, entry][-HISTORY_LIMIT:]

    def _record(self, event: events.DomainEvent) -> None:
        self.pending_events.append(event)

    def _record_failure(
        self, kind: type[events.AttemptFailure], *, reason: str, message: str, now: datetime
    ) -> None:
        self._record(
            kind(
                deployment=self.name,
                occurred_at=now,
                revision=self.attempted_revision,
                reason=reason,
                message=message,
                failures=self.failures,
            )
        )
