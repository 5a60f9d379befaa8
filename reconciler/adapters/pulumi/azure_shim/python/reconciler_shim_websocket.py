"""Web PubSub's CloudEvents HTTP protocol in, the user's handler run as API Gateway would.

Used by `function_app.py`, which hands it each request Web PubSub's hub sends
(`handle_cloud_event`): the token check, the abuse-protection handshake, the answer. In between,
`handle_web_pubsub` runs the user's handler on the events `reconciler_shim_wsevents.py` builds.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from reconciler_shim_wsevents import (
    WebPubSubRequest,
    connect_event,
    connect_rejection,
    connection_context,
    disconnect_event,
    error_code,
    error_frame,
    message_body,
    message_event,
    route_reply,
    select_route,
)

# The event builders too: callers (and the tests) keep importing one WebSocket module.
__all__ = [
    "TOKEN_SETTING",
    "Handler",
    "WebHookAnswer",
    "cloud_answer",
    "connect_event",
    "disconnect_event",
    "handle_cloud_event",
    "handle_web_pubsub",
    "message_event",
    "select_route",
    "token_matches",
    "trigger_request",
]

# The user's handler and the context it gets; the caller builds both with the REST adapter's
# `load_handler` and `make_context`, so neither WebSocket module imports the adapter.
Handler = Callable[[dict[str, object], object], object]


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
    connection = connection_context(request)
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
    connection_id = str(connection_context(request).get("connectionId", ""))
    route = select_route(expression, message_body(request), routes)
    if route is None:
        return error_frame("Forbidden", connection_id=connection_id, request_id=request_id)
    try:
        event = message_event(
            request, route_key=route, config=config, request_id=request_id, now=now
        )
        return route_reply(invoke(event))
    except Exception:  # noqa: BLE001  # the caller gets API Gateway's error frame instead
        return error_frame(
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
    return cloud_answer(connection_context(payload), answer)


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
