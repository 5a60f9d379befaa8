"""The whole Azure package as `AzurePrograms` builds it, loaded with the real Functions libraries.

The program installs the shim's dependencies from the real registries (PyPI's `azure-functions`,
npm's `@azure/functions`) into the zip; the zip is extracted and loaded as the Functions host
would load its root folder: Python indexes our triggers with the real `azure.functions` and
answers a request through them; Node.js loads the entry point with the real `@azure/functions`.
What the Functions host itself adds (its HTTP server, the Web PubSub service) is not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from conftest import CE_TOKEN, HANDLERS

from reconciler.adapters.pulumi.azure import AzurePrograms
from reconciler.domain.values import DeploymentSpec, Fingerprint, Revision
from reconciler.manifest.loader import parse_text
from reconciler.ports import ApplyRequest

MANIFEST = """\
apiVersion: reconciler/v1
kind: {kind}
metadata: {{name: orders}}
spec:
  provider: azure
  location: westeurope
  function: {{runtime: {runtime}, handler: echo.handler, source: ../functions/orders}}
  routes: {routes}
"""
REST_ROUTES = '["GET /items/{id}", "$default"]'
WS_ROUTES = '["$connect", "$default", "join"]'
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]

# Runs inside the extracted package, as the Python worker would: its root and the installed
# dependencies on sys.path, nothing from our own environment (-I).
INDEX_AND_CALL = """\
import json, sys, types
sys.path[:0] = [".", ".python_packages/lib/site-packages"]
import azure.functions as func
import function_app

functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
print(json.dumps({
    "library": func.__file__,
    "triggers": {
        name: json.loads(f.get_raw_bindings()[0]) for name, f in functions.items()
    },
}))
request = func.HttpRequest(**json.loads(sys.argv[2]))
answer = functions[sys.argv[1]].get_user_function()(
    request, types.SimpleNamespace(invocation_id="inv-1")
)
print(json.dumps({
    "status": answer.status_code,
    "headers": dict(answer.headers),
    "body": answer.get_body().decode(),
}))
"""


def spec_of(kind: str, runtime: str, routes: str) -> DeploymentSpec:
    text = MANIFEST.format(kind=kind, runtime=runtime, routes=routes)
    loaded = parse_text(text, file="m.yaml", location=PurePosixPath("manifests/m.yaml"))
    assert loaded.errors == []
    return loaded.manifests[0].spec


def built_package(spec: DeploymentSpec, tmp_path: Path, handler: str) -> Path:
    """What the program uploads, extracted: the Function App's root folder."""
    source = tmp_path / "source"
    source.mkdir(parents=True)
    (source / handler).write_bytes((HANDLERS / handler).read_bytes())
    builder = AzurePrograms(webhook_key=b"k" * 32)
    (target,) = builder.targets(spec)
    request = ApplyRequest(spec, Revision("a" * 40), Fingerprint("f" * 64), source_dir=source)
    builder.program(request, target=target, workdir=tmp_path / "work")
    root = tmp_path / "wwwroot"
    with zipfile.ZipFile(tmp_path / "work" / "orders.zip") as archive:
        archive.extractall(root)
    return root


def run_python(root: Path, function: str, request: dict[str, object], **env: str):
    completed = subprocess.run(
        [sys.executable, "-I", "-c", INDEX_AND_CALL, function, json.dumps(request)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    indexed, answer = (json.loads(line) for line in completed.stdout.splitlines())
    return indexed, answer


def test_python_rest_package_is_indexed_and_served_by_the_real_azure_functions(tmp_path: Path):
    root = built_package(spec_of("RestApi", "python3.11", REST_ROUTES), tmp_path, "echo.py")

    indexed, answer = run_python(
        root,
        "route00_get_items_id",
        {
            "method": "GET",
            "url": "https://orders-1.azurewebsites.net/live/items/42?mode=echo",
            "headers": {"host": "orders-1.azurewebsites.net"},
            "params": {"mode": "echo"},
            "route_params": {"id": "42"},
            "body": "",
        },
    )

    # The library is the one installed into the package, not one of ours.
    assert indexed["library"].startswith(str(root / ".python_packages" / "lib" / "site-packages"))
    assert indexed["triggers"] == {
        "route00_get_items_id": {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": ["GET"],
            "authLevel": "ANONYMOUS",
            "route": "items/{id}",
        },
        "route01_default": {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": ALL_METHODS,
            "authLevel": "ANONYMOUS",
            "route": "{*path}",
        },
    }
    event = json.loads(answer["body"])
    assert answer["status"] == 201  # what echo.py answers, through the shim
    assert (event["routeKey"], event["rawPath"], event["pathParameters"]) == (
        "GET /items/{id}",
        "/live/items/42",
        {"id": "42"},
    )


def test_python_websocket_package_answers_web_pubsubs_handshake_with_its_token(tmp_path: Path):
    root = built_package(spec_of("WebSocketApi", "python3.11", WS_ROUTES), tmp_path, "echo.py")
    handshake = {
        "method": "OPTIONS",
        "url": "https://orders-1.azurewebsites.net/live/__reconciler/webpubsub?token=the-token",
        "headers": {"WebHook-Request-Origin": "orders.webpubsub.azure.com"},
        "params": {"token": CE_TOKEN},
        "body": "",
    }

    indexed, answer = run_python(root, "ws_events", handshake, RECONCILER_WEBPUBSUB_TOKEN=CE_TOKEN)

    assert indexed["triggers"] == {
        "ws_events": {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": ["OPTIONS", "POST"],
            "authLevel": "ANONYMOUS",
            "route": "__reconciler/webpubsub",
        }
    }
    assert answer["status"] == 200
    assert answer["headers"]["WebHook-Allowed-Origin"] == "orders.webpubsub.azure.com"


def test_node_package_loads_its_entry_point_with_the_real_azure_functions(tmp_path: Path):
    root = built_package(spec_of("RestApi", "nodejs20.x", REST_ROUTES), tmp_path, "echo.js")
    assert (root / "node_modules" / "@azure" / "functions" / "package.json").is_file()

    completed = subprocess.run(
        ["node", "-e", "require('./' + require('./package.json').main)"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    # Outside the host the library runs in test mode: it names each function it was asked to
    # register and skips it.
    for name in ("route00_get_items_id", "route01_default"):
        assert f'register function "{name}"' in completed.stderr


@pytest.mark.parametrize("runtime", ["python3.11", "nodejs20.x"])
def test_the_same_source_and_dependencies_make_the_same_package(tmp_path: Path, runtime: str):
    handler = "echo.py" if runtime.startswith("python") else "echo.js"
    spec = spec_of("RestApi", runtime, REST_ROUTES)
    first = built_package(spec, tmp_path / "first", handler).parent / "work" / "orders.zip"
    second = built_package(spec, tmp_path / "second", handler).parent / "work" / "orders.zip"
    assert first.read_bytes() == second.read_bytes()
