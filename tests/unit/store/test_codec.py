"""The store's JSON codecs: deployments and specs round-trip, events and findings become JSON."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from builders import BARE_SPEC, REST_SPEC, WEBSOCKET_SPEC
from builders import make_fingerprint as fingerprint
from builders import make_revision as revision

from reconciler.adapters.store.codec import (
    decode_deployment,
    decode_finding,
    decode_spec,
    encode_deployment,
    encode_event,
    encode_finding,
    encode_spec,
    to_json,
)
from reconciler.domain import events
from reconciler.domain.drift import SECRET_MASK, DriftFinding
from reconciler.domain.model import AppliedRevision, Deployment
from reconciler.domain.status import DriftState, Phase
from reconciler.domain.values import (
    Cors,
    DeploymentSpec,
    HealthCheck,
    Policy,
)

NOW = datetime(2025, 11, 26, 7, 0, tzinfo=UTC)


SPECS = [
    pytest.param(REST_SPEC, id="rest-api-with-every-option"),
    pytest.param(WEBSOCKET_SPEC, id="websocket-api"),
    pytest.param(BARE_SPEC, id="spec-with-only-required-fields"),
]


def lived_in(spec: DeploymentSpec) -> Deployment:
    """A deployment with every field away from its default, so a forgotten one shows."""
    return Deployment(
        name=spec.name,
        spec=spec,
        applied_spec=replace(spec, region="us-east-1"),
        manifest_path="deploy/orders.yaml",
        phase=Phase.DEGRADED,
        desired_revision=revision("new"),
        attempted_revision=revision("attempted"),
        applied_revision=revision("old"),
        applied_fingerprint=fingerprint("old"),
        attempted_fingerprint=fingerprint("attempted"),
        failures=2,
        next_attempt_at=NOW + timedelta(seconds=90),
        reason="RolledBack",
        message="serving old after an automatic rollback",
        drift=DriftState.DRIFTED,
        drift_reported=True,
        endpoint="https://orders.example.test/v1",
        history=[
            AppliedRevision(revision("older"), fingerprint("older"), NOW - timedelta(days=1)),
            AppliedRevision(
                revision("old"),
                fingerprint("old"),
                NOW.astimezone(timezone(timedelta(hours=2))),
                rollback_of=revision("bad"),
            ),
        ],
    )


def record_of(deployment: Deployment) -> dict[str, object]:
    """Every field of the aggregate: it compares by identity, so tests compare its fields."""
    return {field.name: getattr(deployment, field.name) for field in fields(deployment)}


class TestSpecCodec:
    """A spec round-trips whole, and a secret is written only as a reference to it."""

    @pytest.mark.parametrize("spec", SPECS)
    def test_spec_survives_a_round_trip_through_json(self, spec):
        encoded = json.loads(to_json(encode_spec(spec)))

        assert decode_spec(encoded) == spec

    def test_secret_is_written_as_a_reference_by_name(self):
        environment = encode_spec(REST_SPEC)["function"]["environment"]

        assert environment == {"TABLE": "orders", "DB_PASSWORD": {"secretRef": "orders-db"}}

    def test_routes_are_written_as_their_keys(self):
        assert encode_spec(REST_SPEC)["gateway"]["routes"] == [
            "GET /orders",
            "POST /orders/{id}",
            "$default",
        ]

    def test_spec_written_with_only_required_keys_takes_the_defaults(self):
        """An older version wrote fewer keys; every missing one is a default, not an error."""
        minimal = {
            "name": "bare",
            "kind": "RestApi",
            "provider": "local",
            "function": {"runtime": "python3.11", "handler": "h.main", "source": "src"},
            "gateway": {"kind": "RestApi", "routes": ["GET /"]},
        }

        assert decode_spec(minimal) == BARE_SPEC

    def test_options_written_in_full_take_their_defaults_too(self):
        """Nested blocks written empty (CORS, health check, policy) fall back field by field."""
        encoded = encode_spec(BARE_SPEC) | {"health_check": {}, "policy": {}}
        encoded["gateway"] |= {"cors": {}}

        decoded = decode_spec(encoded)

        assert decoded.health_check == HealthCheck()
        assert decoded.policy == Policy()
        assert decoded.gateway.cors == Cors()


class TestDeploymentCodec:
    """The whole record of a deployment round-trips; its pending events stay behind."""

    def test_the_lived_in_deployment_sets_every_field_away_from_its_default(self):
        """Guards the round-trip below: a new aggregate field must be set here to be tested."""
        full, blank = record_of(lived_in(REST_SPEC)), record_of(Deployment(name="orders"))
        unset = {name for name in full if full[name] == blank[name]}

        assert unset == {"name", "pending_events"}

    @pytest.mark.parametrize("spec", SPECS)
    def test_every_field_survives_a_round_trip_through_json(self, spec):
        deployment = lived_in(spec)

        decoded = decode_deployment(json.loads(to_json(encode_deployment(deployment))))

        assert record_of(decoded) == record_of(deployment)

    def test_pending_events_are_not_part_of_the_record(self):
        deployment = Deployment(name="orders")
        deployment.request(
            spec=REST_SPEC,
            revision=revision("new"),
            fingerprint=fingerprint("new"),
            manifest_path="deploy/orders.yaml",
            reason="NewRevision",
            now=NOW,
        )

        encoded = encode_deployment(deployment)

        assert "pending_events" not in encoded
        assert decode_deployment(encoded).pending_events == []

    def test_minimal_record_decodes_with_every_default(self):
        """A record from an older version may hold only the name."""
        decoded = decode_deployment({"name": "orders"})

        assert record_of(decoded) == record_of(Deployment(name="orders"))

    def test_keys_this_version_does_not_know_are_ignored(self):
        encoded = encode_deployment(lived_in(REST_SPEC)) | {"written_by": "a future version"}

        assert record_of(decode_deployment(encoded)) == record_of(lived_in(REST_SPEC))

    def test_history_entry_without_a_rollback_field_is_no_rollback(self):
        entry = {
            "revision": revision("old").sha,
            "fingerprint": fingerprint("old").value,
            "applied_at": NOW.isoformat(),
        }

        decoded = decode_deployment({"name": "orders", "history": [entry]})

        assert decoded.history == [AppliedRevision(revision("old"), fingerprint("old"), NOW)]


class TestDriftFindingCodec:
    """Findings round-trip; a secret one was masked when built, so only the mask is written."""

    @pytest.mark.parametrize(
        "finding",
        [
            pytest.param(DriftFinding("lambda:orders", "memorySize", 128, 256), id="numbers"),
            pytest.param(DriftFinding("api:orders", "routes", ["GET /"], None), id="list-vs-null"),
            pytest.param(
                DriftFinding("lambda:orders", "environment.DB", "hunter2", "letmein", secret=True),
                id="secret-masked",
            ),
        ],
    )
    def test_finding_survives_a_round_trip_through_json(self, finding):
        assert decode_finding(json.loads(to_json(encode_finding(finding)))) == finding

    def test_secret_finding_is_written_masked(self):
        finding = DriftFinding("lambda:orders", "environment.DB", "hunter2", "letmein", secret=True)

        assert encode_finding(finding) == {
            "resource": "lambda:orders",
            "path": "environment.DB",
            "desired": SECRET_MASK,
            "live": SECRET_MASK,
            "secret": True,
        }

    def test_finding_without_values_or_secret_flag_decodes_as_plain(self):
        decoded = decode_finding({"resource": "api:orders", "path": "stage"})

        assert decoded == DriftFinding("api:orders", "stage", None, None, secret=False)

    def test_value_json_cannot_hold_is_written_as_its_text(self):
        """A provider may report a value JSON has no type for; the write must not fail."""
        assert json.loads(to_json({"live": NOW})) == {"live": "2025-11-26 07:00:00+00:00"}


SHA = revision("new").sha
EARLIER = revision("old").sha
FINGERPRINT = fingerprint("new").value
AT = "2025-11-26T07:00:00+00:00"


class TestEventCodec:
    """An event becomes its type name and its fields, each as plain JSON."""

    @pytest.mark.parametrize(
        ("event", "expected"),
        [
            pytest.param(
                events.DeploymentRequested(
                    deployment="orders", occurred_at=NOW, revision=revision("new"), reason="New"
                ),
                {"revision": SHA, "reason": "New"},
                id="revision-as-sha",
            ),
            pytest.param(
                events.DeploymentSucceeded(
                    deployment="orders",
                    occurred_at=NOW,
                    revision=revision("new"),
                    fingerprint=fingerprint("new"),
                    endpoint=None,
                ),
                {"revision": SHA, "fingerprint": FINGERPRINT, "endpoint": None},
                id="fingerprint-as-hex",
            ),
            pytest.param(
                events.DeploymentFailed(
                    deployment="orders",
                    occurred_at=NOW,
                    revision=None,
                    reason="ApplyFailed",
                    message="boom",
                    failures=3,
                ),
                {"revision": None, "reason": "ApplyFailed", "message": "boom", "failures": 3},
                id="failure-count",
            ),
            pytest.param(
                events.DriftDetected(
                    deployment="orders",
                    occurred_at=NOW,
                    findings=(
                        DriftFinding("lambda:orders", "memorySize", 128, 256),
                        DriftFinding("lambda:orders", "environment.DB", "x", "y", secret=True),
                    ),
                ),
                {
                    "findings": [
                        {
                            "resource": "lambda:orders",
                            "path": "memorySize",
                            "desired": 128,
                            "live": 256,
                            "secret": False,
                        },
                        {
                            "resource": "lambda:orders",
                            "path": "environment.DB",
                            "desired": SECRET_MASK,
                            "live": SECRET_MASK,
                            "secret": True,
                        },
                    ]
                },
                id="findings-as-dicts",
            ),
            pytest.param(
                events.RollbackStarted(
                    deployment="orders",
                    occurred_at=NOW,
                    from_revision=revision("new"),
                    to_revision=revision("old"),
                    reverted=None,
                    automatic=True,
                    reason="HealthCheckFailed",
                ),
                {
                    "from_revision": SHA,
                    "to_revision": EARLIER,
                    "reverted": None,
                    "restored": None,
                    "automatic": True,
                    "reason": "HealthCheckFailed",
                },
                id="rollback-flags",
            ),
            pytest.param(
                events.DriftResolved(deployment="orders", occurred_at=NOW), {}, id="no-fields"
            ),
        ],
    )
    def test_event_is_its_type_name_and_plain_fields(self, event, expected):
        encoded = encode_event(event)

        assert encoded == {
            "type": type(event).__name__,
            "deployment": "orders",
            "occurred_at": AT,
            **expected,
        }
        assert json.loads(to_json(encoded)) == encoded
