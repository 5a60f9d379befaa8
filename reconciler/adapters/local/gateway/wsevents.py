"""WebSocket APIs: the events API Gateway sends a function, and what it tells callers.

Used by the local host's WebSocket handler: route selection for an incoming message, the
CONNECT, MESSAGE and DISCONNECT events of a Lambda proxy integration, how a function's result
is read back, and the `@connections` answers of the API Gateway Management API.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from reconciler.adapters.local.gateway.rest import (
    JSON_TYPE,
    HttpResponse,
    epoch_millis,
    request_time,
)

DEFAULT_ROUTE = "$default"
_BODY_PREFIX = "$request.body."
_SUCCESS = range(200, 300)
_STATUS_CODES = range(100, 600)


def select_route(expression: str, body: str | bytes, route_keys: Collection[str]) -> str | None:
    """The route a message takes: the custom key the expression selects, else `$default`.

    None means no route at all; the caller is then told `forbidden_message`. Values the
    expression reaches are stringified as API Gateway does (`5` selects a route "5"); a
    binary frame, a body that is not JSON or a missing field selects `$default`.
    """
    if not expression.startswith(_BODY_PREFIX):
        raise ValueError(f"unsupported route selection expression {expression!r}")
    fallback = DEFAULT_ROUTE if DEFAULT_ROUTE in route_keys else None
    if isinstance(body, bytes):
        return fallback
    try:
        value: Any = json.loads(body)
    except (ValueError, RecursionError):  # nesting too deep for the parser is not JSON to us
        return fallback
    for field in expression.removeprefix(_BODY_PREFIX).split("."):
        if not isinstance(value, dict) or field not in value:
            return fallback
        value = value[field]
    key = _stringified(value)
    # Predefined keys ($connect, ...) are never selected by what a caller writes.
    if key is not None and not key.startswith("$") and key in route_keys:
        return key
    return fallback


def _stringified(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return None  # null, objects and arrays can never spell a route key


def connect_event(  # noqa: PLR0913  # API Gateway's request context needs every one of these
    *,
    connection_id: str,
    request_id: str,
    headers: Sequence[tuple[str, str]],
    raw_query: str,
    source_ip: str,
    stage: str,
    domain_name: str,
    api_id: str,
    now: datetime,
) -> dict[str, Any]:
    """The `$connect` event: the upgrade request's headers and query, as format 1.0 carries them."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    user_agent = None
    for name, value in headers:
        single[name] = value  # names keep their case; the last repeat wins, as on AWS
        multi.setdefault(name, []).append(value)
        if name.lower() == "user-agent":
            user_agent = value
    event: dict[str, Any] = {"headers": single, "multiValueHeaders": multi}
    query = parse_qsl(raw_query, keep_blank_values=True)
    if query:
        event["queryStringParameters"] = dict(query)
        multi_query: dict[str, list[str]] = {}
        for name, value in query:
            multi_query.setdefault(name, []).append(value)
        event["multiValueQueryStringParameters"] = multi_query
    event["requestContext"] = _context(
        route_key="$connect",
        event_type="CONNECT",
        request_id=request_id,
        connection_id=connection_id,
        identity=_identity(source_ip, user_agent),
        stage=stage,
        domain_name=domain_name,
        api_id=api_id,
        connected_at=now,
        now=now,
    )
    event["isBase64Encoded"] = False
    return event


def message_event(  # noqa: PLR0913  # API Gateway's request context needs every one of these
    *,
    route_key: str,
    connection_id: str,
    message_id: str,
    request_id: str,
    body: str | bytes,
    source_ip: str,
    stage: str,
    domain_name: str,
    api_id: str,
    connected_at: datetime,
    now: datetime,
    user_agent: str | None = None,
) -> dict[str, Any]:
    """A message event: the frame as `body`, base64-encoded when it was a binary frame."""
    if isinstance(body, bytes):  # a binary frame stays binary even when its bytes read as UTF-8
        text, encoded = base64.b64encode(body).decode("ascii"), True
    else:
        text, encoded = body, False
    context = _context(
        route_key=route_key,
        event_type="MESSAGE",
        request_id=request_id,
        connection_id=connection_id,
        identity=_identity(source_ip, user_agent),
        stage=stage,
        domain_name=domain_name,
        api_id=api_id,
        connected_at=connected_at,
        now=now,
        extra={"messageId": message_id},
    )
    return {"requestContext": context, "body": text, "isBase64Encoded": encoded}


