"""Azure Functions triggers in, AWS Lambda's handler contract out: the pure half of the Python shim.

Shipped at the root of a Function App beside the user's code and `function_app.py`, which calls
it; standard library only, so it runs, and is tested, without the Functions host. It mirrors the
local cloud's `gateway/rest.py` and `gateway/wsevents.py`: same events, same reading of results.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

JSON_TYPE = "application/json"
DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\+?\}")
_STATUS_CODES = range(100, 600)

Handler = Callable[[dict[str, object], "LambdaContext"], object]


class AzureRequest(Protocol):
    """What the shim reads of an `azure.functions.HttpRequest`."""

    @property
    def method(self) -> str:
        """The HTTP method."""

    @property
    def url(self) -> str:
        """The full request URL, query included."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The request headers."""

    @property
    def route_params(self) -> Mapping[str, str]:
        """The route template's values."""

    def get_body(self) -> bytes:
        """The raw body."""


@dataclass(frozen=True, slots=True)
class AzureResponse:
    """What `function_app.py` turns into an `azure.functions.HttpResponse`."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class InvalidResponseError(Exception):
    """A handler result API Gateway would refuse; the caller gets a 502."""


@dataclass(slots=True)
class LambdaContext:
    """The Lambda context object Python handlers receive, with what Azure can honestly give."""

    aws_request_id: str
    function_name: str
    deadline: float = field(repr=False)  # time.monotonic() seconds
    function_version: str = "$LATEST"
    memory_limit_in_mb: str = "128"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the configured timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def make_context(config: Mapping[str, object], request_id: str) -> LambdaContext:
    """A context for one invocation, its deadline the manifest's timeout from now."""
    timeout = config.get("timeoutSeconds", 10)
    seconds = timeout if isinstance(timeout, int) else 10
    return LambdaContext(
        request_id, str(config.get("functionName", "")), time.monotonic() + seconds
    )


def load_handler(root: Path, spec: str) -> Handler:
    """Import `module.function` from `root`, as Lambda reads a Python handler string."""
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise ImportError(f"Bad handler {spec!r}: use module.function")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    target: object = importlib.import_module(module_name.replace("/", "."))
    target = getattr(target, function_name, None)
    if not callable(target):
        raise TypeError(f"{spec} is undefined or not a function")
    return target  # type: ignore[no-any-return]  # callable() narrows to a bare Callable


# --- REST: HTTP trigger -> payload format 2.0 ---------------------------------------------------


def epoch_millis(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, exactly."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def request_time(moment: datetime) -> str:
    """API Gateway's request time, `12/Mar/2020:19:03:58 +0000`."""
    utc = moment.astimezone(UTC)
    return f"{utc:%d}/{_MONTHS[utc.month - 1]}/{utc:%Y:%H:%M:%S} +0000"


def http_event(
    request: AzureRequest,
    *,
    route_key: str,
    config: Mapping[str, object],
    request_id: str,
    now: datetime,
) -> dict[str, object]:
    """The payload format 2.0 event API Gateway would send for `request` on `route_key`."""
    url = urlsplit(request.url)
    cookies: list[str] = []
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(piece.strip() for piece in value.split(";") if piece.strip())
        else:
            headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    domain = headers.get("host", url.netloc)
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": url.path,
        "rawQueryString": url.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query := _joined_query(url.query):
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "apiId": str(config.get("apiId", "")),
        "domainName": domain,
        "domainPrefix": domain.split(":", 1)[0].split(".", 1)[0],
        "http": {
            "method": request.method.upper(),
            "path": url.path,
            "protocol": "HTTP/1.1",
            "sourceIp": _source_ip(headers),
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": str(config.get("stage", "")),
        "time": request_time(now),
        "timeEpoch": epoch_millis(now),
    }
    if parameters := _path_parameters(route_key, request.route_params):
        event["pathParameters"] = parameters
    event["isBase64Encoded"] = False
    if body := request.get_body():
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    return event


def _source_ip(headers: Mapping[str, str]) -> str:
    # Azure's front ends put the caller first in X-Forwarded-For, sometimes with a port.
    first = headers.get("x-forwarded-for", headers.get("client-ip", "")).split(",")[0].strip()
    return first.rsplit(":", 1)[0] if first.count(":") == 1 else first


def _joined_query(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def _path_parameters(route_key: str, route_params: Mapping[str, str]) -> dict[str, str]:
    # Only the manifest's own variables: `$default`'s catch-all `{*path}` is Azure's.
    names = _VARIABLE.findall(route_key)
    return {name: unquote(route_params[name]) for name in names if route_params.get(name)}


def to_response(payload: object) -> AzureResponse:
    """Read a handler's result as an HTTP API does with payload format 2.0."""
    if isinstance(payload, dict) and "statusCode" in payload:
        return _structured(payload)
    if isinstance(payload, str):
        return AzureResponse(200, [("content-type", JSON_TYPE)], payload.encode())
    try:
        body = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidResponseError(f"the handler returned a value that is not JSON: {exc}") from exc
    return AzureResponse(200, [("content-type", JSON_TYPE)], body.encode())


def _structured(payload: Mapping[object, object]) -> AzureResponse:
    status = payload["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or status not in _STATUS_CODES:
        raise InvalidResponseError(f"statusCode must be an integer from 100 to 599, not {status!r}")
    raw_headers = payload.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise InvalidResponseError("headers must be an object of names to values")
    headers = [_header(name, value) for name, value in raw_headers.items()]
    cookies = payload.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(cookie, str) for cookie in cookies):
        raise InvalidResponseError("cookies must be a list of strings")
    headers += [_header("set-cookie", cookie) for cookie in cookies]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", DEFAULT_CONTENT_TYPE))
    body = payload.get("body")
    if body is None:
        return AzureResponse(status, headers, b"")
    if not isinstance(body, str):
        raise InvalidResponseError("body must be a string")
    if payload.get("isBase64Encoded") is not True:
        return AzureResponse(status, headers, body.encode())
    try:
        return AzureResponse(status, headers, base64.b64decode(body, validate=True))
    except binascii.Error as exc:
        raise InvalidResponseError("isBase64Encoded is true but body is not base64") from exc


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
        raise InvalidResponseError(f"header {name!r} is not a valid HTTP header")
    return name, text


def error_response(status: int, message: str) -> AzureResponse:
    """An answer the gateway makes itself: `{"message":"..."}`."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return AzureResponse(status, [("content-type", JSON_TYPE)], body)


def handle_http(  # noqa: PLR0913  # the clock and request id are passed in for tests
    request: AzureRequest,
    *,
    route_key: str,
    config: Mapping[str, object],
    handler: Callable[[], Handler],
    now: datetime,
    request_id: str | None = None,
) -> AzureResponse:
    """Run the user's handler for one HTTP trigger call; any failure is API Gateway's 502."""
    request_id = request_id or str(uuid.uuid4())
    try:
        event = http_event(
            request, route_key=route_key, config=config, request_id=request_id, now=now
        )
        return to_response(handler()(event, make_context(config, request_id)))
    except Exception:  # noqa: BLE001  # whatever the user's code raises, the caller sees a 502
        return error_response(502, "Internal Server Error")
