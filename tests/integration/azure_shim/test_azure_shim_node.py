"""The Node shim's adapter, run for real with `node` on recorded Azure trigger payloads."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
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
    assert_answer,
    assert_same_event,
    cloud_event,
    load,
    local_rest_event,
)

from reconciler.adapters.local.gateway import rest

DRIVER = Path(__file__).with_name("driver.cjs")
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def node(op: str, request: Any, **extra: Any) -> Any:
    command = {
        "op": op,
        "request": request,
        "config": REST_CONFIG,
        "routeKey": "POST /items/{id}",
        "root": str(HANDLERS),
        "handler": "echo.handler",
        "requestId": REQUEST_ID,
        "now": NOW.isoformat().replace("+00:00", "Z"),
        **extra,
    }
    done = subprocess.run(
        ["node", str(DRIVER)],
        input=json.dumps(command),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def request(mode: str | None = None, **changes: Any) -> dict[str, Any]:
    raw = load("node_http_request.json")
    if mode is not None:
        raw["url"] = f"https://orders-fn.azurewebsites.net/live/items/42?mode={mode}"
    raw.update(changes)
    return raw


def test_http_trigger_becomes_a_payload_2_0_event():
    event = node("event", request())
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/live/items/42"
    assert event["rawQueryString"] == "tag=a&tag=b&q=x%20y"
    assert event["headers"]["x-custom"] == "one, two"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "x y"}
    assert event["pathParameters"] == {"id": "42"}
    assert json.loads(event["body"]) == {"action": "create", "name": "caf\u00e9"}
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"


def test_same_handler_sees_the_same_event_on_the_local_cloud_and_on_azure():
    """The Node shim's event equals the local cloud's for the same request, field by field."""
    raw = load("node_http_request.json")
    local = local_rest_event(
        method="POST",
        url_path="/items/42",
        raw_query="tag=a&tag=b&q=x%20y",
        headers=[tuple(pair) for pair in raw["headers"]],
        body=raw["body"].encode(),
    )
    assert_same_event(node("event", request()), local)


def test_structured_result_becomes_the_azure_response():
    response = node("http", request())
    assert response["status"] == 201
    headers = [tuple(pair) for pair in response["headers"]]
    assert ("set-cookie", "a=1") in headers
    assert ("set-cookie", "b=2; Path=/") in headers
    assert ("x-remaining-positive", "true") in headers
    assert ("x-request", REQUEST_ID) in headers
    echoed = json.loads(base64.b64decode(response["body"]))  # the result's base64, decoded
    assert echoed["routeKey"] == "POST /items/{id}"


@pytest.mark.parametrize(
    ("mode", "result"),
    [
        pytest.param("bare", {"hello": "w\u00f6rld", "n": [1, 2]}, id="object"),
        pytest.param("string", "plain", id="string"),
    ],
)
def test_bare_results_answer_exactly_as_the_local_cloud(mode, result):
    response = node("http", request(mode))
    expected = rest.to_http_response(result)
    assert response["status"] == expected.status
    assert [tuple(pair) for pair in response["headers"]] == expected.headers
    assert base64.b64decode(response["body"]) == expected.body


def test_handler_exception_is_a_502():
    response = node("http", request("fail"))
    assert response["status"] == 502
    assert base64.b64decode(response["body"]) == b'{"message":"Internal Server Error"}'


def test_esm_handler_loads_too(tmp_path):
    (tmp_path / "app.mjs").write_text("export const handler = async () => 'esm';\n")
    response = node("http", request(), root=str(tmp_path), handler="app.handler")
    assert base64.b64decode(response["body"]) == b"esm"


def ws(name: str, **changes: Any) -> Any:
    payload = load(name)
    payload.update(changes)
    return node("ws", payload, config=WS_CONFIG)


def test_connect_runs_dollar_connect_and_accepts_or_refuses():
    assert ws("webpubsub_connect.json") == {}
    refused = ws("webpubsub_connect.json", query={"token": ["bad"]})
    assert refused == {"code": "unauthorized", "errorMessage": "Forbidden"}
    event = node(
        "ws-event", load("webpubsub_connect.json"), config=WS_CONFIG, builder="connectEvent"
    )
    assert event["requestContext"]["eventType"] == "CONNECT"
    assert event["requestContext"]["routeKey"] == "$connect"
    assert event["queryStringParameters"] == {"token": "ok", "room": "b"}


def test_user_message_is_routed_and_answered():
    answer = ws("webpubsub_message.json")
    assert answer["dataType"] == "text"
    assert json.loads(answer["data"]) == {"route": "join", "echo": '{"action":"join","room":"a"}'}
    fallback = ws("webpubsub_message.json", data='{"action": 5}')
    assert json.loads(fallback["data"])["route"] == "$default"
    failed = ws("webpubsub_message.json", data='{"action":"fail"}')
    assert json.loads(failed["data"])["message"] == "Internal server error"


def test_disconnected_runs_dollar_disconnect_and_connected_is_ignored():
    event = node(
        "ws-event", load("webpubsub_disconnected.json"), config=WS_CONFIG, builder="disconnectEvent"
    )
    assert event["requestContext"]["eventType"] == "DISCONNECT"
    assert event["requestContext"]["disconnectReason"] == "client closed"
    assert ws("webpubsub_disconnected.json") is None
    assert ws("webpubsub_connected.json") is None


def test_node_and_python_shims_build_the_same_websocket_events(python_shim):
    _, websocket = python_shim
    for builder, python_builder, name in (
        ("connectEvent", websocket.connect_event, "webpubsub_connect.json"),
        ("disconnectEvent", websocket.disconnect_event, "webpubsub_disconnected.json"),
    ):
        from_node = node("ws-event", load(name), config=WS_CONFIG, builder=builder)
        assert from_node == python_builder(
            load(name), config=WS_CONFIG, request_id=REQUEST_ID, now=NOW
        )


# --- the shim's own Web PubSub route (CloudEvents HTTP protocol) -------------------------------


def cloud(request: dict[str, Any], **extra: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    extra.setdefault("token", CE_TOKEN)
    extra.setdefault("config", WS_CONFIG)
    answer = node("cloud-event", request, **extra)
    headers = [(name, value) for name, value in answer["headers"]]
    return answer["status"], headers, base64.b64decode(answer["body"])


@pytest.mark.parametrize(
    ("request_", "status", "headers", "body"),
    [pytest.param(*case[1:], id=case[0]) for case in CLOUD_EVENT_CASES],
)
def test_cloud_event_requests_are_answered_as_web_pubsub_expects(request_, status, headers, body):
    """Each CloudEvents request runs the handler through the WebSocket adapter and maps back."""
    assert_answer(cloud(request_), status, headers, body)


@pytest.mark.parametrize(
    ("request_", "token"), [pytest.param(*case[1:], id=case[0]) for case in REFUSED_CASES]
)
def test_a_wrong_or_missing_token_is_a_401_and_the_handler_never_runs(request_, token, tmp_path):
    """The token in the hub's URL is the only thing between the internet and the handler."""
    marker = tmp_path / "called"
    (tmp_path / "spy.js").write_text(
        "exports.handler = async () => {"
        f" require('node:fs').writeFileSync({json.dumps(str(marker))}, 'x'); return null; }};\n"
    )
    status, _, _ = cloud(request_, token=token, root=str(tmp_path), handler="spy.handler")
    assert status == 401
    assert not marker.exists()


