"""Web PubSub events in, API Gateway WebSocket events out, and the handler's results back.

Used by `reconciler_shim_websocket.py`, beside it in the Function App's root, to build what the
user's handler sees and to read what it returns; pure, standard library only. Mirrors the local
cloud's `gateway/wsevents.py`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta

DEFAULT_ROUTE = "$default"
_BODY_PREFIX = "$request.body."
_STATUS_CODES = range(100, 600)
_SUCCESS = range(200, 300)
_NO_STATUS = 1005  # the close code for "no status received": Web PubSub reports none
_UNAUTHORIZED = frozenset({401, 403})
_CLIENT_ERRORS = range(400, 500)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

WebPubSubRequest = Mapping[str, object]


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _request_time(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%d}/{_MONTHS[utc.month - 1]}/{utc:%Y:%H:%M:%S} +0000"


def select_route(expression: str, body: str | bytes, route_keys: Collection[str]) -> str | None:
    """The custom route key `$request.body.<field>` selects, else `$default`, else None."""
    if not expression.startswith(_BODY_PREFIX):
        raise ValueError(f"unsupported route selection expression {expression!r}")
    fallback = DEFAULT_ROUTE if DEFAULT_ROUTE in route_keys else None
    if isinstance(body, bytes):
        return fallback
    try:
        value: object = json.loads(body)
    except (ValueError, RecursionError):
        return fallback
    for name in expression.removeprefix(_BODY_PREFIX).split("."):
        if not isinstance(value, dict) or name not in value:
            return fallback
        value = value[name]
    if isinstance(value, str):
        key: str | None = value
    elif isinstance(value, bool | int | float):
        key = json.dumps(value)
    else:
        key = None
    if key is not None and not key.startswith("$") and key in route_keys:
        return key
    return fallback


def connection_context(request: WebPubSubRequest) -> Mapping[str, object]:
    """The request's `connectionContext`: who sent the event, and which event it is."""
    context = request.get("connectionContext")
    return context if isinstance(context, Mapping) else {}


def _first(values: object) -> str | None:
    if isinstance(values, list):
        return str(values[-1]) if values else None
    return None if values is None else str(values)


def _context(  # noqa: PLR0913  # API Gateway's request context has this many parts
    request: WebPubSubRequest,
    *,
    route_key: str,
    event_type: str,
    config: Mapping[str, object],
    request_id: str,
    now: datetime,
    identity: dict[str, str],
    extra: dict[str, object] | None = None,
) -> dict[str, object]:
    connection = connection_context(request)
    return {
        "routeKey": route_key,
        **(extra or {}),
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": _request_time(now),
        "messageDirection": "IN",
        "stage": str(config.get("stage", "")),
        "connectedAt": _millis(now),
        "requestTimeEpoch": _millis(now),
        "identity": identity,
        "requestId": request_id,
        "domainName": str(config.get("domainName", "")),
        "connectionId": str(connection.get("connectionId", "")),
        "apiId": str(config.get("apiId", "")),
    }


def connect_event(
    request: WebPubSubRequest, *, config: Mapping[str, object], request_id: str, now: datetime
) -> dict[str, object]:
    """The `$connect` event for a Web PubSub `connect` request: the client's headers and query."""
    raw_headers = request.get("headers")
    headers = raw_headers if isinstance(raw_headers, Mapping) else {}
    single = {str(name): value for name, v in headers.items() if (value := _first(v)) is not None}
    multi = {str(name): [str(x) for x in v] for name, v in headers.items() if isinstance(v, list)}
    event: dict[str, object] = {"headers": single, "multiValueHeaders": multi}
    raw_query = request.get("query")
    query = raw_query if isinstance(raw_query, Mapping) else {}
    if query:
        event["queryStringParameters"] = {
            str(name): value for name, v in query.items() if (value := _first(v)) is not None
        }
        event["multiValueQueryStringParameters"] = {
            str(name): [str(x) for x in v] for name, v in query.items() if isinstance(v, list)
        }
    lower = {name.lower(): value for name, value in single.items()}
    identity = {"sourceIp": lower.get("x-forwarded-for", "").split(",")[0].strip()}
    if "user-agent" in lower:
        identity["userAgent"] = lower["user-agent"]
    event["requestContext"] = _context(
        request,
        route_key="$connect",
        event_type="CONNECT",
        config=config,
        request_id=request_id,
        now=now,
        identity=identity,
    )
    event["isBase64Encoded"] = False
    return event


def message_body(request: WebPubSubRequest) -> str | bytes:
    """A user message's data: text for `text`/`json`, bytes for `binary` (sent as base64)."""
    data = request.get("data")
    if str(request.get("dataType", "text")).lower() == "binary":
        # The trigger's JSON carries binary data as base64 text.
        return (
            base64.b64decode(data)
            if isinstance(data, str)
            else data
            if isinstance(data, bytes)
            else b""
        )
    if isinstance(data, bytes):
        return data.decode("utf-8")
    return data if isinstance(data, str) else json.dumps(data)


def message_event(
    request: WebPubSubRequest,
    *,
    route_key: str,
    config: Mapping[str, object],
    request_id: str,
    now: datetime,
) -> dict[str, object]:
    """A MESSAGE event for a Web PubSub user event on `route_key`."""
    body = message_body(request)
    if isinstance(body, bytes):
        text, encoded = base64.b64encode(body).decode("ascii"), True
    else:
        text, encoded = body, False
    extra: dict[str, object] = {"messageId": request_id}
    context = _context(
        request,
        route_key=route_key,
        event_type="MESSAGE",
        config=config,
        request_id=request_id,
        now=now,
        identity={"sourceIp": ""},
        extra=extra,
    )
    return {"requestContext": context, "body": text, "isBase64Encoded": encoded}


def disconnect_event(
    request: WebPubSubRequest, *, config: Mapping[str, object], request_id: str, now: datetime
) -> dict[str, object]:
    """The `$disconnect` event, with the reason Web PubSub reports."""
    domain = str(config.get("domainName", ""))
    headers = {"Host": domain, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    extra: dict[str, object] = {
        "disconnectStatusCode": _NO_STATUS,
        "disconnectReason": str(request.get("reason") or ""),
    }
    context = _context(
        request,
        route_key="$disconnect",
        event_type="DISCONNECT",
        config=config,
        request_id=request_id,
        now=now,
        identity={"sourceIp": ""},
        extra=extra,
    )
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def route_reply(payload: object) -> str | None:
    """What a route sends back: a result's `body`, a bare string, or other JSON."""
    if isinstance(payload, dict) and "statusCode" in payload:
        payload = payload.get("body")
    if payload is None:
        return None
    return payload if isinstance(payload, str) else json.dumps(payload)


def connect_rejection(payload: object) -> int | None:
    """None when a `$connect` result accepts, else the status it refuses with."""
    if not isinstance(payload, dict) or "statusCode" not in payload:
        return None
    status = payload["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or status not in _STATUS_CODES:
        return 502
    return None if status in _SUCCESS else status


def error_code(status: int) -> str:
    """The Web PubSub error code that refuses a connection as `status` would."""
    if status in _UNAUTHORIZED:
        return "unauthorized"
    return "userError" if status in _CLIENT_ERRORS else "serverError"


def error_frame(message: str, *, connection_id: str, request_id: str) -> str:
    """The error frame API Gateway sends a client in place of a route's reply."""
    return (
        f'{{"message": {json.dumps(message)}, "connectionId":{json.dumps(connection_id)},'
        f' "requestId":{json.dumps(request_id)}}}'
    )
