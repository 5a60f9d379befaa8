"""WebSocket APIs on the local cloud: connect, route, reply, push through @connections, close.

A real `websockets` client against the host's real port, as a browser or AWS SDK would talk.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from cloudkit import Cloud, copy_function
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

CHAT = """\
apiVersion: reconciler/v1
kind: WebSocketApi
metadata: {name: chat}
spec:
  provider: local
  function:
    runtime: python3.11
    handler: chat.handler
    source: fn
    environment: {EVENTS_FILE: "{events}"}
  routes: [$connect, $disconnect, $default, whoami, echo]
"""


@pytest.fixture(scope="module")
def chat(local: Cloud, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("chat")
    events = folder / "events.log"
    source = copy_function("chat-py", folder)
    endpoint = local.deploy(CHAT.replace("{events}", str(events)), source=source).endpoint
    assert endpoint is not None
    assert endpoint.startswith("ws://127.0.0.1:")
    return endpoint, events


def ask(socket: ClientConnection, message: dict) -> dict:
    socket.send(json.dumps(message))
    return json.loads(socket.recv(timeout=30))


def wait_for(predicate, *, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_messages_are_routed_by_the_selection_expression(chat):
    endpoint, _ = chat
    with connect(endpoint) as socket:
        assert ask(socket, {"action": "echo", "message": "hi"}) == {"echo": "hi"}
        assert ask(socket, {"action": "unknown", "x": 1}) == {
            "default": '{"action": "unknown", "x": 1}'
        }


def test_non_json_messages_go_to_default(chat):
    endpoint, _ = chat
    with connect(endpoint) as socket:
        socket.send("not json")
        assert json.loads(socket.recv(timeout=30)) == {"default": "not json"}


def test_connect_handler_can_refuse_the_connection(chat):
    endpoint, _ = chat
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{endpoint}?name=mallory").close()
    assert refused.value.response.status_code == 403


def test_connections_api_pushes_describes_and_closes(chat):
    endpoint, _ = chat
    management = endpoint.replace("ws://", "http://") + "/@connections"
    with connect(endpoint) as socket:
        connection_id = ask(socket, {"action": "whoami"})["connectionId"]

        pushed = httpx.post(f"{management}/{connection_id}", content=b"news!", timeout=30)
        assert pushed.status_code == 200
        assert socket.recv(timeout=30) == "news!"

        info = httpx.get(f"{management}/{connection_id}", timeout=30).json()
        assert info["identity"]["sourceIp"] == "127.0.0.1"
        assert {"connectedAt", "lastActiveAt"} <= info.keys()

        assert httpx.delete(f"{management}/{connection_id}", timeout=30).status_code == 204
        assert wait_for(
            lambda: httpx.get(f"{management}/{connection_id}", timeout=30).status_code == 410
        )


def test_pushing_to_an_unknown_connection_is_410_gone(chat):
    endpoint, _ = chat
    management = endpoint.replace("ws://", "http://") + "/@connections"
    assert httpx.post(f"{management}/nobody", content=b"x", timeout=30).status_code == 410


def test_connect_and_disconnect_handlers_run(chat):
    endpoint, events = chat
    with connect(endpoint) as socket:
        connection_id = ask(socket, {"action": "whoami"})["connectionId"]
    assert wait_for(lambda: f"DISCONNECT $disconnect {connection_id}" in events.read_text())
    lines = [line for line in events.read_text().splitlines() if connection_id in line]
    assert lines[0] == f"CONNECT $connect {connection_id}"
    assert lines[1] == f"MESSAGE whoami {connection_id}"


def test_plain_http_on_the_socket_path_asks_for_an_upgrade(chat):
    endpoint, _ = chat
    response = httpx.get(endpoint.replace("ws://", "http://"), timeout=30)
    assert response.status_code == 426


def test_an_aws_sdk_management_client_pointed_at_the_local_endpoint_works(chat):
    """boto3's apigatewaymanagementapi, as a function would use it on AWS, with a local URL."""
    import boto3  # noqa: PLC0415  # a test-only dependency, imported where it is used

    endpoint, _ = chat
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint.replace("ws://", "http://"),
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106  # a dummy: the local cloud checks no signature
    )
    with connect(endpoint) as socket:
        connection_id = ask(socket, {"action": "whoami"})["connectionId"]
        client.post_to_connection(ConnectionId=connection_id, Data=b"from boto3")
        assert socket.recv(timeout=30) == "from boto3"
        described = client.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        client.delete_connection(ConnectionId=connection_id)
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=connection_id, Data=b"too late")
