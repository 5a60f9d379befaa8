"""`package_files`: the shim files added to an Azure Function App package, and their config."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from builders import make_spec

from reconciler.adapters.pulumi.azure_shim import SHIM_VERSION, WEBPUBSUB_ROUTE, package_files
from reconciler.domain.values import (
    ApiGateway,
    ApiKind,
    Provider,
    RestRoute,
    Runtime,
    ServerlessFunction,
    WebSocketRoute,
)
from reconciler.ports import PermanentError

ALL = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]


def rest_spec(runtime: Runtime = Runtime.PYTHON_3_12, *keys: str):
    keys = keys or ("GET /items/{id}", "ANY /files/{proxy+}", "$default")
    return make_spec(
        provider=Provider.AZURE,
        function=ServerlessFunction(runtime=runtime, handler="main.handler", source="fn"),
        gateway=ApiGateway(kind=ApiKind.REST, routes=tuple(RestRoute.parse(k) for k in keys)),
    )


def ws_spec():
    routes = tuple(WebSocketRoute.parse(k) for k in ("$connect", "$default", "join"))
    return replace(
        rest_spec(Runtime.NODEJS_22),
        kind=ApiKind.WEBSOCKET,
        gateway=ApiGateway(
            kind=ApiKind.WEBSOCKET, routes=routes, route_selection_expression="$request.body.op"
        ),
    )


def config_of(files: dict[str, bytes]) -> dict:
    name = "reconciler_shim.json" if "reconciler_shim.json" in files else "reconciler-shim.json"
    return json.loads(files[name])


def test_same_spec_gives_the_same_bytes():
    assert package_files(rest_spec()) == package_files(rest_spec())
    assert SHIM_VERSION


def test_python_package_has_the_v2_registration_and_its_requirement():
    files = package_files(rest_spec())
    assert set(files) == {
        "host.json",
        "function_app.py",
        "reconciler_shim_adapter.py",
        "reconciler_shim_websocket.py",
        "reconciler_shim_wsevents.py",
        "reconciler_shim.json",
        "requirements.txt",
    }
    assert files["requirements.txt"].startswith(b"azure-functions")
    host = json.loads(files["host.json"])
    assert host["extensions"]["http"]["routePrefix"] == "live"


def test_node_package_has_the_v4_registration_as_its_main():
    files = package_files(rest_spec(Runtime.NODEJS_20))
    package = json.loads(files["package.json"])
    assert package["main"] == "reconciler-shim.cjs"
    assert "@azure/functions" in package["dependencies"]
    assert b"app.http(" in files["reconciler-shim.cjs"]
    assert "function_app.py" not in files


def test_one_http_trigger_per_route_with_its_methods_and_template():
    triggers = config_of(package_files(rest_spec()))["httpTriggers"]
    assert [(t["routeKey"], t["methods"], t["route"]) for t in triggers] == [
        ("GET /items/{id}", ["GET"], "items/{id}"),
        ("ANY /files/{proxy+}", ALL, "files/{*proxy}"),
        ("$default", ALL, "{*path}"),
    ]
    assert len({t["name"] for t in triggers}) == 3


def test_config_names_the_handler_stage_and_routes():
    config = config_of(package_files(rest_spec()))
    assert config["handler"] == "main.handler"
    assert config["stage"] == "live"
    assert config["routes"] == ["GET /items/{id}", "ANY /files/{proxy+}", "$default"]


def test_websocket_api_gets_one_anonymous_web_pubsub_route_and_its_selection_expression():
    """Web PubSub calls the shim's own route, not the host's extension endpoint (no `?code=`)."""
    config = config_of(package_files(ws_spec()))
    assert config["routeSelectionExpression"] == "$request.body.op"
    assert config["webPubSubRoute"] == {
        "methods": ["OPTIONS", "POST"],
        "name": "ws_events",
        "route": WEBPUBSUB_ROUTE,
    }
    assert WEBPUBSUB_ROUTE == "__reconciler/webpubsub"
    assert config["hub"] == "orders"
    assert "httpTriggers" not in config
    assert "webPubSubTriggers" not in config


@pytest.mark.parametrize(
    ("runtime", "registration", "registers", "reads_token"),
    [
        pytest.param(
            Runtime.PYTHON_3_12,
            "function_app.py",
            b'_register_web_pubsub(CONFIG["webPubSubRoute"])',
            b"websocket.TOKEN_SETTING",
            id="python",
        ),
        pytest.param(
            Runtime.NODEJS_22,
            "reconciler-shim.cjs",
            b"config.webPubSubRoute",
            b"websocket.TOKEN_SETTING",
            id="node",
        ),
    ],
)
def test_registration_serves_the_route_anonymously_and_no_web_pubsub_trigger(
    runtime, registration, registers, reads_token
):
    """Each runtime registers the route as an anonymous HTTP trigger, reading the token setting."""
    files = package_files(replace(ws_spec(), function=replace(ws_spec().function, runtime=runtime)))
    source = files[registration]
    assert registers in source
    assert reads_token in source
    assert b"anonymous" in source.lower()
    assert b"webPubSubTrigger" not in source


@pytest.mark.parametrize(
    ("runtime", "clash"),
    [
        pytest.param(Runtime.PYTHON_3_12, "function_app.py", id="python-registration"),
        pytest.param(Runtime.PYTHON_3_12, "requirements.txt", id="python-requirements"),
        pytest.param(Runtime.NODEJS_20, "package.json", id="node-package-json"),
        pytest.param(Runtime.NODEJS_20, "./host.json", id="host-json"),
    ],
)
def test_a_user_file_at_a_shim_path_is_refused(runtime, clash):
    with pytest.raises(PermanentError, match=clash.removeprefix("./")):
        package_files(rest_spec(runtime), existing=["main.py", clash])
