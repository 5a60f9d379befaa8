"""Small builders of domain values for the domain tests: valid by default, one change at a time."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any

from reconciler.domain.model import AppliedRevision, Deployment
from reconciler.domain.status import Phase
from reconciler.domain.values import (
    ApiGateway,
    ApiKind,
    DeploymentSpec,
    Fingerprint,
    Provider,
    RestRoute,
    Revision,
    Runtime,
    SecretRef,
    ServerlessFunction,
)


def make_revision(label: str) -> Revision:
    """A valid 40-hex commit id, the same for the same label."""
    return Revision(hashlib.sha256(label.encode()).hexdigest()[:40])


def make_fingerprint(label: str) -> Fingerprint:
    """A fingerprint that stands for one applied state, the same for the same label."""
    return Fingerprint(hashlib.sha256(f"fingerprint:{label}".encode()).hexdigest())


def make_spec(**changes: Any) -> DeploymentSpec:
    """A small REST API on AWS; `changes` replace any of its fields."""
    spec = DeploymentSpec(
        name="orders",
        kind=ApiKind.REST,
        provider=Provider.AWS,
        region="eu-west-1",
        function=ServerlessFunction(
            runtime=Runtime.PYTHON_3_12,
            handler="orders.handler",
            source="functions/orders",
            environment=(("TABLE", "orders"), ("DB_PASSWORD", SecretRef("orders-db"))),
        ),
        gateway=ApiGateway(
            kind=ApiKind.REST,
            routes=(RestRoute.parse("GET /orders"), RestRoute.parse("POST /orders/{id}")),
        ),
    )
    return replace(spec, **changes)


def applied(label: str, *, at: datetime, rollback_of: Revision | None = None) -> AppliedRevision:
    """A history entry for the revision and fingerprint named `label`."""
    return AppliedRevision(make_revision(label), make_fingerprint(label), at, rollback_of)


def make_deployment(phase: Phase = Phase.PENDING, **changes: Any) -> Deployment:
    """A deployment called `orders` in `phase`, with no history unless `changes` give one."""
    return Deployment(name="orders", phase=phase, **changes)
