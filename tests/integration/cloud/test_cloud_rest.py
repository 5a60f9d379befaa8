"""REST APIs on the local cloud: API Gateway payload 2.0 in, API Gateway responses out.

Real host process, real worker processes, a real HTTP client on real loopback ports.
"""

from __future__ import annotations

import base64
import os

import httpx
import pytest
from cloudkit import FUNCTIONS, Cloud

PYTHON_API = """\
apiVersion: reconciler/v1
kind: RestApi
metadata: {name: echo-py}
spec:
  provider: local
  function:
    runtime: python3.11
    handler: app.handler
    source: fn
    timeoutSeconds: 2
    environment:
      GREETING: hello
      API_KEY: {secretRef: ECHO_API_KEY}
  routes:
    - GET /items/{id}
    - POST /items
    - ANY /files/{proxy+}
    - GET /boom
    - GET /slow
    - GET /text
    - GET /cookies
    - GET /binary
  cors:
    allowOrigins: ["https://app.example"]
    allowMethods: [GET, POST]
    allowHeaders: [content-type]
    maxAgeSeconds: 300
"""


@pytest.fixture(scope="module")
def api(local: Cloud) -> str:
    os.environ["RECONCILER_TEST_MARKER"] = "the host's own environment"
    result = local.deploy(
        PYTHON_API, source=FUNCTIONS / "echo-py", secrets={"ECHO_API_KEY": "s3cret-value"}
    )
    assert result.endpoint is not None
    return result.endpoint


def get_json(url: str, **kwargs: object) -> dict:
    response = httpx.get(url, timeout=30, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.json()


class TestEvent:
    def test_path_and_query_parameters_reach_the_handler(self, api: str):
        body = get_json(f"{api}/items/42?tag=a&tag=b&q=x%20y")
        event = body["event"]
        assert event["version"] == "2.0"
        assert event["routeKey"] == "GET /items/{id}"
        assert event["rawPath"] == "/live/items/42"
        assert event["rawQueryString"] == "tag=a&tag=b&q=x%20y"
        assert event["pathParameters"] == {"id": "42"}
        assert event["queryStringParameters"] == {"tag": "a,b", "q": "x y"}
        assert event["requestContext"]["http"]["method"] == "GET"
        assert event["requestContext"]["stage"] == "live"
        assert event["isBase64Encoded"] is False

    def test_greedy_path_takes_the_rest_of_the_path(self, api: str):
        event = get_json(f"{api}/files/a/b/c.txt")["event"]
        assert (event["routeKey"], event["pathParameters"]) == (
            "ANY /files/{proxy+}",
            {"proxy": "a/b/c.txt"},
        )

    def test_text_body_arrives_as_text(self, api: str):
        response = httpx.post(f"{api}/items", json={"name": "pen"}, timeout=30)
        event = response.json()["event"]
        assert (event["body"], event["isBase64Encoded"]) == ('{"name":"pen"}', False)

    def test_binary_body_arrives_base64_encoded(self, api: str):
        payload = bytes([0, 255, 254, 1])
        event = httpx.post(f"{api}/items", content=payload, timeout=30).json()["event"]
        assert event["isBase64Encoded"] is True
        assert base64.b64decode(event["body"]) == payload

    def test_cookies_arrive_as_a_list(self, api: str):
        event = get_json(f"{api}/items/1", headers={"Cookie": "a=1; b=2"})["event"]
        assert event["cookies"] == ["a=1", "b=2"]
        assert "cookie" not in event["headers"]


class TestFunctionEnvironment:
    def test_manifest_environment_and_secret_are_visible(self, api: str):
        body = get_json(f"{api}/items/1")
        assert (body["greeting"], body["secret"]) == ("hello", "s3cret-value")

    def test_the_hosts_own_environment_is_not(self, api: str):
        assert get_json(f"{api}/items/1")["marker"] is None

    def test_context_carries_request_id_name_and_remaining_time(self, api: str):
        body = get_json(f"{api}/items/1")
        assert body["functionName"] == "echo-py"
        assert len(body["requestId"]) >= 32
        assert 0 < body["remainingMs"] <= 2000


class TestResponses:
    def test_bare_string_becomes_a_200_json_response(self, api: str):
        response = httpx.get(f"{api}/text", timeout=30)
        assert (response.status_code, response.text) == (200, "plain words")
        assert response.headers["content-type"] == "application/json"

    def test_structured_response_sets_status_headers_and_cookies(self, api: str):
        response = httpx.get(f"{api}/cookies", timeout=30)
        assert (response.status_code, response.text) == (201, "made")
        assert response.headers["x-answer"] == "42"
        assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]

    def test_base64_response_is_decoded(self, api: str):
        response = httpx.get(f"{api}/binary", timeout=30)
        assert response.content == bytes(range(256))

    def test_unknown_route_is_404(self, api: str):
        response = httpx.get(f"{api}/nowhere", timeout=30)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"})

    def test_path_outside_the_stage_is_404(self, api: str):
        response = httpx.get(api.removesuffix("/live") + "/items/1", timeout=30)
        assert response.status_code == 404


