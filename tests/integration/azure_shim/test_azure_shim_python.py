"""The Python shim's adapter, run for real on recorded Azure trigger payloads."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import (
    CE_TOKEN,
    CLOUD_EVENT_CASES,
    HANDLERS,
    NOW,
    REFUSED_CASES,
    REQUEST_ID,
    REST_CONFIG,
    WS_CONFIG,
    WS_ROUTES,
    assert_answer,
    assert_same_event,
    cloud_event,
    load,
    local_rest_event,
)

from reconciler.adapters.local.gateway import rest, wsevents


@dataclass
class FakeHttpRequest:
    """An `azure.functions.HttpRequest` as the Python v2 model exposes it."""

    method: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, str]
    route_params: Mapping[str, str]
    body: bytes = field(default=b"")

    def get_body(self) -> bytes:
        return self.body


def recorded_request(url: str | None = None, **changes: Any) -> FakeHttpRequest:
    raw = load("python_http_request.json")
    raw["body"] = raw["body"].encode()
    if url is not None:
        raw["url"] = url
    raw.update(changes)
    return FakeHttpRequest(**raw)


def handler_from(adapter):
    return lambda: adapter.load_handler(HANDLERS, "echo.handler")


def run(adapter, request, route_key="POST /items/{id}"):
    return adapter.handle_http(
        request,
        route_key=route_key,
        config=REST_CONFIG,
        handler=handler_from(adapter),
        now=NOW,
        request_id=REQUEST_ID,
    )


def test_http_trigger_becomes_a_payload_2_0_event(python_shim):
    adapter, _ = python_shim
    event = adapter.http_event(
        recorded_request(),
        route_key="POST /items/{id}",
        config=REST_CONFIG,
        request_id=REQUEST_ID,
        now=NOW,
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/live/items/42"
    assert event["rawQueryString"] == "tag=a&tag=b&q=x%20y"
    assert event["headers"]["x-custom"] == "one, two"
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "x y"}
    assert event["pathParameters"] == {"id": "42"}
    assert json.loads(event["body"]) == {"action": "create", "name": "caf\u00e9"}
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["sourceIp"] == "203.0.113.7"


def test_binary_body_is_sent_in_base64(python_shim):
    adapter, _ = python_shim
    event = adapter.http_event(
        recorded_request(body=b"\xff\x00"),
        route_key="$default",
        config=REST_CONFIG,
        request_id=REQUEST_ID,
        now=NOW,
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00"


def test_default_route_keeps_azure_catch_all_out_of_path_parameters(python_shim):
    adapter, _ = python_shim
    request = recorded_request(route_params={"path": "a/b"})
    event = adapter.http_event(
        request, route_key="$default", config=REST_CONFIG, request_id=REQUEST_ID, now=NOW
    )
    assert "pathParameters" not in event


def test_structured_result_becomes_the_azure_response(python_shim):
    adapter, _ = python_shim
    response = run(adapter, recorded_request())
    assert response.status == 201
    assert ("set-cookie", "a=1") in response.headers
    assert ("set-cookie", "b=2; Path=/") in response.headers
    assert ("x-remaining-positive", "true") in response.headers
    assert ("x-n", "5") in response.headers
    echoed = json.loads(response.body)  # decoded from the result's base64
    assert echoed["routeKey"] == "POST /items/{id}"


@pytest.mark.parametrize(
    ("mode", "status", "body"),
    [
        pytest.param("bare", 200, b'{"hello": "w\\u00f6rld", "n": [1, 2]}', id="object"),
        pytest.param("string", 200, b"plain", id="string"),
        pytest.param("fail", 502, b'{"message":"Internal Server Error"}', id="exception"),
    ],
)
def test_bare_results_and_exceptions_answer_as_api_gateway(python_shim, mode, status, body):
    adapter, _ = python_shim
    response = run(adapter, recorded_request(url=f"https://h/live/items/42?mode={mode}"))
    assert (response.status, response.body) == (status, body)
    assert response.headers == [("content-type", "application/json")]


def test_same_handler_sees_the_same_event_on_the_local_cloud_and_on_azure(python_shim):
    """The shim's event equals the local cloud's for the same request, field by field."""
    adapter, _ = python_shim
    raw = load("python_http_request.json")
    shim_event = adapter.http_event(
        recorded_request(),
        route_key="POST /items/{id}",
        config=REST_CONFIG,
        request_id=REQUEST_ID,
        now=NOW,
    )
    local = local_rest_event(
        method="POST",
        url_path="/items/42",
        raw_query="tag=a&tag=b&q=x%20y",
        headers=list(raw["headers"].items()),
        body=raw["body"].encode(),
    )
    local["requestContext"]["http"]["sourceIp"] = "203.0.113.7"
    assert_same_event(shim_event, local)
    user = adapter.load_handler(HANDLERS, "echo.handler")
    for mode in ("bare", "string"):
        local_event = {**local, "queryStringParameters": {"mode": mode}}
        expected = rest.to_http_response(user(local_event, None))
        got = run(adapter, recorded_request(url=f"https://h/live/items/42?mode={mode}"))
        assert (got.status, got.headers, got.body) == (
            expected.status,
            expected.headers,
            expected.body,
        )


def ws(websocket, adapter, name: str) -> Any:
    return websocket.handle_web_pubsub(
        load(name),
        config=WS_CONFIG,
        handler=handler_from(adapter),
        context=adapter.make_context(WS_CONFIG, REQUEST_ID),
        now=NOW,
        request_id=REQUEST_ID,
    )


def test_connect_runs_dollar_connect_and_accepts(python_shim):
    adapter, websocket = python_shim
    event = websocket.connect_event(
        load("webpubsub_connect.json"), config=WS_CONFIG, request_id=REQUEST_ID, now=NOW
    )
    assert event["requestContext"]["eventType"] == "CONNECT"
    assert event["requestContext"]["routeKey"] == "$connect"
    assert event["requestContext"]["connectionId"] == "conn-1"
    assert event["queryStringParameters"] == {"token": "ok", "room": "b"}
    assert event["multiValueQueryStringParameters"]["room"] == ["a", "b"]
    assert ws(websocket, adapter, "webpubsub_connect.json") == {}


def test_connect_refused_by_the_handler_is_a_web_pubsub_error(python_shim):
    adapter, websocket = python_shim
    request = load("webpubsub_connect.json")
    request["query"] = {"token": ["bad"]}
    answer = websocket.handle_web_pubsub(
        request, config=WS_CONFIG, handler=handler_from(adapter), context=None, now=NOW
    )
    assert answer == {"code": "unauthorized", "errorMessage": "Forbidden"}


def test_user_message_is_routed_by_the_selection_expression(python_shim):
    adapter, websocket = python_shim
    answer = ws(websocket, adapter, "webpubsub_message.json")
    assert answer == {
        "data": json.dumps({"route": "join", "echo": '{"action":"join","room":"a"}'}),
        "dataType": "text",
    }
    event = websocket.message_event(
        load("webpubsub_message.json"),
        route_key="join",
        config=WS_CONFIG,
        request_id=REQUEST_ID,
        now=NOW,
    )
    assert event["requestContext"]["eventType"] == "MESSAGE"
    assert event["body"] == '{"action":"join","room":"a"}'


def test_unknown_action_falls_to_default_and_failure_sends_an_error_frame(python_shim):
    adapter, websocket = python_shim
    request = load("webpubsub_message.json")
    request["data"] = '{"action":"nope"}'
    answer = websocket.handle_web_pubsub(
        request, config=WS_CONFIG, handler=handler_from(adapter), context=None, now=NOW
    )
    assert json.loads(answer["data"])["route"] == "$default"
    request["data"] = '{"action":"fail"}'
    answer = websocket.handle_web_pubsub(
        request,
        config=WS_CONFIG,
        handler=handler_from(adapter),
        context=None,
        now=NOW,
        request_id="r9",
    )
    assert json.loads(answer["data"]) == {
        "message": "Internal server error",
        "connectionId": "conn-1",
        "requestId": "r9",
    }


def test_disconnected_runs_dollar_disconnect_and_connected_is_ignored(python_shim):
    adapter, websocket = python_shim
    event = websocket.disconnect_event(
        load("webpubsub_disconnected.json"), config=WS_CONFIG, request_id=REQUEST_ID, now=NOW
    )
    assert event["requestContext"]["eventType"] == "DISCONNECT"
    assert event["requestContext"]["routeKey"] == "$disconnect"
    assert event["requestContext"]["disconnectReason"] == "client closed"
    assert ws(websocket, adapter, "webpubsub_disconnected.json") is None
    assert ws(websocket, adapter, "webpubsub_connected.json") is None


def test_websocket_message_event_matches_the_local_cloud(python_shim):
    _, websocket = python_shim
    shim = websocket.message_event(
        load("webpubsub_message.json"),
        route_key="join",
        config=WS_CONFIG,
        request_id=REQUEST_ID,
        now=NOW,
    )
    local = wsevents.message_event(
        route_key="join",
        connection_id="conn-1",
        message_id="m",
        request_id=REQUEST_ID,
        body='{"action":"join","room":"a"}',
        source_ip="",
        stage="live",
        domain_name="orders.webpubsub.azure.com",
        api_id="orders",
        connected_at=NOW,
        now=NOW,
    )
    for name in ("body", "isBase64Encoded"):
        assert shim[name] == local[name]
    for name in (
        "routeKey",
        "eventType",
        "stage",
        "connectionId",
        "apiId",
        "domainName",
        "requestTime",
        "requestTimeEpoch",
        "requestId",
        "messageDirection",
    ):
        assert shim["requestContext"][name] == local["requestContext"][name], name
    expression, body = "$request.body.action", '{"action":"join"}'
    assert websocket.select_route(expression, body, WS_ROUTES) == wsevents.select_route(
        expression, body, WS_ROUTES
    )


# --- the shim's own Web PubSub route (CloudEvents HTTP protocol) -------------------------------


def cloud(
    websocket, adapter, request: dict[str, Any], *, token: str | None = CE_TOKEN, handler=None
):
    answer = websocket.handle_cloud_event(
        {**request, "body": request["body"].encode()},
        token=token,
        config=WS_CONFIG,
        handler=handler or handler_from(adapter),
        context=adapter.make_context(WS_CONFIG, REQUEST_ID),
        now=NOW,
        request_id=REQUEST_ID,
    )
    return answer.status, answer.headers, answer.body


@pytest.mark.parametrize(
    ("request_", "status", "headers", "body"),
    [pytest.param(*case[1:], id=case[0]) for case in CLOUD_EVENT_CASES],
)
def test_cloud_event_requests_are_answered_as_web_pubsub_expects(
    python_shim, request_, status, headers, body
):
    """Each CloudEvents request runs the handler through the WebSocket adapter and maps back."""
    adapter, websocket = python_shim
    assert_answer(cloud(websocket, adapter, request_), status, headers, body)


@pytest.mark.parametrize(
    ("request_", "token"), [pytest.param(*case[1:], id=case[0]) for case in REFUSED_CASES]
)
def test_a_wrong_or_missing_token_is_a_401_and_the_handler_never_runs(python_shim, request_, token):
    """The token in the hub's URL is the only thing between the internet and the handler."""
    adapter, websocket = python_shim
    calls: list[object] = []

    def recording() -> Any:
        calls.append("loaded")
        return lambda event, _context: calls.append(event)

    status, _, _ = cloud(websocket, adapter, request_, token=token, handler=recording)
    assert status == 401
    assert calls == []


def test_the_binary_user_event_reaches_the_handler_in_base64(python_shim):
    """An `application/octet-stream` body is a binary frame: the handler sees it base64-encoded."""
    _, websocket = python_shim
    seen: list[dict[str, Any]] = []

    def recording() -> Any:
        return lambda event, _context: seen.append(event)

    request = cloud_event(
        "webpubsub_ce_message.json", **{"Content-Type": "application/octet-stream"}
    )
    config = {**WS_CONFIG, "routes": ["$default"]}
    answer = websocket.handle_cloud_event(
        {**request, "body": b"\x00\xff"},
        token=CE_TOKEN,
        config=config,
        handler=recording,
        context=None,
        now=NOW,
    )
    assert answer.status == 204
    assert (seen[0]["body"], seen[0]["isBase64Encoded"]) == ("AP8=", True)
    assert seen[0]["requestContext"]["connectionId"] == "conn-1"


def test_token_comparison_is_constant_time_and_exact(python_shim):
    _, websocket = python_shim
    assert websocket.token_matches("abc", "abc")
    assert not websocket.token_matches("abd", "abc")
    assert not websocket.token_matches("", "")
    assert not websocket.token_matches(None, "abc")
