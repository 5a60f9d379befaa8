"""The data plane: one request handler for every deployment port, REST and WebSocket alike.

The handler finds the deployment by the local port the request arrived on, turns the request
into the API Gateway event the function expects, invokes it through the deployment's worker pool
and turns the result back into an HTTP response or WebSocket message, as API Gateway does.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from aiohttp import WSMsgType, web

from reconciler.adapters.local.functions.workers import (
    FunctionTimeout,
    InitError,
    PoolClosed,
    WorkerCrashed,
)
from reconciler.adapters.local.gateway import rest, wsevents
from reconciler.adapters.local.served import Connection, Served, Version

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_CONNECTIONS = "@connections"

Lookup = Callable[[int], Served | None]


def _now() -> datetime:
    return datetime.now(UTC)


def _json(status: int, message: str) -> web.Response:
    response = rest.error_response(status, message)
    return web.Response(status=response.status, headers=response.headers, body=response.body)


async def _http_request(request: web.Request) -> rest.HttpRequest:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return rest.HttpRequest(
        method=request.method,
        raw_path=request.rel_url.raw_path,
        raw_query=request.rel_url.raw_query_string,
        headers=list(request.headers.items()),
        body=await request.read(),
        source_ip=peer[0] if peer else "127.0.0.1",
        protocol=f"HTTP/{request.version.major}.{request.version.minor}",
    )


def _strip_stage(raw_path: str, stage: str) -> str | None:
    prefix = f"/{stage}"
    if raw_path == prefix:
        return "/"
    if raw_path.startswith(prefix + "/"):
        return raw_path[len(prefix) :]
    return None


def _domain(request: web.Request, served: Served) -> str:
    return request.host or f"127.0.0.1:{served.port}"


async def invoke(version: Version, event: dict[str, object], *, request_id: str) -> object:
    """Run the function; map its failures to the statuses API Gateway answers with."""
    try:
        result = await version.pool.invoke(event, request_id=request_id)
    except FunctionTimeout as exc:
        raise GatewayError(504, "Endpoint request timed out") from exc
    except (WorkerCrashed, InitError) as exc:
        log.warning("function_failed", error=str(exc), request_id=request_id)
        raise GatewayError(502, "Internal Server Error") from exc
    except PoolClosed as exc:  # Only while the host stops; version switches never reach it.
        raise GatewayError(503, "Service Unavailable") from exc
    if result.error is not None:
        log.info("function_error", request_id=request_id, error_type=result.error.get("errorType"))
        raise GatewayError(502, "Internal Server Error")
    return result.payload


class GatewayError(Exception):
    """A failure the gateway answers itself, with API Gateway's status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def make_handler(lookup: Lookup) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The one handler behind every deployment port."""

    async def handle(request: web.Request) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        served = lookup(sockname[1]) if sockname else None
        if served is None:
            return _json(404, "Not Found")
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(deployment=served.name)
        try:
            response = await _dispatch(request, served)
        finally:
            structlog.contextvars.unbind_contextvars("deployment")
        if not isinstance(response, web.WebSocketResponse):
            log.info(
                "request",
                deployment=served.name,
                method=request.method,
                path=request.rel_url.raw_path,
                status=response.status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        return response

    return handle


async def _dispatch(request: web.Request, served: Served) -> web.StreamResponse:
    version = served.active
    if version.registration.kind == "WebSocketApi":
        return await _websocket_dispatch(request, served, version)
    return await _rest(request, served)


# --- REST -------------------------------------------------------------------------------------


async def _rest(request: web.Request, served: Served) -> web.Response:
    http = await _http_request(request)
    # Read the active version only now, after the last await before `invoke`: a version switch
    # cannot slip in between, so no request ever reaches a pool that is draining.
    version = served.active
    path = _strip_stage(http.raw_path, version.stage)
    if path is None:
        return _json(404, "Not Found")
    if version.cors is not None and rest.is_preflight(http):
        return _respond(rest.preflight(version.cors, http))
    match = version.routes.match(http.method, path)
    if match is None:
        return _json(404, "Not Found")
    request_id = str(uuid.uuid4())
    event = rest.build_event(
        http,
        route=match,
        stage=version.stage,
        api_id=served.name,
        domain_name=_domain(request, served),
        request_id=request_id,
        now=_now(),
    )
    try:
        response = rest.to_http_response(await invoke(version, event, request_id=request_id))
    except GatewayError as exc:
        response = rest.error_response(exc.status, exc.message)
    except rest.InvalidResponseError as exc:
        log.info("function_response_invalid", request_id=request_id, error=str(exc))
        response = rest.error_response(502, "Internal Server Error")
    if version.cors is not None:
        response = rest.with_cors(version.cors, http, response)
    return _respond(response, request_id=request_id)


def _respond(response: rest.HttpResponse, *, request_id: str | None = None) -> web.Response:
    headers = list(response.headers)
    if request_id is not None:
        headers.append(("apigw-requestid", request_id))
    return web.Response(status=response.status, headers=headers, body=response.body)


# --- WebSocket --------------------------------------------------------------------------------


async def _websocket_dispatch(
    request: web.Request, served: Served, version: Version
) -> web.StreamResponse:
    raw_path = request.rel_url.raw_path
    path = _strip_stage(raw_path, version.stage)
    management = path if path is not None else raw_path
    if management.startswith(f"/{_CONNECTIONS}/"):
        return await _manage_connection(request, served, management.split("/", 2)[2])
    if path != "/":
        return _json(404, "Not Found")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return _json(426, "Upgrade Required")
    return await _websocket(request, served, version)


async def _websocket(request: web.Request, served: Served, version: Version) -> web.StreamResponse:
    routes = set(version.registration.gateway.routes)
    connection_id = secrets.token_urlsafe(12)
    peer = request.transport.get_extra_info("peername") if request.transport else None
    source_ip = peer[0] if peer else "127.0.0.1"
    connected_at = _now()
    common = {
        "connection_id": connection_id,
        "source_ip": source_ip,
        "stage": version.stage,
        "domain_name": _domain(request, served),
        "api_id": served.name,
    }
    if "$connect" in routes:
        request_id = str(uuid.uuid4())
        event = wsevents.connect_event(
            **common,
            request_id=request_id,
            headers=list(request.headers.items()),
            raw_query=request.rel_url.raw_query_string,
            now=connected_at,
        )
        try:
            rejected = wsevents.connect_accepted(
                await invoke(version, event, request_id=request_id)
            )
        except GatewayError as exc:
            rejected = exc.status
        if rejected is not None:
            log.info("websocket_rejected", connection_id=connection_id, status=rejected)
            return _json(rejected, "Forbidden")
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    connection = Connection(
        id=connection_id,
        socket=socket,
        connected_at=connected_at,
        last_active_at=connected_at,
        source_ip=source_ip,
        user_agent=request.headers.get("User-Agent"),
    )
    served.connections[connection_id] = connection
    log.info("websocket_connected", connection_id=connection_id)
    try:
        async for message in socket:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                connection.last_active_at = _now()
                await _on_message(served, connection, message.data, common=common)
    finally:
        served.connections.pop(connection_id, None)
        await _on_disconnect(served, connection, common=common)
    return socket


async def _on_message(
    served: Served, connection: Connection, data: str | bytes, *, common: dict[str, str]
) -> None:
    version = served.active  # A message after a switch meets the new version, as on AWS.
    request_id = str(uuid.uuid4())
    route = wsevents.select_route(
        version.registration.gateway.route_selection_expression or "$request.body.action",
        data,
        set(version.registration.gateway.routes),
    )
    if route is None:
        await connection.socket.send_str(
            wsevents.forbidden_message(connection_id=connection.id, request_id=request_id)
        )
        return
    event = wsevents.message_event(
        **common,
        route_key=route,
        message_id=secrets.token_urlsafe(12),
        request_id=request_id,
        body=data,
        user_agent=connection.user_agent,
        connected_at=connection.connected_at,
        now=connection.last_active_at,
    )
    try:
        reply = wsevents.route_reply(await invoke(version, event, request_id=request_id))
    except GatewayError:
        reply = wsevents.error_message(
            "Internal server error", connection_id=connection.id, request_id=request_id
        )
    if reply is not None and not connection.socket.closed:
        await connection.socket.send_str(reply)


async def _on_disconnect(served: Served, connection: Connection, *, common: dict[str, str]) -> None:
    version = served.active
    log.info("websocket_disconnected", connection_id=connection.id)
    if "$disconnect" not in version.registration.gateway.routes:
        return
    request_id = str(uuid.uuid4())
    event = wsevents.disconnect_event(
        **common,
        request_id=request_id,
        user_agent=connection.user_agent,
        connected_at=connection.connected_at,
        now=_now(),
        status_code=connection.socket.close_code or 1005,
        reason="",
    )
    # AWS ignores what $disconnect returns or raises; so do we (a failure was logged).
    with contextlib.suppress(GatewayError):
        await invoke(version, event, request_id=request_id)


async def _manage_connection(
    request: web.Request, served: Served, connection_id: str
) -> web.StreamResponse:
    """`@connections/{id}`: push to (POST), describe (GET) or close (DELETE) a connection."""
    connection = served.connections.get(connection_id)
    if connection is None:
        return _respond(wsevents.gone_error())
    if request.method == "POST":
        data = await request.read()
        try:
            await connection.socket.send_str(data.decode())
        except UnicodeDecodeError:
            await connection.socket.send_bytes(data)
        return web.Response(status=200)
    if request.method == "GET":
        info = wsevents.connection_info(
            connected_at=connection.connected_at,
            last_active_at=connection.last_active_at,
            source_ip=connection.source_ip,
            user_agent=connection.user_agent,
        )
        return web.json_response(info)
    if request.method == "DELETE":
        # Gone at once for the management API, even before the close handshake completes.
        served.connections.pop(connection_id, None)
        await connection.socket.close()
        return web.Response(status=204)
    return _json(405, "Method Not Allowed")
