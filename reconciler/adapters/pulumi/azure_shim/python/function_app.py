"""Azure Functions (Python v2 model) registration of a reconciler deployment: thin on purpose.

Generated into the Function App's root by `reconciler.adapters.pulumi.azure_shim`; it registers
one HTTP trigger per REST route, or for a WebSocket API the anonymous route Web PubSub's hub
calls (checked with the `?token=` in the hub's URL, not the host's system key), from
`reconciler_shim.json`, and leaves everything else to the pure `reconciler_shim_*` modules.
"""

from __future__ import annotations

import functools
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import reconciler_shim_adapter as adapter
import reconciler_shim_websocket as websocket

ROOT = Path(__file__).resolve().parent
CONFIG = json.loads((ROOT / "reconciler_shim.json").read_text(encoding="utf-8"))
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@functools.cache
def user_handler() -> adapter.Handler:
    """The user's handler, imported on first use as Lambda does on a cold start."""
    return adapter.load_handler(ROOT, CONFIG["handler"])


def _register_route(route: dict[str, object]) -> None:
    route_key = str(route["routeKey"])

    @app.function_name(name=str(route["name"]))
    @app.route(
        route=str(route["route"]),
        methods=route["methods"],
        auth_level=func.AuthLevel.ANONYMOUS,
    )
    def http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        answer = adapter.handle_http(
            req,
            route_key=route_key,
            config=CONFIG,
            handler=user_handler,
            now=datetime.now(UTC),
            request_id=context.invocation_id,
        )
        cookies = [value for name, value in answer.headers if name.lower() == "set-cookie"]
        headers = {name: value for name, value in answer.headers if name.lower() != "set-cookie"}
        response = func.HttpResponse(answer.body, status_code=answer.status, headers=headers)
        for cookie in cookies:  # one Set-Cookie header per cookie, never comma-joined
            response.headers.add("Set-Cookie", cookie)
        return response


def _register_web_pubsub(route: dict[str, object]) -> None:
    @app.function_name(name=str(route["name"]))
    @app.route(
        route=str(route["route"]),
        methods=route["methods"],
        auth_level=func.AuthLevel.ANONYMOUS,
    )
    def web_pubsub(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        answer = websocket.handle_cloud_event(
            {
                "method": req.method,
                "query": dict(req.params),
                "headers": dict(req.headers),
                "body": req.get_body(),
            },
            token=os.environ.get(websocket.TOKEN_SETTING),
            config=CONFIG,
            handler=user_handler,
            context=adapter.make_context(CONFIG, context.invocation_id),
            now=datetime.now(UTC),
            request_id=context.invocation_id,
        )
        return func.HttpResponse(
            answer.body, status_code=answer.status, headers=dict(answer.headers)
        )


for _route in CONFIG.get("httpTriggers", []):
    _register_route(_route)
if "webPubSubRoute" in CONFIG:
    _register_web_pubsub(CONFIG["webPubSubRoute"])
