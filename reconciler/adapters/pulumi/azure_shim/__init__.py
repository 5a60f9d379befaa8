"""The Azure shim: the files that let a Lambda-style handler run unchanged in an Azure Function App.

Used by the Azure program, which adds `package_files(spec, existing=...)` at the root of the
Function App package beside the user's source. The shim sources are package data beside this
module (`node/`, `python/`); this module only picks them and writes their configuration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from importlib import resources

from reconciler.domain.values import ApiKind, DeploymentSpec, RestRoute
from reconciler.ports import PermanentError

SHIM_VERSION = "3"
"""Bumped whenever a shim source or the generated layout changes; part of the program version."""

CONFIG_NAME = "reconciler_shim.json"
_CONFIG_NAME_NODE = "reconciler-shim.json"
WEBPUBSUB_ROUTE = "__reconciler/webpubsub"
"""The anonymous route (under the route prefix) Web PubSub's hub sends its CloudEvents to."""
WEBPUBSUB_TOKEN_SETTING = "RECONCILER_WEBPUBSUB_TOKEN"  # noqa: S105  # a setting's name
"""The app setting whose value the hub's URL carries in `?token=`; the shim checks it."""
_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_GREEDY = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\+\}")
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")
_SOURCES = {
    "node": ("reconciler-shim.cjs", "reconciler-shim-adapter.cjs", "reconciler-shim-websocket.cjs"),
    "python": (
        "function_app.py",
        "reconciler_shim_adapter.py",
        "reconciler_shim_websocket.py",
        "reconciler_shim_wsevents.py",
    ),
}
# Functions host 4.x with the default extension bundle (the shim itself needs only HTTP triggers).
_EXTENSION_BUNDLE = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
_NODE_PACKAGE_VERSION = "^4.5.0"
_PYTHON_REQUIREMENT = "azure-functions>=1.20,<2"


def package_files(spec: DeploymentSpec, *, existing: Collection[str] = ()) -> dict[str, bytes]:
    """Every file the shim adds at the package root, by path; same spec, same bytes.

    Raises `PermanentError` when the user's source (`existing`, paths relative to its root)
    already has one of them: the shim never overwrites a user file.
    """
    language = spec.function.runtime.language
    files = {
        "host.json": _json(
            {
                "version": "2.0",
                "extensionBundle": _EXTENSION_BUNDLE,
                "extensions": {"http": {"routePrefix": spec.gateway.stage}},
            }
        )
    }
    shim = resources.files(__package__).joinpath(language)
    for name in _SOURCES[language]:
        files[name] = shim.joinpath(name).read_bytes()
    config = _json(shim_config(spec))
    if language == "node":
        files[_CONFIG_NAME_NODE] = config
        files["package.json"] = _json(
            {
                "name": _UNSAFE.sub("-", spec.name).strip("-").lower() or "function",
                "private": True,
                "main": "reconciler-shim.cjs",
                "dependencies": {"@azure/functions": _NODE_PACKAGE_VERSION},
            }
        )
    else:
        files[CONFIG_NAME] = config
        files["requirements.txt"] = f"{_PYTHON_REQUIREMENT}\n".encode()
    clashes = sorted(set(files) & {path.replace("\\", "/").removeprefix("./") for path in existing})
    if clashes:
        raise PermanentError(
            f"deployment {spec.name!r}: the function source has {', '.join(clashes)}, which the"
            " Azure shim writes at the package root; rename or remove them from the source"
        )
    return dict(sorted(files.items()))


def shim_config(spec: DeploymentSpec) -> dict[str, object]:
    """What the shim reads at start: the handler, the routes and the HTTP triggers to register."""
    config: dict[str, object] = {
        "apiId": spec.name,
        "functionName": spec.name,
        "handler": spec.function.handler,
        "kind": str(spec.kind),
        "memoryMb": spec.function.memory_mb,
        "routes": list(spec.gateway.route_keys),
        "runtime": str(spec.function.runtime),
        "stage": spec.gateway.stage,
        "timeoutSeconds": spec.function.timeout_seconds,
    }
    if spec.kind is ApiKind.REST:
        routes = [route for route in spec.gateway.routes if isinstance(route, RestRoute)]
        config["httpTriggers"] = [http_trigger(route, index) for index, route in enumerate(routes)]
        return config
    config["hub"] = hub_name(spec.name)
    config["routeSelectionExpression"] = (
        spec.gateway.route_selection_expression or "$request.body.action"
    )
    # Web PubSub calls this for connect, connected, disconnected and every user event; the
    # shim dispatches on `ce-type` and skips a `$connect` or `$disconnect` the API lacks.
    config["webPubSubRoute"] = {
        "methods": ["OPTIONS", "POST"],
        "name": "ws_events",
        "route": WEBPUBSUB_ROUTE,
    }
    return config


def http_trigger(route: RestRoute, index: int) -> dict[str, object]:
    """One Azure HTTP trigger for a manifest route: its name, methods and route template."""
    if route.key == RestRoute.DEFAULT_KEY:
        methods, template = list(_ALL_METHODS), "{*path}"
    else:
        methods = list(_ALL_METHODS) if route.method == "ANY" else [route.method]
        template = _GREEDY.sub(r"{*\1}", route.path.removeprefix("/"))
    slug = _UNSAFE.sub("_", route.key.replace("$", "")).strip("_").lower() or "root"
    # Function names must be unique and start with a letter; the index keeps them unique.
    name = f"route{index:02d}_{slug}"[:128]
    return {"methods": methods, "name": name, "route": template, "routeKey": route.key}


def hub_name(deployment: str) -> str:
    """A Web PubSub hub name (a letter, then letters, digits or `_`) for the deployment."""
    hub = _UNSAFE.sub("_", deployment).strip("_")
    return hub if hub[:1].isalpha() else f"api_{hub}"


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
