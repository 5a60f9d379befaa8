"""HTTP API payload format 2.0: the event a function receives and how its result is answered.

Used by the local host for every REST request: `build_event` turns a request into the event an
API Gateway HTTP API sends Lambda, `to_http_response` reads the result back as API Gateway does,
and the CORS and error helpers give the answers the gateway makes without calling the function.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from reconciler.adapters.local.gateway.routing import RouteMatch
from reconciler.domain.values import Cors

# The local cloud has no AWS account; this is the id local AWS emulators conventionally use.
LOCAL_ACCOUNT_ID = "000000000000"
JSON_TYPE = "application/json"
# What an HTTP API sends when a structured result names no content type (payload format 2.0).
DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# English month names whatever the process locale, as `%b` would not guarantee.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)
_PORT = re.compile(r":\d+$")
_CORS_PREFIX = "access-control-"
_STATUS_CODES = range(100, 600)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as the host received it, before any API Gateway processing."""

    method: str
    raw_path: str  # includes the stage prefix ("/live/items/42"), percent-encoded
    raw_query: str  # without "?"
    headers: Sequence[tuple[str, str]]  # names in any case, repeated names allowed
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A response ready to be written back to the caller."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class InvalidResponseError(Exception):
    """A function result that API Gateway would refuse; the caller gets a gateway error."""


