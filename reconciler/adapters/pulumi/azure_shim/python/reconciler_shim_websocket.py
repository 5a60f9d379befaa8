"""Web PubSub events in, API Gateway WebSocket events out: the pure WebSocket shim.

Shipped beside `reconciler_shim_adapter.py`; `function_app.py` hands it each request of Web
PubSub's CloudEvents HTTP protocol (`handle_cloud_event`), which becomes the trigger-shaped
payload `handle_web_pubsub` reads. Mirrors the local cloud's `gateway/wsevents.py`.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
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
# The user's handler and the context it gets; the caller builds both with the REST adapter's
# `load_handler` and `make_context`, so this module stands alone (and type-checks alone).
Handler = Callable[[dict[str, object], object], object]


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


def _connection(request: WebPubSubRequest) -> Mapping[str, object]:
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
    connection = _connection(request)
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


def _error_frame(message: str, *, connection_id: str, request_id: str) -> str:
    return (
        f'{{"message": {json.dumps(message)}, "connectionId":{json.dumps(connection_id)},'
        f' "requestId":{json.dumps(request_id)}}}'
    )


def handle_web_pubsub(  # noqa: PLR0913  # the clock and request id are passed in for tests
    request: WebPubSubRequest,
    *,
    config: Mapping[str, object],
    handler: Callable[[], Handler],
    context: object,
    now: datetime,
    request_id: str | None = None,
) -> dict[str, object] | None:
    """Run the user's handler for one Web PubSub event; return the answer to the service."""
    request_id = request_id or str(uuid.uuid4())
    connection = _connection(request)
    event_name = str(connection.get("eventName", "")).lower()
    event_type = str(connection.get("eventType", "")).lower()
    raw_routes = config.get("routes")
    routes = [str(key) for key in raw_routes] if isinstance(raw_routes, list) else []

    def invoke(event: dict[str, object]) -> object:
        return handler()(event, context)

    if event_type == "system" and event_name == "connect":
        if "$connect" not in routes:
            return {}
        try:
            status = connect_rejection(
                invoke(connect_event(request, config=config, request_id=request_id, now=now))
            )
        except Exception:  # noqa: BLE001  # a failing $connect refuses, as API Gateway's 502
            status = 502
        return {} if status is None else {"code": error_code(status), "errorMessage": "Forbidden"}
    if event_type == "system" and event_name == "disconnected":
        # API Gateway ignores what $disconnect returns or raises.
        with contextlib.suppress(Exception):
            if "$disconnect" in routes:
                invoke(disconnect_event(request, config=config, request_id=request_id, now=now))
        return None
    if event_type != "user":
        return None  # `connected` and others have no API Gateway counterpart
    reply = _message_reply(
        request, routes=routes, config=config, invoke=invoke, request_id=request_id, now=now
    )
    return None if reply is None else {"data": reply, "dataType": "text"}


def _message_reply(  # noqa: PLR0913  # the parts of one message's handling
    request: WebPubSubRequest,
    *,
    routes: list[str],
    config: Mapping[str, object],
    invoke: Callable[[dict[str, object]], object],
    request_id: str,
    now: datetime,
) -> str | None:
    expression = str(config.get("routeSelectionExpression") or "$request.body.action")
    connection_id = str(_connection(request).get("connectionId", ""))
    route = select_route(expression, message_body(request), routes)
    if route is None:
        return _error_frame("Forbidden", connection_id=connection_id, request_id=request_id)
    try:
        event = message_event(
            request, route_key=route, config=config, request_id=request_id, now=now
        )
        return route_reply(invoke(event))
    except Exception:  # noqa: BLE001  # the caller gets API Gateway's error frame instead
        return _error_frame(
            "Internal server error", connection_id=connection_id, request_id=request_id
        )


# --- Web PubSub's CloudEvents HTTP protocol -----------------------------------------------------
# https://learn.microsoft.com/azure/azure-web-pubsub/reference-cloud-events

TOKEN_SETTING = "RECONCILER_WEBPUBSUB_TOKEN"  # noqa: S105  # a setting's name, no secret
"""The app setting holding the token the hub's URL carries in `?token=`."""
_CE_PREFIX = "azure.webpubsub."
_JSON_TYPE = "application/json"
_TEXT_TYPE = "text/plain; charset=utf-8"
_DATA_TYPES = {"binary": "application/octet-stream", "json": _JSON_TYPE, "text": _TEXT_TYPE}
_REFUSALS = {"unauthorized": 401, "userError": 400, "serverError": 500}


