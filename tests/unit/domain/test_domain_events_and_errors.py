"""Domain events name themselves; domain errors carry what a caller needs to explain them."""

from __future__ import annotations

import pytest
from builders import make_revision

from reconciler.domain import events
from reconciler.domain.errors import (
    DomainError,
    InvalidTransitionError,
    InvalidValueError,
    NothingToRollBackError,
)
from reconciler.domain.status import Phase


@pytest.mark.parametrize(
    ("event_type", "fields", "name"),
    [
        pytest.param(events.DriftResolved, {}, "DriftResolved", id="drift-resolved"),
        pytest.param(
            events.DeploymentDestroyed,
            {"revision": make_revision("a")},
            "DeploymentDestroyed",
            id="deployment-destroyed",
        ),
        pytest.param(
            events.ManifestRejected,
            {"file": "manifests/orders.yaml", "message": "1:1: kind: required"},
            "ManifestRejected",
            id="manifest-rejected",
        ),
    ],
)
def test_event_name_is_its_type_name(event_type, fields, name, now):
    """Logs and sinks show events by their class name, with no table to keep in sync."""
    event = event_type(deployment="orders", occurred_at=now, **fields)

    assert event.name == name


def test_invalid_transition_error_names_the_deployment_and_both_phases():
    """The message says which deployment was refused and which move it asked for."""
    error = InvalidTransitionError("orders", Phase.SUSPENDED, Phase.READY)

    assert str(error) == "deployment 'orders' cannot go from Suspended to Ready"
    assert (error.name, error.source, error.target) == ("orders", "Suspended", "Ready")


@pytest.mark.parametrize(
    "error_type",
    [
        pytest.param(InvalidTransitionError, id="invalid-transition"),
        pytest.param(InvalidValueError, id="invalid-value"),
        pytest.param(NothingToRollBackError, id="nothing-to-roll-back"),
    ],
)
def test_every_domain_error_is_a_domain_error(error_type):
    """The application can catch every refusal of the domain with one except clause."""
    assert issubclass(error_type, DomainError)


def test_invalid_value_is_also_a_value_error():
    """Callers at the edge that catch ValueError also catch bad domain values."""
    assert issubclass(InvalidValueError, ValueError)
