"""WebSocket APIs: route selection, proxy events, results read back and Management API answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from reconciler.adapters.local.gateway.rest import HttpResponse
from reconciler.adapters.local.gateway.wsevents import (
    connect_accepted,
    connect_event,
    connection_info,
    disconnect_event,
    error_message,
    forbidden_message,
    gone_error,
    message_event,
    route_reply,
    select_route,
)

CONNECTED_AT = datetime(2020, 3, 12, 19, 0, tzinfo=UTC)
CONNECTED_MS = 1584039600000  # calendar.timegm((2020, 3, 12, 19, 0, 0)) * 1000
NOW = datetime(2020, 3, 12, 19, 3, 58, 390000, tzinfo=UTC)
NOW_MS = 1584039838390
DOMAIN = "abc.example.com"
WHERE = {"source_ip": "192.0.2.7", "stage": "live", "domain_name": DOMAIN, "api_id": "chat"}
ROUTES = {"$connect", "$disconnect", "$default", "send", "join", "5", "true", "$secret"}


def context(route_key: str, event_type: str, *, connected_ms: int = CONNECTED_MS, **extra):
    """The request context every event shares, with `extra` right after the route key."""
    return {
        "routeKey": route_key,
        **extra,
        "eventType": event_type,
        "extendedRequestId": "req-1",
        "requestTime": "12/Mar/2020:19:03:58 +0000",
        "messageDirection": "IN",
        "stage": "live",
        "connectedAt": connected_ms,
        "requestTimeEpoch": NOW_MS,
        "identity": {"sourceIp": "192.0.2.7"},
        "requestId": "req-1",
        "domainName": DOMAIN,
        "connectionId": "conn-1",
        "apiId": "chat",
    }


class TestSelectRoute:
    """Which route a message takes."""

    @pytest.mark.parametrize(
        ("expression", "body", "route"),
        [
            pytest.param("$request.body.action", '{"action": "send"}', "send", id="custom-route"),
            pytest.param("$request.body.a.b", '{"a": {"b": "join"}}', "join", id="nested-field"),
            pytest.param("$request.body.action", '{"action": 5}', "5", id="number-stringified"),
            pytest.param("$request.body.action", '{"action": true}', "true", id="bool-stringified"),
            pytest.param(
                "$request.body.action", '{"action": "nope"}', "$default", id="unknown-key"
            ),
            pytest.param(
                "$request.body.action", '{"other": "send"}', "$default", id="missing-field"
            ),
            pytest.param("$request.body.a.b", '{"a": "send"}', "$default", id="not-an-object"),
            pytest.param("$request.body.action", '["send"]', "$default", id="array-body"),
            pytest.param("$request.body.action", '{"action": null}', "$default", id="null-value"),
            pytest.param(
                "$request.body.action", '{"action": ["send"]}', "$default", id="array-value"
            ),
            pytest.param("$request.body.action", "send", "$default", id="not-json"),
            pytest.param(
                "$request.body.action", "[" * 100_000, "$default", id="nesting-too-deep-for-json"
            ),
            pytest.param(
                "$request.body.action", b'{"action": "send"}', "$default", id="binary-frame"
            ),
            pytest.param(
                "$request.body.action",
                '{"action": "$connect"}',
                "$default",
                id="predefined-connect-not-selectable",
            ),
            pytest.param(
                "$request.body.action",
                '{"action": "$secret"}',
                "$default",
                id="dollar-keys-not-selectable",
            ),
        ],
    )
    def test_expression_selects_a_custom_route_or_default(self, expression, body, route):
        assert select_route(expression, body, ROUTES) == route

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param('{"action": "nope"}', id="unknown-key"),
            pytest.param("not json", id="not-json"),
            pytest.param(b"\x00", id="binary-frame"),
        ],
    )
    def test_without_default_an_unrouted_message_has_no_route(self, body):
        assert select_route("$request.body.action", body, {"$connect", "send"}) is None

    def test_expression_outside_the_body_is_refused(self):
        """The manifest only accepts `$request.body.*`; anything else is a programming error."""
        with pytest.raises(ValueError, match="unsupported route selection expression"):
            select_route("$request.header.x", "{}", ROUTES)


class TestConnectEvent:
    """The `$connect` event."""

    def test_connect_carries_the_upgrade_request(self):
        event = connect_event(
            connection_id="conn-1",
            request_id="req-1",
            headers=[("Host", DOMAIN), ("X-Tag", "a"), ("X-Tag", "b")],
            raw_query="token=abc&room=1&room=2&note=a+b%21",
            now=NOW,
            **WHERE,
        )

        assert event == {
            "headers": {"Host": DOMAIN, "X-Tag": "b"},
            "multiValueHeaders": {"Host": [DOMAIN], "X-Tag": ["a", "b"]},
            "queryStringParameters": {"token": "abc", "room": "2", "note": "a b!"},
            "multiValueQueryStringParameters": {
                "token": ["abc"],
                "room": ["1", "2"],
                "note": ["a b!"],
            },
            "requestContext": context("$connect", "CONNECT", connected_ms=NOW_MS),
            "isBase64Encoded": False,
        }

    def test_connect_without_query_has_no_query_fields(self):
        event = connect_event(
            connection_id="conn-1", request_id="req-1", headers=[], raw_query="", now=NOW, **WHERE
        )

        assert "queryStringParameters" not in event
        assert "multiValueQueryStringParameters" not in event

    def test_connect_identity_names_the_user_agent(self):
        event = connect_event(
            connection_id="conn-1",
            request_id="req-1",
            headers=[("user-agent", "wscat/5")],
            raw_query="",
            now=NOW,
            **WHERE,
        )

        assert event["requestContext"]["identity"] == {
            "sourceIp": "192.0.2.7",
            "userAgent": "wscat/5",
        }


class TestMessageEvent:
    """A message event."""

    def test_text_frame_is_the_body(self):
        event = message_event(
            route_key="send",
            connection_id="conn-1",
            message_id="msg-1",
            request_id="req-1",
            body='{"action": "send"}',
            connected_at=CONNECTED_AT,
            now=NOW,
            **WHERE,
        )

        assert event == {
            "requestContext": context("send", "MESSAGE", messageId="msg-1"),
            "body": '{"action": "send"}',
            "isBase64Encoded": False,
        }

    @pytest.mark.parametrize(
        ("frame", "body"),
        [
            pytest.param(b"\x00\xff", "AP8=", id="binary"),
            pytest.param(b"hi", "aGk=", id="binary-even-if-it-reads-as-text"),
        ],
    )
    def test_binary_frame_is_base64(self, frame, body):
        event = message_event(
            route_key="$default",
            connection_id="conn-1",
            message_id="msg-1",
            request_id="req-1",
            body=frame,
            connected_at=CONNECTED_AT,
            now=NOW,
            **WHERE,
        )

        assert (event["body"], event["isBase64Encoded"]) == (body, True)

    def test_message_identity_keeps_the_connections_user_agent(self):
        event = message_event(
            route_key="send",
            connection_id="conn-1",
            message_id="msg-1",
            request_id="req-1",
            body="x",
            connected_at=CONNECTED_AT,
            now=NOW,
            user_agent="wscat/5",
            **WHERE,
        )

        assert event["requestContext"]["identity"]["userAgent"] == "wscat/5"


def test_disconnect_carries_the_close_code_and_the_headers_aws_sends():
    event = disconnect_event(
        connection_id="conn-1",
        request_id="req-1",
        connected_at=CONNECTED_AT,
        now=NOW,
        status_code=1001,
        reason="Going away",
        **WHERE,
    )

    assert event == {
        "headers": {"Host": DOMAIN, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""},
        "multiValueHeaders": {
            "Host": [DOMAIN],
            "x-api-key": [""],
            "X-Forwarded-For": [""],
            "x-restapi": [""],
        },
        "requestContext": context(
            "$disconnect", "DISCONNECT", disconnectStatusCode=1001, disconnectReason="Going away"
        ),
        "isBase64Encoded": False,
    }


def test_event_times_are_written_in_utc():
    """A moment given in another zone is the same instant, written as UTC."""
    local = NOW.astimezone(timezone(timedelta(hours=-5)))

    event = message_event(
        route_key="send",
        connection_id="conn-1",
        message_id="msg-1",
        request_id="req-1",
        body="x",
        connected_at=CONNECTED_AT,
        now=local,
        **WHERE,
    )

    assert event["requestContext"]["requestTime"] == "12/Mar/2020:19:03:58 +0000"
    assert event["requestContext"]["requestTimeEpoch"] == NOW_MS


@pytest.mark.parametrize(
    ("payload", "reply"),
    [
        pytest.param({"statusCode": 200, "body": "hello"}, "hello", id="body-of-result"),
        pytest.param({"statusCode": 500, "body": "oops"}, "oops", id="body-whatever-the-status"),
        pytest.param({"statusCode": 200, "body": {"a": 1}}, '{"a": 1}', id="object-body-encoded"),
        pytest.param({"statusCode": 200}, None, id="no-body"),
        pytest.param({"statusCode": 200, "body": None}, None, id="null-body"),
        pytest.param("hi", "hi", id="bare-string"),
        pytest.param({"answer": 42}, '{"answer": 42}', id="other-json"),
        pytest.param([1, 2], "[1, 2]", id="array"),
        pytest.param(None, None, id="nothing-returned"),
    ],
)
def test_route_reply_is_what_the_caller_is_sent(payload, reply):
    assert route_reply(payload) == reply


@pytest.mark.parametrize(
    ("payload", "refused_with"),
    [
        pytest.param({"statusCode": 200}, None, id="ok"),
        pytest.param({"statusCode": 204, "body": "x"}, None, id="any-2xx"),
        pytest.param({"body": "x"}, None, id="no-status"),
        pytest.param(None, None, id="nothing-returned"),
        pytest.param("welcome", None, id="bare-string"),
        pytest.param({"statusCode": 401}, 401, id="unauthorized"),
        pytest.param({"statusCode": 302}, 302, id="redirect-refuses"),
        pytest.param({"statusCode": 199}, 199, id="informational-refuses"),
        pytest.param({"statusCode": "200"}, 502, id="string-status"),
        pytest.param({"statusCode": True}, 502, id="bool-status"),
        pytest.param({"statusCode": 700}, 502, id="out-of-range"),
    ],
)
def test_connect_result_accepts_or_refuses_the_connection(payload, refused_with):
    assert connect_accepted(payload) == refused_with


class TestManagementApi:
    """What `@connections/{id}` answers."""

    @pytest.mark.parametrize(
        ("user_agent", "identity"),
        [
            pytest.param("wscat/5", {"sourceIp": "192.0.2.7", "userAgent": "wscat/5"}, id="ua"),
            pytest.param(None, {"sourceIp": "192.0.2.7"}, id="no-ua"),
        ],
    )
    def test_connection_info_uses_the_wire_names_and_iso_times(self, user_agent, identity):
        info = connection_info(
            connected_at=CONNECTED_AT,
            last_active_at=NOW.astimezone(timezone(timedelta(hours=2))),
            source_ip="192.0.2.7",
            user_agent=user_agent,
        )

        assert info == {
            "connectedAt": "2020-03-12T19:00:00.000Z",
            "identity": identity,
            "lastActiveAt": "2020-03-12T19:03:58.390Z",
        }

    def test_unknown_connection_is_gone_as_sdks_read_it(self):
        """410 with the error type in a header and no body, as AWS answers."""
        assert gone_error() == HttpResponse(
            410,
            [("content-type", "application/json"), ("x-amzn-ErrorType", "GoneException")],
            b"",
        )


class TestErrorFrames:
    """Errors the gateway itself sends a WebSocket caller."""

    def test_forbidden_message_is_byte_for_byte_what_aws_sends(self):
        text = forbidden_message(connection_id="XDmENcnwIE0CFEQ=", request_id="XDmGEE2RoE0FRdQ=")

        assert text == (
            '{"message": "Forbidden", "connectionId":"XDmENcnwIE0CFEQ=",'
            ' "requestId":"XDmGEE2RoE0FRdQ="}'
        )

    def test_error_message_escapes_what_it_quotes(self):
        text = error_message('bad "x"', connection_id='c"1', request_id="r\\1")

        assert json.loads(text) == {
            "message": 'bad "x"',
            "connectionId": 'c"1',
            "requestId": "r\\1",
        }
