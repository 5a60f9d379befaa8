"""Payload format 2.0: events built from requests, results read back, CORS and gateway errors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from reconciler.adapters.local.gateway.rest import (
    HttpRequest,
    HttpResponse,
    InvalidResponseError,
    build_event,
    cors_headers,
    epoch_millis,
    error_response,
    is_preflight,
    preflight,
    request_time,
    to_http_response,
    with_cors,
)
from reconciler.adapters.local.gateway.routing import RouteMatch
from reconciler.domain.values import Cors

NOW = datetime(2020, 3, 12, 19, 3, 58, 390000, tzinfo=UTC)
NOW_MS = 1584039838390  # calendar.timegm((2020, 3, 12, 19, 3, 58)) * 1000 + 390
ROUTE = RouteMatch("GET /items/{id}", {"id": "42"})
ORIGIN = "https://app.example.com"


def request(
    *,
    method: str = "GET",
    raw_path: str = "/live/items/42",
    raw_query: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> HttpRequest:
    return HttpRequest(
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers if headers is not None else [("Host", "api.example.com")],
        body=body,
        source_ip="192.0.2.7",
    )


def event_for(http: HttpRequest, *, route: RouteMatch = ROUTE, domain: str = "abc.example.com"):
    return build_event(
        http,
        route=route,
        stage="live",
        api_id="orders",
        domain_name=domain,
        request_id="req-1",
        now=NOW,
    )


class TestBuildEvent:
    """The event an HTTP API sends a function."""

    def test_request_becomes_the_documented_event_shape(self):
        """Every field of the format 2.0 example, from one request that uses them all."""
        http = HttpRequest(
            method="POST",
            raw_path="/live/items/42",
            raw_query="a=1&a=2&b=x%20y",
            headers=[
                ("Host", "abc.example.com"),
                ("User-Agent", "curl/8.0"),
                ("Cookie", "s=1; t=2"),
                ("X-Tag", "one"),
                ("x-tag", "two"),
            ],
            body=b'{"name": "pen"}',
            source_ip="192.0.2.7",
            protocol="HTTP/2.0",
        )

        assert event_for(http) == {
            "version": "2.0",
            "routeKey": "GET /items/{id}",
            "rawPath": "/live/items/42",
            "rawQueryString": "a=1&a=2&b=x%20y",
            "cookies": ["s=1", "t=2"],
            "headers": {"host": "abc.example.com", "user-agent": "curl/8.0", "x-tag": "one,two"},
            "queryStringParameters": {"a": "1,2", "b": "x y"},
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "orders",
                "domainName": "abc.example.com",
                "domainPrefix": "abc",
                "http": {
                    "method": "POST",
                    "path": "/live/items/42",
                    "protocol": "HTTP/2.0",
                    "sourceIp": "192.0.2.7",
                    "userAgent": "curl/8.0",
                },
                "requestId": "req-1",
                "routeKey": "GET /items/{id}",
                "stage": "live",
                "time": "12/Mar/2020:19:03:58 +0000",
                "timeEpoch": NOW_MS,
            },
            "pathParameters": {"id": "42"},
            "isBase64Encoded": False,
            "body": '{"name": "pen"}',
        }

    def test_optional_fields_are_left_out_when_empty(self):
        """No cookies, query, path parameters or body: those keys are absent, not empty."""
        event = event_for(request(), route=RouteMatch("$default", {}))

        assert set(event) == {
            "version",
            "routeKey",
            "rawPath",
            "rawQueryString",
            "headers",
            "requestContext",
            "isBase64Encoded",
        }
        assert event["isBase64Encoded"] is False
        assert event["requestContext"]["http"]["userAgent"] == ""

    @pytest.mark.parametrize(
        ("headers", "cookies"),
        [
            pytest.param([("Cookie", "a=1")], ["a=1"], id="one"),
            pytest.param([("cookie", " a=1 ;b=2; ")], ["a=1", "b=2"], id="trimmed"),
            pytest.param([("Cookie", "a=1"), ("COOKIE", "b=2")], ["a=1", "b=2"], id="two-headers"),
            pytest.param([("Cookie", "a=x=y;;")], ["a=x=y"], id="empty-pieces-dropped"),
        ],
    )
    def test_cookie_headers_become_the_cookies_list(self, headers, cookies):
        event = event_for(request(headers=headers))

        assert event["cookies"] == cookies
        assert "cookie" not in event["headers"]

    @pytest.mark.parametrize(
        ("raw_query", "parameters"),
        [
            pytest.param("a=1", {"a": "1"}, id="one"),
            pytest.param("a=1&a=2&a=3", {"a": "1,2,3"}, id="repeats-comma-joined"),
            pytest.param("q=a%2Cb+c", {"q": "a,b c"}, id="decoded-plus-is-space"),
            pytest.param("flag&x=", {"flag": "", "x": ""}, id="blank-values-kept"),
        ],
    )
    def test_query_string_is_decoded_into_parameters(self, raw_query, parameters):
        event = event_for(request(raw_query=raw_query))

        assert event["queryStringParameters"] == parameters
        assert event["rawQueryString"] == raw_query

    @pytest.mark.parametrize(
        ("body", "text", "encoded"),
        [
            pytest.param(b"hello", "hello", False, id="ascii"),
            pytest.param("héllo".encode(), "héllo", False, id="utf-8-text"),
            pytest.param(
                b"\xff\x00\x01",
                base64.b64encode(b"\xff\x00\x01").decode(),
                True,
                id="binary-base64",
            ),
        ],
    )
    def test_body_is_text_when_it_reads_as_utf8_else_base64(self, body, text, encoded):
        event = event_for(request(body=body))

        assert (event["body"], event["isBase64Encoded"]) == (text, encoded)

    @pytest.mark.parametrize(
        ("domain", "prefix"),
        [
            pytest.param("abc123.execute-api.us-east-1.amazonaws.com", "abc123", id="aws-name"),
            pytest.param("localhost:8080", "localhost", id="port-dropped"),
            pytest.param("127.0.0.1:8080", "127.0.0.1", id="ipv4-kept-whole"),
            pytest.param("[::1]:8080", "[::1]", id="ipv6-kept-whole"),
        ],
    )
    def test_domain_prefix_is_the_first_label_of_the_host(self, domain, prefix):
        event = event_for(request(), domain=domain)

        assert event["requestContext"]["domainPrefix"] == prefix
        assert event["requestContext"]["domainName"] == domain

    def test_path_parameters_are_a_copy_of_the_match(self):
        """A function that edits its event cannot change the route table's result."""
        route = RouteMatch("GET /items/{id}", {"id": "1"})

        event_for(request(), route=route)["pathParameters"]["id"] = "2"

        assert route.path_parameters == {"id": "1"}