class TestCors:
    def test_preflight_is_answered_by_the_gateway(self, api: str):
        response = httpx.options(
            f"{api}/items",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
            timeout=30,
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in response.headers["access-control-allow-methods"]
        assert response.headers["access-control-max-age"] == "300"

    def test_allowed_origin_gets_cors_headers_on_the_response(self, api: str):
        response = httpx.get(
            f"{api}/items/1", headers={"Origin": "https://app.example"}, timeout=30
        )
        assert response.headers["access-control-allow-origin"] == "https://app.example"

    def test_other_origins_get_none(self, api: str):
        response = httpx.get(
            f"{api}/items/1", headers={"Origin": "https://evil.example"}, timeout=30
        )
        assert "access-control-allow-origin" not in response.headers


class TestFailures:
    def test_handler_exception_is_502_and_the_host_keeps_serving(self, api: str):
        response = httpx.get(f"{api}/boom", timeout=30)
        assert (response.status_code, response.json()) == (
            502,
            {"message": "Internal Server Error"},
        )
        assert httpx.get(f"{api}/items/1", timeout=30).status_code == 200

    def test_request_past_the_timeout_is_504_and_the_next_one_is_served(self, api: str):
        response = httpx.get(f"{api}/slow", timeout=30)
        assert (response.status_code, response.json()) == (
            504,
            {"message": "Endpoint request timed out"},
        )
        assert httpx.get(f"{api}/items/1", timeout=30).status_code == 200


class TestWorkers:
    def test_warm_requests_reuse_the_worker(self, api: str):
        pids = {get_json(f"{api}/items/{n}")["pid"] for n in range(3)}
        assert len(pids) == 1


NODE_API = """\
apiVersion: reconciler/v1
kind: RestApi
metadata: {{name: {name}}}
spec:
  provider: local
  function: {{runtime: nodejs20.x, handler: {handler}, source: fn, environment: {{GREETING: hi}}}}
  routes: ["GET /things/{{id}}"]
"""


@pytest.mark.parametrize(
    ("name", "folder", "handler", "expected"),
    [
        pytest.param("node-cjs", "echo-node-cjs", "index.handler", "cjs", id="commonjs-async"),
        pytest.param("node-esm", "echo-node-esm", "index.handler", "esm", id="esm"),
        pytest.param("node-cb", "callback-node", "handler.handler", "callback", id="callback"),
    ],
)
def test_node_handlers_serve_the_same_contract(local: Cloud, name, folder, handler, expected):
    endpoint = local.deploy(
        NODE_API.format(name=name, handler=handler), source=FUNCTIONS / folder
    ).endpoint
    body = get_json(f"{endpoint}/things/7")
    if expected == "cjs":
        assert body["event"]["pathParameters"] == {"id": "7"}
        assert (body["functionName"], body["greeting"]) == (name, "hi")
        assert body["remainingMs"] > 0
    elif expected == "esm":
        assert body == {"esm": True, "path": "/live/things/7", "params": {"id": "7"}}
    else:
        assert body == {"callback": True, "route": "GET /things/{id}"}


def test_node_handler_sees_query_cookies_and_binary_body_as_python_does(local: Cloud):
    """The event is built once by the gateway, so both runtimes get the same fields."""
    manifest = NODE_API.format(name="node-event", handler="index.handler").replace(
        '"GET /things/{id}"', '"ANY /things/{id}"'
    )
    endpoint = local.deploy(manifest, source=FUNCTIONS / "echo-node-cjs").endpoint
    response = httpx.post(
        f"{endpoint}/things/9?a=1&a=2",
        content=bytes([0, 200, 255]),
        headers={"Cookie": "s=1; t=2", "X-Trace": "abc"},
        timeout=30,
    )
    event = response.json()["event"]
    assert event["routeKey"] == "ANY /things/{id}"
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["headers"]["x-trace"] == "abc"
    assert (event["isBase64Encoded"], base64.b64decode(event["body"])) == (
        True,
        bytes([0, 200, 255]),
    )
