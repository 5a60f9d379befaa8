"""Helpers of the Azure shim tests: fixtures on disk, specs and the local cloud's events."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters.local.gateway import rest
from reconciler.adapters.local.gateway.routing import RouteTable

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "azure"
HANDLERS = FIXTURES / "handlers"
SHIM_PYTHON = REPO / "reconciler" / "adapters" / "pulumi" / "azure_shim" / "python"
NOW = datetime(2025, 3, 12, 19, 3, 58, 123000, tzinfo=UTC)
REQUEST_ID = "req-1"
REST_ROUTES = ["GET /items", "POST /items/{id}", "GET /files/{proxy+}", "$default"]
WS_ROUTES = ["$connect", "$disconnect", "$default", "join"]
REST_CONFIG: dict[str, Any] = {
    "apiId": "orders",
    "functionName": "orders",
    "stage": "live",
    "timeoutSeconds": 10,
    "routes": REST_ROUTES,
}
WS_CONFIG: dict[str, Any] = {
    "apiId": "orders",
    "functionName": "orders",
    "stage": "live",
    "timeoutSeconds": 10,
    "routes": WS_ROUTES,
    "routeSelectionExpression": "$request.body.action",
    "domainName": "orders.webpubsub.azure.com",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def local_rest_event(*, method: str, url_path: str, raw_query: str, headers, body: bytes):
    """The event the local cloud builds for the same request (its path without the stage)."""
    request = rest.HttpRequest(
        method=method,
        raw_path=f"/live{url_path}",
        raw_query=raw_query,
        headers=headers,
        body=body,
        source_ip="203.0.113.7",
    )
    route = RouteTable(REST_ROUTES).match(method, url_path)
    assert route is not None
    return rest.build_event(
        request,
        route=route,
        stage="live",
        api_id="orders",
        domain_name="orders-fn.azurewebsites.net",
        request_id=REQUEST_ID,
        now=NOW,
    )


# Every field the local cloud and the shim both define (the shim has no AWS account id).
SHARED_FIELDS = (
    "version",
    "routeKey",
    "rawPath",
    "rawQueryString",
    "cookies",
    "headers",
    "queryStringParameters",
    "pathParameters",
    "body",
    "isBase64Encoded",
)
SHARED_CONTEXT = (
    "apiId",
    "domainName",
    "domainPrefix",
    "http",
    "requestId",
    "routeKey",
    "stage",
    "time",
    "timeEpoch",
)


def assert_same_event(shim: dict[str, Any], local: dict[str, Any]) -> None:
    for name in SHARED_FIELDS:
        assert shim.get(name) == local.get(name), name
    for name in SHARED_CONTEXT:
        assert shim["requestContext"][name] == local["requestContext"][name], name


@pytest.fixture
def python_shim():
    """The Python shim's pure modules, imported as the Function App imports them."""
    sys.path.insert(0, str(SHIM_PYTHON))
    try:
        import reconciler_shim_adapter  # noqa: PLC0415
        import reconciler_shim_websocket  # noqa: PLC0415

        yield reconciler_shim_adapter, reconciler_shim_websocket
    finally:
        sys.path.remove(str(SHIM_PYTHON))


# --- Web PubSub's CloudEvents HTTP protocol, one table for both runtimes -----------------------

CE_TOKEN = "the-token"  # noqa: S105  # a test token, as in the fixtures
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
JOIN_REPLY = {"route": "join", "echo": '{"action":"join","room":"a"}'}


def cloud_event(name: str, *, body: str | None = None, **headers: str) -> dict[str, Any]:
    """A recorded CloudEvents request, its body or some headers replaced."""
    request = load(name)
    if body is not None:
        request["body"] = body
    request["headers"].update(headers)
    return request


def with_query(request: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    return {**request, "query": query}


# (id, request, status, headers, body): a dict body is compared as parsed JSON.
CLOUD_EVENT_CASES = [
    (
        "options-handshake-allows-the-asking-origin",
        cloud_event("webpubsub_ce_options.json"),
        200,
        [("WebHook-Allowed-Origin", "orders.webpubsub.azure.com")],
        b"",
    ),
    (
        "connect-accepted",
        cloud_event("webpubsub_ce_connect.json"),
        200,
        [("content-type", JSON_TYPE)],
        {},
    ),
    (
        "connect-refused-by-the-handler",
        cloud_event(
            "webpubsub_ce_connect.json",
            body=json.dumps({"query": {"token": ["bad"]}, "headers": {}, "claims": {}}),
        ),
        401,
        [("content-type", JSON_TYPE)],
        {"code": "unauthorized", "errorMessage": "Forbidden"},
    ),
    (
        "user-event-routed-by-the-selection-expression",
        cloud_event("webpubsub_ce_message.json"),
        200,
        [("content-type", TEXT_TYPE)],
        JOIN_REPLY,
    ),
    (
        "user-event-falls-to-default",
        cloud_event("webpubsub_ce_message.json", body='{"action":"nope"}'),
        200,
        [("content-type", TEXT_TYPE)],
        {"route": "$default", "echo": '{"action":"nope"}'},
    ),
    (
        "custom-json-event-routed-too",
        cloud_event(
            "webpubsub_ce_message.json",
            **{
                "ce-type": "azure.webpubsub.user.chat",
                "ce-eventName": "chat",
                "Content-Type": JSON_TYPE,
            },
        ),
        200,
        [("content-type", TEXT_TYPE)],
        JOIN_REPLY,
    ),
    ("connected-is-204", cloud_event("webpubsub_ce_connected.json"), 204, [], b""),
    ("disconnected-is-204", cloud_event("webpubsub_ce_disconnected.json"), 204, [], b""),
    (
        "unknown-event-type-is-400",
        cloud_event("webpubsub_ce_connected.json", **{"ce-type": "com.example.other"}),
        400,
        [("content-type", JSON_TYPE)],
        {"message": "Unknown event type"},
    ),
]

# (id, request, the token the app is configured with): each is a 401, the handler never runs.
REFUSED_CASES = [
    ("wrong-token", with_query(load("webpubsub_ce_connect.json"), {"token": "nope"}), CE_TOKEN),
    ("missing-token", with_query(load("webpubsub_ce_connect.json"), {}), CE_TOKEN),
    ("empty-token", with_query(load("webpubsub_ce_connect.json"), {"token": ""}), CE_TOKEN),
    (
        "options-wrong-token",
        with_query(load("webpubsub_ce_options.json"), {"token": "x"}),
        CE_TOKEN,
    ),
    ("no-token-configured", load("webpubsub_ce_connect.json"), None),
]


def assert_answer(
    got: tuple[int, list[tuple[str, str]], bytes], status: int, headers: Any, body: Any
) -> None:
    assert (got[0], got[1]) == (status, headers)
    assert (json.loads(got[2]) if isinstance(body, dict) else got[2]) == body