class TestTimes:
    """How the gateway writes the time of a request."""

    @pytest.mark.parametrize(
        ("moment", "text"),
        [
            pytest.param(NOW, "12/Mar/2020:19:03:58 +0000", id="utc"),
            pytest.param(
                datetime(2020, 3, 12, 21, 3, 58, tzinfo=timezone(timedelta(hours=2))),
                "12/Mar/2020:19:03:58 +0000",
                id="converted-to-utc",
            ),
            pytest.param(
                datetime(2021, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
                "31/Dec/2020:23:30:00 +0000",
                id="across-new-year",
            ),
        ],
    )
    def test_request_time_is_written_in_utc(self, moment, text):
        assert request_time(moment) == text

    def test_epoch_millis_is_exact(self):
        """No float rounding: 390 ms stays 390 ms."""
        assert epoch_millis(NOW) == NOW_MS


class TestToHttpResponse:
    """How a function's result becomes the caller's response."""

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            pytest.param(
                {"statusCode": 201, "headers": {"Content-Type": "text/html"}, "body": "<p>"},
                HttpResponse(201, [("Content-Type", "text/html")], b"<p>"),
                id="structured",
            ),
            pytest.param(
                {"statusCode": 204},
                HttpResponse(204, [("content-type", "text/plain; charset=utf-8")], b""),
                id="no-body-no-content-type",
            ),
            pytest.param(
                {"statusCode": 200, "body": None, "headers": None, "cookies": None},
                HttpResponse(200, [("content-type", "text/plain; charset=utf-8")], b""),
                id="nulls-mean-absent",
            ),
            pytest.param(
                {"statusCode": 200, "headers": {"X-N": 3, "X-F": 1.5, "X-B": True, "X-C": False}},
                HttpResponse(
                    200,
                    [
                        ("X-N", "3"),
                        ("X-F", "1.5"),
                        ("X-B", "true"),
                        ("X-C", "false"),
                        ("content-type", "text/plain; charset=utf-8"),
                    ],
                    b"",
                ),
                id="header-values-stringified",
            ),
            pytest.param(
                {
                    "statusCode": 200,
                    "cookies": ["a=1; Path=/", "b=2"],
                    "body": "ok",
                    "headers": {"content-type": "text/plain"},
                },
                HttpResponse(
                    200,
                    [
                        ("content-type", "text/plain"),
                        ("set-cookie", "a=1; Path=/"),
                        ("set-cookie", "b=2"),
                    ],
                    b"ok",
                ),
                id="cookies-become-set-cookie",
            ),
            pytest.param(
                {
                    "statusCode": 200,
                    "isBase64Encoded": True,
                    "body": "AP8=",
                    "headers": {"content-type": "image/png"},
                },
                HttpResponse(200, [("content-type", "image/png")], b"\x00\xff"),
                id="base64-body-decoded",
            ),
            pytest.param(
                {
                    "statusCode": 200,
                    "isBase64Encoded": False,
                    "body": "AP8=",
                    "headers": {"content-type": "text/plain"},
                },
                HttpResponse(200, [("content-type", "text/plain")], b"AP8="),
                id="plain-body-kept",
            ),
            pytest.param(
                {"statusCode": 200, "body": "é", "headers": {"content-type": "text/plain"}},
                HttpResponse(200, [("content-type", "text/plain")], "é".encode()),
                id="text-body-utf8",
            ),
            pytest.param(
                "Hello from Lambda!",
                HttpResponse(200, [("content-type", "application/json")], b"Hello from Lambda!"),
                id="inferred-string-as-is",
            ),
            pytest.param(
                {"message": "Hello"},
                HttpResponse(200, [("content-type", "application/json")], b'{"message": "Hello"}'),
                id="inferred-object-encoded",
            ),
            pytest.param(
                [1, None],
                HttpResponse(200, [("content-type", "application/json")], b"[1, null]"),
                id="inferred-array-encoded",
            ),
            pytest.param(
                None,
                HttpResponse(200, [("content-type", "application/json")], b"null"),
                id="inferred-null",
            ),
        ],
    )
    def test_result_becomes_the_response_api_gateway_sends(self, payload, expected):
        assert to_http_response(payload) == expected

    @pytest.mark.parametrize(
        ("payload", "complaint"),
        [
            pytest.param({"statusCode": "200"}, "statusCode must be an integer", id="string-code"),
            pytest.param({"statusCode": True}, "statusCode must be an integer", id="bool-code"),
            pytest.param({"statusCode": 99}, "from 100 to 599, not 99", id="code-too-low"),
            pytest.param({"statusCode": 600}, "from 100 to 599, not 600", id="code-too-high"),
            pytest.param(
                {"statusCode": 200, "headers": []},
                "headers must be an object",
                id="headers-not-object",
            ),
            pytest.param(
                {"statusCode": 200, "headers": {"X": {"a": 1}}},
                "string or number",
                id="header-value-object",
            ),
            pytest.param(
                {"statusCode": 200, "headers": {"X": None}},
                "string or number",
                id="header-value-null",
            ),
            pytest.param(
                {"statusCode": 200, "headers": {"Bad Name": "x"}},
                "not a valid HTTP",
                id="header-name-invalid",
            ),
            pytest.param(
                {"statusCode": 200, "headers": {"X": "a\r\nSet-Cookie: x"}},
                "not a valid HTTP",
                id="header-line-break",
            ),
            pytest.param(
                {"statusCode": 200, "cookies": "a=1"},
                "cookies must be a list",
                id="cookies-not-list",
            ),
            pytest.param(
                {"statusCode": 200, "cookies": ""},
                "cookies must be a list",
                id="cookies-empty-string",
            ),
            pytest.param(
                {"statusCode": 200, "cookies": [1]},
                "cookies must be a list",
                id="cookie-not-string",
            ),
            pytest.param(
                {"statusCode": 200, "cookies": ["a=1\nb"]},
                "not a valid HTTP",
                id="cookie-line-break",
            ),
            pytest.param(
                {"statusCode": 200, "body": {"a": 1}}, "body must be a string", id="body-object"
            ),
            pytest.param(
                {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
                "not base64",
                id="bad-base64",
            ),
            pytest.param({1, 2}, "not JSON", id="inferred-not-json"),
            pytest.param(float("nan"), "not JSON", id="inferred-nan"),
        ],
    )
    def test_result_api_gateway_would_refuse_is_an_error(self, payload, complaint):
        with pytest.raises(InvalidResponseError, match=complaint):
            to_http_response(payload)


@pytest.mark.parametrize(
    ("status", "message", "body"),
    [
        pytest.param(404, "Not Found", b'{"message":"Not Found"}', id="not-found"),
        pytest.param(
            500, "Internal Server Error", b'{"message":"Internal Server Error"}', id="internal"
        ),
        pytest.param(
            503, "Service Unavailable", b'{"message":"Service Unavailable"}', id="unavailable"
        ),
        pytest.param(400, 'say "hi"', b'{"message":"say \\"hi\\""}', id="escaped"),
    ],
)
def test_gateway_errors_are_json_messages(status, message, body):
    assert error_response(status, message) == HttpResponse(
        status, [("content-type", "application/json")], body
    )


class TestCors:
    """CORS as an HTTP API with a CORS configuration answers it."""

    FULL = Cors(
        allow_origins=(ORIGIN,),
        allow_methods=("GET", "POST"),
        allow_headers=("authorization", "content-type"),
        expose_headers=("x-request-id", "date"),
        allow_credentials=True,
        max_age_seconds=300,
    )

    @pytest.mark.parametrize(
        ("method", "headers", "expected"),
        [
            pytest.param(
                "OPTIONS",
                [("Origin", ORIGIN), ("Access-Control-Request-Method", "GET")],
                True,
                id="preflight",
            ),
            pytest.param(
                "OPTIONS",
                [("origin", ORIGIN), ("access-control-request-method", "PUT")],
                True,
                id="lowercase-names",
            ),
            pytest.param("OPTIONS", [("Origin", ORIGIN)], False, id="no-requested-method"),
            pytest.param(
                "OPTIONS", [("Access-Control-Request-Method", "GET")], False, id="no-origin"
            ),
            pytest.param(
                "GET",
                [("Origin", ORIGIN), ("Access-Control-Request-Method", "GET")],
                False,
                id="not-options",
            ),
        ],
    )
    def test_preflight_is_options_with_origin_and_requested_method(self, method, headers, expected):
        assert is_preflight(request(method=method, headers=headers)) is expected

    @pytest.mark.parametrize(
        ("cors", "origin", "headers"),
        [
            pytest.param(
                FULL,
                ORIGIN,
                [
                    ("access-control-allow-origin", ORIGIN),
                    ("access-control-allow-credentials", "true"),
                    ("access-control-allow-methods", "GET,POST"),
                    ("access-control-allow-headers", "authorization,content-type"),
                    ("access-control-max-age", "300"),
                ],
                id="everything-configured",
            ),
            pytest.param(
                Cors(allow_origins=("*",)),
                ORIGIN,
                [("access-control-allow-origin", "*")],
                id="wildcard-without-credentials",
            ),
            pytest.param(
                Cors(allow_origins=("*",), allow_credentials=True),
                ORIGIN,
                [
                    ("access-control-allow-origin", ORIGIN),
                    ("access-control-allow-credentials", "true"),
                ],
                id="wildcard-with-credentials-echoes",
            ),
            pytest.param(
                Cors(allow_origins=("https://*",)),
                ORIGIN,
                [("access-control-allow-origin", ORIGIN)],
                id="scheme-wildcard",
            ),
            pytest.param(
                Cors(allow_origins=("https://APP.example.com",)),
                ORIGIN,
                [("access-control-allow-origin", ORIGIN)],
                id="origin-case-insensitive",
            ),
            pytest.param(FULL, "https://evil.example.com", [], id="origin-not-allowed"),
            pytest.param(Cors(allow_origins=("http://*",)), ORIGIN, [], id="other-scheme"),
            pytest.param(
                Cors(allow_origins=("https://*.example.com",)),
                ORIGIN,
                [],
                id="no-subdomain-wildcards",
            ),
            pytest.param(Cors(), ORIGIN, [], id="nothing-allowed"),
        ],
    )
    def test_gateway_answers_preflight_with_no_content(self, cors, origin, headers):
        http = request(
            method="OPTIONS",
            headers=[("Origin", origin), ("Access-Control-Request-Method", "POST")],
        )

        assert preflight(cors, http) == HttpResponse(204, headers, b"")

    @pytest.mark.parametrize(
        ("cors", "headers", "expected"),
        [
            pytest.param(
                FULL,
                [("Origin", ORIGIN)],
                [
                    ("access-control-allow-origin", ORIGIN),
                    ("access-control-expose-headers", "x-request-id,date"),
                    ("access-control-allow-credentials", "true"),
                ],
                id="allowed-origin",
            ),
            pytest.param(
                Cors(allow_origins=("*",)),
                [("origin", ORIGIN)],
                [("access-control-allow-origin", "*")],
                id="wildcard",
            ),
            pytest.param(FULL, [("Origin", "https://evil.example.com")], [], id="not-allowed"),
            pytest.param(FULL, [], [], id="no-origin"),
        ],
    )
    def test_actual_response_gets_cors_headers_for_allowed_origins(self, cors, headers, expected):
        assert cors_headers(cors, request(headers=headers)) == expected

    def test_gateway_cors_headers_replace_the_functions_own(self):
        """API Gateway ignores CORS headers from the integration when CORS is configured."""
        response = HttpResponse(
            200,
            [
                ("Content-Type", "text/plain"),
                ("Access-Control-Allow-Origin", "*"),
                ("access-control-max-age", "9"),
            ],
            b"ok",
        )

        answered = with_cors(
            Cors(allow_origins=(ORIGIN,)), request(headers=[("Origin", ORIGIN)]), response
        )

        assert answered == HttpResponse(
            200,
            [("Content-Type", "text/plain"), ("access-control-allow-origin", ORIGIN)],
            b"ok",
        )

    def test_function_cors_headers_are_dropped_even_for_a_refused_origin(self):
        response = HttpResponse(200, [("Access-Control-Allow-Origin", "*")], b"")

        answered = with_cors(Cors(allow_origins=(ORIGIN,)), request(headers=[]), response)

        assert answered == HttpResponse(200, [], b"")
