"""JSON codecs for what `SqliteStore` keeps: deployments, domain events and drift findings.

Pure functions between domain values and JSON-ready dicts; the store does the I/O. Keys are
the Python field names. Decoding tolerates records written by older versions: a missing
optional field keeps its default and a key the code does not know is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.domain.drift import DriftFinding
from reconciler.domain.events import DomainEvent
from reconciler.domain.model import AppliedRevision, Deployment
from reconciler.domain.status import DriftState, Phase
from reconciler.domain.values import (
    ApiGateway,
    ApiKind,
    Cors,
    DeploymentSpec,
    DriftPolicy,
    EnvValue,
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

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

JsonObject = dict[str, Any]
_Decoder = Callable[[Any], Any]
_T = TypeVar("_T")
_R = TypeVar("_R")


def to_json(data: object) -> str:
    """Serialise a codec's output to text for one column."""
    # Free-form values (drift values from a provider, provider options) that JSON cannot hold
    # degrade to their text: a drift check or a save must not fail over how a value prints.
    return json.dumps(data, ensure_ascii=False, default=str)


# --- helpers ----------------------------------------------------------------------------------


def _maybe(convert: Callable[[_T], _R], value: _T | None) -> _R | None:
    return None if value is None else convert(value)


def _optional(decode: _Decoder) -> _Decoder:
    return lambda value: None if value is None else decode(value)


def _same(value: object) -> object:
    return value


def _present(data: Mapping[str, Any], decoders: Mapping[str, _Decoder]) -> JsonObject:
    # Only the keys the record has: every other field keeps its dataclass default.
    return {key: decode(data[key]) for key, decode in decoders.items() if key in data}


def _strings(values: Iterable[object]) -> tuple[str, ...]:
    return tuple(str(value) for value in values)


# --- the spec ---------------------------------------------------------------------------------


def encode_spec(spec: DeploymentSpec) -> JsonObject:
    """Everything a spec holds; a secret is written as its reference, `{"secretRef": name}`."""
    function, gateway = spec.function, spec.gateway
    return {
        "name": spec.name,
        "kind": spec.kind.value,
        "provider": spec.provider.value,
        "region": spec.region,
        "function": {
            "runtime": function.runtime.value,
            "handler": function.handler,
            "source": function.source,
            "memory_mb": function.memory_mb,
            "timeout_seconds": function.timeout_seconds,
            "environment": {name: _encode_env(value) for name, value in function.environment},
        },
        "gateway": {
            "kind": gateway.kind.value,
            "routes": list(gateway.route_keys),
            "stage": gateway.stage,
            "cors": _maybe(_fields_of, gateway.cors),
            "route_selection_expression": gateway.route_selection_expression,
        },
        "labels": dict(spec.labels),
        "health_check": _maybe(_fields_of, spec.health_check),
        "policy": _fields_of(spec.policy),
        "provider_options": spec.provider_options,
    }


def _encode_env(value: EnvValue) -> str | JsonObject:
    # The manifest's own spelling of a reference: the value itself is never in the spec.
    return {"secretRef": value.name} if isinstance(value, SecretRef) else value


def decode_spec(data: Mapping[str, Any]) -> DeploymentSpec:
    """Rebuild a spec written by `encode_spec`, by this version or an older one."""
    return DeploymentSpec(
        name=str(data["name"]),
        kind=ApiKind(data["kind"]),
        provider=Provider(data["provider"]),
        function=_decode_function(data["function"]),
        gateway=_decode_gateway(data["gateway"]),
        **_present(data, _SPEC_FIELDS),
    )


def _decode_function(data: Mapping[str, Any]) -> ServerlessFunction:
    return ServerlessFunction(
        runtime=Runtime(data["runtime"]),
        handler=str(data["handler"]),
        source=str(data["source"]),
        **_present(data, _FUNCTION_FIELDS),
    )


def _decode_env(value: object) -> EnvValue:
    return SecretRef(str(value["secretRef"])) if isinstance(value, dict) else str(value)


def _decode_gateway(data: Mapping[str, Any]) -> ApiGateway:
    kind = ApiKind(data["kind"])
    # A route is stored as its key; which parser rebuilds it depends on the kind of API.
    parse: Callable[[str], RestRoute | WebSocketRoute] = (
        RestRoute.parse if kind is ApiKind.REST else WebSocketRoute.parse
    )
    return ApiGateway(
        kind=kind,
        routes=tuple(parse(str(key)) for key in data["routes"]),
        **_present(data, _GATEWAY_FIELDS),
    )


