"""Builders of domain values for tests: valid by default, one change at a time.

Shared by the domain, store and application tests (pytest puts this folder on the path).
"""

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
    Cors,
    DeploymentSpec,
    DriftPolicy,
    Fingerprint,
    HealthCheck,
    Policy,
    Provider,
    RestRoute,
    Revision,
    Runtime,
    SecretRef,
    ServerlessFunction,
    WebSocketRoute,
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


# Specs that use every option a spec has (a secret reference among them), and none.

REST_SPEC = DeploymentSpec(
    name="orders",
    kind=ApiKind.REST,
    provider=Provider.AWS,
    region="eu-west-1",
    function=ServerlessFunction(
        runtime=Runtime.PYTHON_3_12,
        handler="orders.handler",
        source="functions/orders",
        memory_mb=256,
        timeout_seconds=20,
        environment=(("TABLE", "orders"), ("DB_PASSWORD", SecretRef("orders-db"))),
    ),
    gateway=ApiGateway(
        kind=ApiKind.REST,
        routes=(
            RestRoute.parse("GET /orders"),
            RestRoute.parse("POST /orders/{id}"),
            RestRoute.parse("$default"),
        ),
        stage="v1",
        cors=Cors(
            allow_origins=("https://shop.example",),
            allow_methods=("GET", "POST"),
            allow_headers=("content-type",),
            expose_headers=("x-request-id",),
            allow_credentials=True,
            max_age_seconds=600,
        ),
    ),
    labels=(("team", "payments"), ("tier", "gold")),
    health_check=HealthCheck(path="/orders", expect_status=204),
    policy=Policy(suspend=True, prune=True, drift=DriftPolicy.HEAL, auto_rollback=False),
    provider_options={"aws": {"tags": {"cost-centre": "42"}, "architectures": ["arm64"]}},
)

WEBSOCKET_SPEC = DeploymentSpec(
    name="chat",
    kind=ApiKind.WEBSOCKET,
    provider=Provider.AZURE,
    function=ServerlessFunction(
        runtime=Runtime.NODEJS_22, handler="index.handler", source="functions/chat"
    ),
    gateway=ApiGateway(
        kind=ApiKind.WEBSOCKET,
        routes=tuple(WebSocketRoute.parse(key) for key in ("$connect", "$default", "send")),
        route_selection_expression="$request.body.action",
    ),
)

BARE_SPEC = DeploymentSpec(
    name="bare",
    kind=ApiKind.REST,
    provider=Provider.LOCAL,
    function=ServerlessFunction(runtime=Runtime.PYTHON_3_11, handler="h.main", source="src"),
    gateway=ApiGateway(kind=ApiKind.REST, routes=(RestRoute.parse("GET /"),)),
)


def rest_spec(name: str = "orders") -> DeploymentSpec:
    """The REST spec with every option, under another name."""
    return replace(REST_SPEC, name=name)


def websocket_spec(name: str = "chat") -> DeploymentSpec:
    """The WebSocket spec, under another name."""
    return replace(WEBSOCKET_SPEC, name=name)