def disconnect_event(  # noqa: PLR0913  # API Gateway's request context needs every one of these
    *,
    connection_id: str,
    request_id: str,
    source_ip: str,
    stage: str,
    domain_name: str,
    api_id: str,
    connected_at: datetime,
    now: datetime,
    status_code: int,
    reason: str,
    user_agent: str | None = None,
) -> dict[str, Any]:
    """The `$disconnect` event, with the close code and reason the connection ended with."""
    # AWS sends these four headers, values and case included, on every $disconnect event.
    headers = {"Host": domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = _context(
        route_key="$disconnect",
        event_type="DISCONNECT",
        request_id=request_id,
        connection_id=connection_id,
        identity=_identity(source_ip, user_agent),
        stage=stage,
        domain_name=domain_name,
        api_id=api_id,
        connected_at=connected_at,
        now=now,
        extra={"disconnectStatusCode": status_code, "disconnectReason": reason},
    )
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def _identity(source_ip: str, user_agent: str | None) -> dict[str, str]:
    identity = {"sourceIp": source_ip}
    if user_agent is not None:
        identity["userAgent"] = user_agent
    return identity


def _context(  # noqa: PLR0913  # the request context has this many independent parts
    *,
    route_key: str,
    event_type: str,
    request_id: str,
    connection_id: str,
    identity: dict[str, str],
    stage: str,
    domain_name: str,
    api_id: str,
    connected_at: datetime,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "routeKey": route_key,
        **(extra or {}),
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": epoch_millis(connected_at),
        "requestTimeEpoch": epoch_millis(now),
        "identity": identity,
        "requestId": request_id,
        "domainName": domain_name,
        "connectionId": connection_id,
        "apiId": api_id,
    }


def route_reply(payload: object) -> str | None:
    """What a route sends back to its caller: a result's `body`, a bare string, or other JSON."""
    if isinstance(payload, dict) and "statusCode" in payload:
        payload = payload.get("body")
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload
    return json.dumps(payload)


def connect_accepted(payload: object) -> int | None:
    """None when a `$connect` result accepts the connection, else the status it is refused with.

    A result without `statusCode` accepts; a 2xx accepts; any other status refuses with that
    status; a `statusCode` that is not an HTTP status refuses with 502, a bad integration reply.
    """
    if not isinstance(payload, dict) or "statusCode" not in payload:
        return None
    status = payload["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or status not in _STATUS_CODES:
        return 502
    return None if status in _SUCCESS else status


def connection_info(
    *, connected_at: datetime, last_active_at: datetime, source_ip: str, user_agent: str | None
) -> dict[str, Any]:
    """The body of `GET @connections/{id}`, in the Management API's wire names."""
    return {
        "connectedAt": _iso8601(connected_at),
        "identity": _identity(source_ip, user_agent),
        "lastActiveAt": _iso8601(last_active_at),
    }


def gone_error() -> HttpResponse:
    """The Management API's answer about a connection that no longer exists.

    410 with no JSON body, as SDK error reports against AWS show; SDKs take the error type from
    `x-amzn-ErrorType`, so boto3 raises `GoneException` here as it does against AWS.
    """
    return HttpResponse(
        410, [("content-type", JSON_TYPE), ("x-amzn-ErrorType", "GoneException")], b""
    )


def error_message(message: str, *, connection_id: str, request_id: str) -> str:
    """An error frame as API Gateway sends it to a WebSocket caller, spacing included."""
    return (
        f'{{"message": {json.dumps(message)}, "connectionId":{json.dumps(connection_id)},'
        f' "requestId":{json.dumps(request_id)}}}'
    )


def forbidden_message(*, connection_id: str, request_id: str) -> str:
    """What a caller is sent when its message matches no route and there is no `$default`."""
    return error_message("Forbidden", connection_id=connection_id, request_id=request_id)


def _iso8601(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