_FUNCTION_FIELDS: Mapping[str, _Decoder] = {
    "memory_mb": int,
    "timeout_seconds": int,
    "environment": lambda env: tuple((str(name), _decode_env(v)) for name, v in env.items()),
}
_CORS_FIELDS: Mapping[str, _Decoder] = {
    "allow_origins": _strings,
    "allow_methods": _strings,
    "allow_headers": _strings,
    "expose_headers": _strings,
    "allow_credentials": bool,
    "max_age_seconds": int,
}
_GATEWAY_FIELDS: Mapping[str, _Decoder] = {
    "stage": str,
    "cors": _optional(lambda cors: Cors(**_present(cors, _CORS_FIELDS))),
    "route_selection_expression": _same,
}
_SPEC_FIELDS: Mapping[str, _Decoder] = {
    "region": _same,
    "labels": lambda labels: tuple((str(key), str(value)) for key, value in labels.items()),
    "health_check": _optional(
        lambda check: HealthCheck(**_present(check, {"path": str, "expect_status": int}))
    ),
    "policy": lambda policy: Policy(**_present(policy, _POLICY_FIELDS)),
    "provider_options": dict,
}
_POLICY_FIELDS: Mapping[str, _Decoder] = {
    "suspend": bool,
    "prune": bool,
    "drift": DriftPolicy,
    "auto_rollback": bool,
}


# --- the deployment ---------------------------------------------------------------------------


def encode_deployment(deployment: Deployment) -> JsonObject:
    """The whole record of `deployment`; its pending events are not part of it."""
    d = deployment
    return {
        "name": d.name,
        "spec": _maybe(encode_spec, d.spec),
        "applied_spec": _maybe(encode_spec, d.applied_spec),
        "manifest_path": d.manifest_path,
        "phase": d.phase.value,
        "desired_revision": _maybe(str, d.desired_revision),
        "attempted_revision": _maybe(str, d.attempted_revision),
        "applied_revision": _maybe(str, d.applied_revision),
        "applied_fingerprint": _maybe(str, d.applied_fingerprint),
        "attempted_fingerprint": _maybe(str, d.attempted_fingerprint),
        "failures": d.failures,
        "next_attempt_at": _maybe(datetime.isoformat, d.next_attempt_at),
        "reason": d.reason,
        "message": d.message,
        "drift": d.drift.value,
        "drift_reported": d.drift_reported,
        "endpoint": d.endpoint,
        "history": [_fields_of(entry) for entry in d.history],
    }


def decode_deployment(data: Mapping[str, Any]) -> Deployment:
    """Rebuild a deployment written by `encode_deployment`, by this version or an older one."""
    return Deployment(name=str(data["name"]), **_present(data, _DEPLOYMENT_FIELDS))


def _decode_applied(data: Mapping[str, Any]) -> AppliedRevision:
    return AppliedRevision(
        revision=Revision(data["revision"]),
        fingerprint=Fingerprint(data["fingerprint"]),
        applied_at=datetime.fromisoformat(data["applied_at"]),
        rollback_of=_maybe(Revision, data.get("rollback_of")),
    )


_DEPLOYMENT_FIELDS: Mapping[str, _Decoder] = {
    "spec": _optional(decode_spec),
    "applied_spec": _optional(decode_spec),
    "manifest_path": _same,
    "phase": Phase,
    "desired_revision": _optional(Revision),
    "attempted_revision": _optional(Revision),
    "applied_revision": _optional(Revision),
    "applied_fingerprint": _optional(Fingerprint),
    "attempted_fingerprint": _optional(Fingerprint),
    "failures": int,
    "next_attempt_at": _optional(datetime.fromisoformat),
    "reason": str,
    "message": str,
    "drift": DriftState,
    "drift_reported": bool,
    "endpoint": _same,
    "history": lambda entries: [_decode_applied(entry) for entry in entries],
}


# --- drift findings and events ----------------------------------------------------------------


def encode_finding(finding: DriftFinding) -> JsonObject:
    """One finding; a secret one was masked when it was built, so its values are the mask."""
    return _fields_of(finding)


def decode_finding(data: Mapping[str, Any]) -> DriftFinding:
    """Rebuild a finding written by `encode_finding`."""
    return DriftFinding(
        resource=str(data["resource"]),
        path=str(data["path"]),
        desired=data.get("desired"),
        live=data.get("live"),
        secret=bool(data.get("secret", False)),
    )


def encode_event(event: DomainEvent) -> JsonObject:
    """The event's type name under `type`, then every field of it as a JSON-ready value."""
    return {"type": event.name, **_fields_of(event)}


def _fields_of(value: DataclassInstance) -> JsonObject:
    # Flat values (events, findings, history entries, CORS, health check, policy) need no
    # hand-written encoder.
    return {field.name: _plain(getattr(value, field.name)) for field in fields(value)}


def _plain(value: object) -> object:
    match value:
        case Revision() | Fingerprint():
            return str(value)  # the sha, the hex digest
        case datetime():
            return value.isoformat()
        case Enum():
            return value.value
        case DriftFinding():
            return encode_finding(value)
        case tuple() | list():
            return [_plain(item) for item in value]
        case _:
            return value