def test_the_binary_user_event_reaches_the_handler_in_base64():
    """An `application/octet-stream` body is a binary frame: the handler sees it base64-encoded."""
    request = cloud_event(
        "webpubsub_ce_message.json", body="AP8=", **{"Content-Type": "application/octet-stream"}
    )
    status, _, body = cloud(request, bodyEncoding="base64")
    assert status == 200
    assert json.loads(body) == {"route": "$default", "echo": "AP8="}


@pytest.mark.parametrize(
    "request_", [pytest.param(case[1], id=case[0]) for case in CLOUD_EVENT_CASES]
)
def test_node_and_python_shims_answer_cloud_events_byte_for_byte_alike(python_shim, request_):
    """Same request, same status, headers and body from both runtimes' adapters."""
    adapter, websocket = python_shim
    answer = websocket.handle_cloud_event(
        {**request_, "body": request_["body"].encode()},
        token=CE_TOKEN,
        config=WS_CONFIG,
        handler=lambda: adapter.load_handler(HANDLERS, "echo.handler"),
        context=adapter.make_context(WS_CONFIG, REQUEST_ID),
        now=NOW,
        request_id=REQUEST_ID,
    )
    status, headers, body = cloud(request_)
    assert (status, headers) == (answer.status, answer.headers)
    if "echo" not in body.decode():  # the echo handlers themselves format JSON differently
        assert body == answer.body
