"""The admin API: how the engine registers, inspects, changes and removes deployments.

It listens on loopback only and answers nobody without the bearer token from the owner-only
token file. Bodies are the pydantic models of `registration`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pydantic
from aiohttp import web

from reconciler.adapters.local.registration import Changes, Registration

if TYPE_CHECKING:
    from reconciler.adapters.local.host import Host

HOST_KEY: web.AppKey[Host] = web.AppKey("host")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RegistrationError(Exception):
    """A registration the host refused; `status` says why (409 port taken, 422 bad code)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def build_app(host: Host, *, token: str) -> web.Application:
    """The admin application, guarded by `token`."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            return await handler(request)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_input=False, include_url=False)
            return web.json_response({"error": "invalid body", "details": errors}, status=400)
        except RegistrationError as exc:
            return web.json_response({"error": exc.message}, status=exc.status)

    app = web.Application(middlewares=[require_token], client_max_size=1024 * 1024)
    app[HOST_KEY] = host
    app.router.add_get("/v1/health", _health)
    app.router.add_get("/v1/deployments", _list)
    app.router.add_get("/v1/deployments/{name}", _get)
    app.router.add_put("/v1/deployments/{name}", _put)
    app.router.add_patch("/v1/deployments/{name}", _patch)
    app.router.add_delete("/v1/deployments/{name}", _delete)
    return app


def _dump(model: pydantic.BaseModel) -> web.Response:
    return web.json_response(text=model.model_dump_json())


async def _health(request: web.Request) -> web.Response:
    return _dump(request.app[HOST_KEY].health())


async def _list(request: web.Request) -> web.Response:
    host = request.app[HOST_KEY]
    return web.json_response([live.model_dump(mode="json") for live in host.list_live()])


async def _get(request: web.Request) -> web.Response:
    live = request.app[HOST_KEY].live(request.match_info["name"])
    if live is None:
        return web.json_response({"error": "not found"}, status=404)
    return _dump(live)


async def _put(request: web.Request) -> web.Response:
    registration = Registration.model_validate_json(await request.read())
    if registration.name != request.match_info["name"]:
        return web.json_response({"error": "name in the path and body differ"}, status=400)
    return _dump(await request.app[HOST_KEY].register(registration))


async def _patch(request: web.Request) -> web.Response:
    changes = Changes.model_validate_json(await request.read())
    live = await request.app[HOST_KEY].change(request.match_info["name"], changes)
    if live is None:
        return web.json_response({"error": "not found"}, status=404)
    return _dump(live)


async def _delete(request: web.Request) -> web.Response:
    removed = await request.app[HOST_KEY].unregister(request.match_info["name"])
    return web.Response(status=204 if removed else 404)
