"""Drift findings mask secrets when built; plans say whether they are empty or destructive."""

from __future__ import annotations

import pytest

from reconciler.domain.changes import Change, ChangeAction, Plan
from reconciler.domain.drift import SECRET_MASK, DriftFinding


class TestDriftFinding:
    """A finding about a secret must never carry it into a log, event or stored row."""

    def test_secret_finding_masks_both_values(self):
        """Both sides are masked at construction, so even repr cannot leak them."""
        finding = DriftFinding(
            resource="lambda:orders",
            path="environment.DB_PASSWORD",
            desired="hunter2",
            live="letmein",
            secret=True,
        )

        assert (finding.desired, finding.live) == (SECRET_MASK, SECRET_MASK)
        assert "hunter2" not in repr(finding)
        assert "letmein" not in repr(finding)

    def test_plain_finding_keeps_both_values(self):
        """Ordinary findings show what was applied and what is live."""
        finding = DriftFinding(resource="lambda:orders", path="memorySize", desired=128, live=256)

        assert (finding.desired, finding.live) == (128, 256)
        assert finding.secret is False


class TestPlan:
    """A plan tells the reconciler whether to apply and whether the apply destroys anything."""

    def test_plan_without_changes_is_empty_and_harmless(self):
        """No changes means live already matches: nothing to apply, nothing lost."""
        plan = Plan()

        assert plan.is_empty
        assert not plan.is_destructive

    @pytest.mark.parametrize(
        ("action", "destructive"),
        [
            pytest.param(ChangeAction.CREATE, False, id="create"),
            pytest.param(ChangeAction.UPDATE, False, id="update"),
            pytest.param(ChangeAction.REPLACE, True, id="replace"),
            pytest.param(ChangeAction.DELETE, True, id="delete"),
        ],
    )
    def test_plan_is_destructive_only_when_it_replaces_or_deletes(self, action, destructive):
        """Creating or updating keeps resources; replacing or deleting loses them."""
        plan = Plan(changes=(Change("lambda:orders", action),))

        assert not plan.is_empty
        assert plan.is_destructive is destructive

    def test_one_destructive_change_among_harmless_ones_makes_the_plan_destructive(self):
        """A single replace is enough to mark the whole plan destructive."""
        plan = Plan(
            changes=(
                Change("lambda:orders", ChangeAction.UPDATE, ("memorySize",)),
                Change("api:orders", ChangeAction.CREATE),
                Change("stage:orders/live", ChangeAction.REPLACE, ("name",)),
            )
        )

        assert plan.is_destructive