@dataclass(frozen=True, slots=True)
class WebHookAnswer:
    """What `function_app.py` turns into the HTTP response Web PubSub reads."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def token_matches(given: str | None, expected: str | None) -> bool:
    """Whether `given` is the configured token, compared in constant time; no token, no match."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _answer(status: int, body: object = None, content_type: str = _JSON_TYPE) -> WebHookAnswer:
    if body is None:
        return WebHookAnswer(status, [], b"")
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebHookAnswer(status, [("content-type", content_type)], data)


def trigger_request(headers: Mapping[str, str], body: bytes) -> dict[str, object] | None:
    """The trigger-shaped payload for one CloudEvents POST, or None when `ce-type` is not ours."""
    ce_type = headers.get("ce-type", "")
    kind, _, name = ce_type.removeprefix(_CE_PREFIX).partition(".")
    if not ce_type.startswith(_CE_PREFIX) or kind not in ("sys", "user") or not name:
        return None
    request: dict[str, object] = {
        "connectionContext": {
            "connectionId": headers.get("ce-connectionid", ""),
            "userId": headers.get("ce-userid", ""),
            "hub": headers.get("ce-hub", ""),
            "eventName": headers.get("ce-eventname") or name,
            "eventType": "system" if kind == "sys" else "user",
            "origin": headers.get("webhook-request-origin", ""),
        }
    }
    if kind == "user":
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "application/octet-stream":
            request["data"], request["dataType"] = body, "binary"
        else:
            data_type = "json" if media == _JSON_TYPE else "text"
            request["data"], request["dataType"] = body.decode("utf-8", "replace"), data_type
        return request
    try:
        fields = json.loads(body) if body else {}
    except ValueError:
        fields = {}
    if isinstance(fields, dict):  # connect: claims, query, headers...; disconnected: reason
        request.update({key: value for key, value in fields.items() if key != "connectionContext"})
    return request


def handle_cloud_event(  # noqa: PLR0913  # the clock and request id are passed in for tests
    request: Mapping[str, object],
    *,
    token: str | None,
    config: Mapping[str, object],
    handler: Callable[[], Handler],
    context: object,
    now: datetime,
    request_id: str | None = None,
) -> WebHookAnswer:
    """Answer one request of Web PubSub's CloudEvents HTTP protocol, as the extension would.

    `request` has `method`, `query` (name to value), `headers` and `body` (bytes). A missing or
    wrong `?token=` is a 401 before anything else: the handler never runs.
    """
    raw_query = request.get("query")
    query = raw_query if isinstance(raw_query, Mapping) else {}
    raw_headers = request.get("headers")
    headers = {
        str(name).lower(): str(value)
        for name, value in (raw_headers.items() if isinstance(raw_headers, Mapping) else ())
    }
    given = query.get("token")
    if not token_matches(given if isinstance(given, str) else None, token):
        return _answer(401, {"message": "Unauthorized"})
    method = str(request.get("method", "")).upper()
    if method == "OPTIONS":  # abuse protection: allow the origin that asks
        origin = headers.get("webhook-request-origin") or "*"
        return WebHookAnswer(200, [("WebHook-Allowed-Origin", origin)], b"")
    if method != "POST":
        return _answer(405, {"message": "Method Not Allowed"})
    raw_body = request.get("body")
    body = raw_body if isinstance(raw_body, bytes) else str(raw_body or "").encode()
    payload = trigger_request(headers, body)
    if payload is None:
        return _answer(400, {"message": "Unknown event type"})
    answer = handle_web_pubsub(
        payload,
        config=config,
        handler=handler,
        context=context,
        now=now,
        request_id=request_id,
    )
    return cloud_answer(_connection(payload), answer)


def cloud_answer(
    connection: Mapping[str, object], answer: Mapping[str, object] | None
) -> WebHookAnswer:
    """The HTTP response for what `handle_web_pubsub` answered to one event of `connection`."""
    if connection.get("eventType") == "user":
        if answer is None:
            return _answer(204)
        data_type = str(answer.get("dataType", "text"))
        data = answer.get("data")
        content = data if isinstance(data, bytes) else str(data).encode()
        return _answer(200, content, _DATA_TYPES.get(data_type, _TEXT_TYPE))
    if connection.get("eventName") != "connect":
        return _answer(204)  # connected, disconnected: the service only logs a failure
    if not answer:
        return _answer(200, {})
    return _answer(_REFUSALS.get(str(answer.get("code")), 500), answer)