def epoch_millis(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, computed exactly (no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def request_time(moment: datetime) -> str:
    """The gateway's request time, `12/Mar/2020:19:03:58 +0000`, always in UTC."""
    utc = moment.astimezone(UTC)
    return f"{utc:%d}/{_MONTHS[utc.month - 1]}/{utc:%Y:%H:%M:%S} +0000"


def build_event(  # noqa: PLR0913  # API Gateway's request context needs every one of these
    request: HttpRequest,
    *,
    route: RouteMatch,
    stage: str,
    api_id: str,
    domain_name: str,
    request_id: str,
    now: datetime,
) -> dict[str, Any]:
    """The payload format 2.0 event an HTTP API sends a Lambda function for `request`."""
    cookies: list[str] = []
    headers: dict[str, str] = {}
    for name, value in request.headers:
        lower = name.lower()
        if lower == "cookie":  # HTTP APIs move cookies to their own field
            cookies.extend(piece.strip() for piece in value.split(";") if piece.strip())
        else:
            headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query := _joined_query(request.raw_query):
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": _domain_prefix(domain_name),
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": stage,
        "time": request_time(now),
        "timeEpoch": epoch_millis(now),
    }
    if route.path_parameters:
        event["pathParameters"] = dict(route.path_parameters)
    event["isBase64Encoded"] = False
    if request.body:
        event["body"], event["isBase64Encoded"] = _encode_body(request.body)
    return event


def _encode_body(body: bytes) -> tuple[str, bool]:
    """A body as an event carries it: UTF-8 text as is, anything else in base64."""
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _joined_query(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def _domain_prefix(domain_name: str) -> str:
    host = _PORT.sub("", domain_name)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.split(".", 1)[0]
    return host  # an address has no first label worth naming


def to_http_response(payload: object) -> HttpResponse:
    """Read a function's result as an HTTP API does with payload format 2.0.

    A JSON object with `statusCode` is a structured response. Anything else is the body of a 200
    `application/json` response: a string as is, any other value JSON-encoded. A structured
    response that names no content type gets `text/plain; charset=utf-8`, as HTTP APIs send.
    """
    if isinstance(payload, dict) and "statusCode" in payload:
        return _structured(payload)
    if isinstance(payload, str):
        return HttpResponse(200, [("content-type", JSON_TYPE)], payload.encode())
    try:
        body = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidResponseError(
            f"the function returned a value that is not JSON: {exc}"
        ) from exc
    return HttpResponse(200, [("content-type", JSON_TYPE)], body.encode())


def _structured(payload: dict[Any, Any]) -> HttpResponse:
    status = payload["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or status not in _STATUS_CODES:
        raise InvalidResponseError(f"statusCode must be an integer from 100 to 599, not {status!r}")
    raw_headers = _absent_as(payload.get("headers"), {})
    if not isinstance(raw_headers, dict):
        raise InvalidResponseError("headers must be an object of names to values")
    headers = [_header(name, value) for name, value in raw_headers.items()]
    cookies = _absent_as(payload.get("cookies"), [])
    if not isinstance(cookies, list) or not all(isinstance(cookie, str) for cookie in cookies):
        raise InvalidResponseError("cookies must be a list of strings")
    headers += [_header("set-cookie", cookie) for cookie in cookies]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", DEFAULT_CONTENT_TYPE))
    return HttpResponse(status, headers, _body(payload))


def _absent_as(value: object, default: object) -> object:
    # A null field means the field is absent; anything else, falsy or not, is checked as given.
    return default if value is None else value


def _header(name: object, value: object) -> tuple[str, str]:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = json.dumps(value)
    else:
        raise InvalidResponseError(f"header {name!r} must have a string or number value")
    if not isinstance(name, str) or not _TOKEN.fullmatch(name) or "\r" in text or "\n" in text:
        # A line break would let a result forge headers of its own, so it is refused, not sent.
        raise InvalidResponseError(f"header {name!r} is not a valid HTTP header")
    return name, text


def _body(payload: dict[Any, Any]) -> bytes:
    body = payload.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidResponseError("body must be a string")
    if payload.get("isBase64Encoded") is not True:
        return body.encode()
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise InvalidResponseError("isBase64Encoded is true but body is not base64") from exc


def error_response(status: int, message: str) -> HttpResponse:
    """An answer the gateway makes itself, worded as API Gateway words it: `{"message":"..."}`."""
    body = json.dumps({"message": message}, separators=(",", ":"))
    return HttpResponse(status, [("content-type", JSON_TYPE)], body.encode())


# --- CORS, as an HTTP API with a CORS configuration answers it ----------------------------------


def is_preflight(request: HttpRequest) -> bool:
    """Whether the gateway answers `request` itself: OPTIONS with Origin and a requested method."""
    return (
        request.method == "OPTIONS"
        and _first(request, "origin") is not None
        and _first(request, "access-control-request-method") is not None
    )


def preflight(cors: Cors, request: HttpRequest) -> HttpResponse:
    """The gateway's 204 answer to a preflight; an origin it does not allow gets no CORS headers."""
    allowed = _allowed_origin(cors, request)
    if allowed is None:
        return HttpResponse(204, [], b"")
    headers = [("access-control-allow-origin", allowed)]
    if cors.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    if cors.allow_methods:
        headers.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
    if cors.allow_headers:
        headers.append(("access-control-allow-headers", ",".join(cors.allow_headers)))
    if cors.max_age_seconds > 0:
        headers.append(("access-control-max-age", str(cors.max_age_seconds)))
    return HttpResponse(204, headers, b"")


def cors_headers(cors: Cors, request: HttpRequest) -> list[tuple[str, str]]:
    """The CORS headers the gateway adds to a function's response for this request's origin."""
    allowed = _allowed_origin(cors, request)
    if allowed is None:
        return []
    headers = [("access-control-allow-origin", allowed)]
    if cors.expose_headers:
        headers.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
    if cors.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    return headers


def with_cors(cors: Cors, request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """`response` with the function's own CORS headers dropped and the gateway's added."""
    kept = [(n, v) for n, v in response.headers if not n.lower().startswith(_CORS_PREFIX)]
    return HttpResponse(response.status, kept + cors_headers(cors, request), response.body)


def _allowed_origin(cors: Cors, request: HttpRequest) -> str | None:
    """The Access-Control-Allow-Origin value for the request's origin; None if not allowed."""
    origin = _first(request, "origin")
    if origin is None:
        return None
    if "*" in cors.allow_origins and not cors.allow_credentials:
        return "*"
    # With credentials a browser refuses "*", so an origin allowed by a wildcard is echoed.
    if any(_origin_matches(pattern, origin) for pattern in cors.allow_origins):
        return origin
    return None


def _origin_matches(pattern: str, origin: str) -> bool:
    if pattern == "*":
        return True
    if pattern in {"https://*", "http://*"}:  # the scheme wildcards HTTP APIs accept
        return origin.startswith(pattern[:-1])
    return pattern.lower() == origin.lower()


def _first(request: HttpRequest, name: str) -> str | None:
    return next((v for n, v in request.headers if n.lower() == name), None)
