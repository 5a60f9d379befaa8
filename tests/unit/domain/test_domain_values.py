"""Value objects of a spec: route keys, runtimes, secrets, revisions and fingerprints."""

from __future__ import annotations

from dataclasses import replace

import pytest
from builders import make_spec

from reconciler.domain.errors import InvalidValueError
from reconciler.domain.values import (
    ApiGateway,
    ApiKind,
    Fingerprint,
    RestRoute,
    Revision,
    Runtime,
    SecretRef,
    ServerlessFunction,
    WebSocketRoute,
)

SHA1_LIKE = "0123456789abcdef0123456789abcdef01234567"
SHA256_LIKE = "0123456789abcdef" * 4


class TestRestRouteParse:
    """A REST route key as written in a manifest: `METHOD /path` or `$default`."""

    @pytest.mark.parametrize(
        ("text", "method", "path"),
        [
            pytest.param("GET /", "GET", "/", id="root"),
            pytest.param("GET /orders", "GET", "/orders", id="literal"),
            pytest.param("POST /orders/{id}", "POST", "/orders/{id}", id="parameter"),
            pytest.param(
                "DELETE /orders/{orderId}/items/{itemId}",
                "DELETE",
                "/orders/{orderId}/items/{itemId}",
                id="two-parameters",
            ),
            pytest.param("ANY /{proxy+}", "ANY", "/{proxy+}", id="greedy-alone"),
            pytest.param("GET /files/{path+}", "GET", "/files/{path+}", id="greedy-last"),
            pytest.param(
                "OPTIONS /v1.0/~me@host:8080/a_b-c",
                "OPTIONS",
                "/v1.0/~me@host:8080/a_b-c",
                id="literal-punctuation",
            ),
        ],
    )
    def test_valid_key_keeps_its_method_and_path(self, text, method, path):
        """Well-formed keys parse into their parts and print back exactly as written."""
        route = RestRoute.parse(text)

        assert (route.method, route.path) == (method, path)
        assert route.key == text

    def test_default_key_is_the_catch_all_for_any_method(self):
        """`$default` has no method of its own; it catches every method and path."""
        route = RestRoute.parse("$default")

        assert route == RestRoute(method="ANY", path="$default")
        assert route.key == "$default"

    @pytest.mark.parametrize(
        ("text", "complaint"),
        [
            pytest.param("FETCH /orders", "unknown HTTP method 'FETCH'", id="unknown-method"),
            pytest.param("get /orders", "unknown HTTP method 'get'", id="lowercase-method"),
            pytest.param("/orders", "unknown HTTP method '/orders'", id="no-method"),
            pytest.param("GET orders", "must start with '/'", id="no-leading-slash"),
            pytest.param("GET", "must start with '/'", id="no-path"),
            pytest.param("GET  /orders", "must start with '/'", id="two-spaces"),
            pytest.param("GET /orders/", "invalid segment ''", id="trailing-slash"),
            pytest.param("GET //orders", "invalid segment ''", id="empty-segment"),
            pytest.param("GET /or ders", "invalid segment 'or ders'", id="space-in-segment"),
            pytest.param("GET /orders/{id}x", r"invalid segment '\{id\}x'", id="half-parameter"),
            pytest.param("GET /{1st}", r"invalid segment '\{1st\}'", id="bad-parameter-name"),
            pytest.param(
                "GET /{proxy+}/items",
                r"greedy parameter \{proxy\+\} must be the last segment",
                id="greedy-not-last",
            ),
            pytest.param(
                "GET /orders/{id}/items/{id}", "repeats parameter 'id'", id="repeated-parameter"
            ),
            pytest.param(
                "GET /{path}/{path+}", "repeats parameter 'path'", id="repeated-as-greedy"
            ),
        ],
    )
    def test_malformed_key_is_rejected_with_the_reason(self, text, complaint):
        """Each malformed key is refused with a message that says what is wrong with it."""
        with pytest.raises(InvalidValueError, match=complaint):
            RestRoute.parse(text)

    def test_unknown_method_error_lists_the_allowed_methods(self):
        """The hint lists every method a manifest may use, sorted."""
        with pytest.raises(InvalidValueError) as caught:
            RestRoute.parse("FETCH /orders")

        assert "ANY, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT" in str(caught.value)


class TestWebSocketRouteParse:
    """A WebSocket route key: one of the predefined `$` keys or a custom action name."""

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("$connect", id="connect"),
            pytest.param("$disconnect", id="disconnect"),
            pytest.param("$default", id="default"),
            pytest.param("sendMessage", id="custom"),
            pytest.param("chat.v1:send_message-now", id="custom-punctuation"),
            pytest.param("a", id="custom-one-character"),
            pytest.param("a" * 128, id="custom-128-characters"),
        ],
    )
    def test_valid_key_is_kept_as_written(self, text):
        """Predefined keys and custom action names of 1 to 128 characters are accepted."""
        assert WebSocketRoute.parse(text).key == text

    @pytest.mark.parametrize(
        ("text", "complaint"),
        [
            pytest.param("$join", r"unknown predefined route '\$join'", id="unknown-predefined"),
            pytest.param("$", r"unknown predefined route '\$'", id="bare-dollar"),
            pytest.param("", "route key '' must be 1-128", id="empty"),
            pytest.param("a" * 129, "must be 1-128", id="custom-129-characters"),
            pytest.param("send message", "route key 'send message'", id="custom-with-space"),
            pytest.param("send/message", "route key 'send/message'", id="custom-with-slash"),
        ],
    )
    def test_malformed_key_is_rejected_with_the_reason(self, text, complaint):
        """Each malformed key is refused with a message that says what is wrong with it."""
        with pytest.raises(InvalidValueError, match=complaint):
            WebSocketRoute.parse(text)


class TestApiGateway:
    """The gateway reports its route keys the way API Gateway writes them."""

    def test_route_keys_are_written_as_api_gateway_writes_them(self):
        """REST keys are `METHOD /path`, except `$default`, which stands alone."""
        gateway = ApiGateway(
            kind=ApiKind.REST,
            routes=(RestRoute.parse("GET /orders/{id}"), RestRoute.parse("$default")),
        )

        assert gateway.route_keys == ("GET /orders/{id}", "$default")

    def test_websocket_route_keys_are_the_keys_themselves(self):
        """A WebSocket route is nothing but its key."""
        gateway = ApiGateway(
            kind=ApiKind.WEBSOCKET,
            routes=(WebSocketRoute.parse("$connect"), WebSocketRoute.parse("sendMessage")),
        )

        assert gateway.route_keys == ("$connect", "sendMessage")


@pytest.mark.parametrize(
    ("runtime", "language"),
    [
        pytest.param(Runtime.PYTHON_3_11, "python", id="python3.11"),
        pytest.param(Runtime.PYTHON_3_12, "python", id="python3.12"),
        pytest.param(Runtime.PYTHON_3_13, "python", id="python3.13"),
        pytest.param(Runtime.NODEJS_20, "node", id="nodejs20.x"),
        pytest.param(Runtime.NODEJS_22, "node", id="nodejs22.x"),
    ],
)
def test_runtime_names_its_language(runtime, language):
    """Packaging and handler checks branch on the language, not on the version."""
    assert runtime.language == language


class TestSecretNames:
    """Which secrets must be resolved before an apply."""

    def test_secret_names_lists_only_secret_references_in_order(self):
        """Plain values are not secrets; references are listed in manifest order."""
        function = ServerlessFunction(
            runtime=Runtime.NODEJS_22,
            handler="index.handler",
            source="functions/chat",
            environment=(
                ("API_KEY", SecretRef("chat-api-key")),
                ("STAGE", "live"),
                ("DB_PASSWORD", SecretRef("chat-db")),
            ),
        )

        assert function.secret_names == ("chat-api-key", "chat-db")

    def test_function_without_environment_has_no_secrets(self):
        """A function with no environment asks for nothing to be resolved."""
        function = ServerlessFunction(
            runtime=Runtime.PYTHON_3_12, handler="app.handler", source="functions/hello"
        )

        assert function.secret_names == ()


class TestRevision:
    """A full Git commit id: SHA-1 (40 hex) or SHA-256 (64 hex), lowercase."""

    @pytest.mark.parametrize(
        "sha",
        [
            pytest.param(SHA1_LIKE, id="sha1"),
            pytest.param(SHA256_LIKE, id="sha256"),
        ],
    )
    def test_full_commit_id_is_accepted(self, sha):
        """SHA-1 and SHA-256 repositories both produce valid revisions."""
        assert Revision(sha).sha == sha

    @pytest.mark.parametrize(
        "sha",
        [
            pytest.param("", id="empty"),
            pytest.param(SHA1_LIKE[:12], id="abbreviated"),
            pytest.param(SHA1_LIKE[:39], id="39-hex"),
            pytest.param(SHA1_LIKE + "8", id="41-hex"),
            pytest.param(SHA256_LIKE[:63], id="63-hex"),
            pytest.param(SHA256_LIKE + "0", id="65-hex"),
            pytest.param(SHA1_LIKE.upper(), id="uppercase"),
            pytest.param("g" * 40, id="not-hex"),
            pytest.param(f" {SHA1_LIKE[1:]}", id="leading-space"),
            pytest.param(f"{SHA1_LIKE}\n", id="trailing-newline"),
        ],
    )
    def test_anything_but_a_full_commit_id_is_rejected(self, sha):
        """Abbreviated, padded, uppercase or non-hex ids are never taken as revisions."""
        with pytest.raises(InvalidValueError, match="is not a full hexadecimal commit id"):
            Revision(sha)

    def test_short_form_is_the_first_twelve_characters(self):
        """People read 12 characters; the full id stays in the record."""
        assert Revision(SHA1_LIKE).short == "0123456789ab"

    def test_revision_prints_as_its_full_sha(self):
        """Formatting a revision never abbreviates it."""
        assert str(Revision(SHA1_LIKE)) == SHA1_LIKE
        assert f"{Revision(SHA256_LIKE)}" == SHA256_LIKE


class TestFingerprint:
    """Equal fingerprints mean no work; anything that changes what runs changes the fingerprint."""

    def test_same_inputs_give_the_same_fingerprint(self):
        """Two equal specs built apart hash the same, so an unchanged deployment is skipped."""
        first = Fingerprint.compute(make_spec(), source_tree="t1", program_version="1.0")
        second = Fingerprint.compute(make_spec(), source_tree="t1", program_version="1.0")

        assert first == second

    def test_fingerprint_is_a_sha256_hex_digest_and_prints_as_one(self):
        """The value is 64 hex characters, and printing shows it whole."""
        fingerprint = Fingerprint.compute(make_spec(), source_tree="t1", program_version="1.0")

        assert len(fingerprint.value) == 64
        assert int(fingerprint.value, 16) >= 0
        assert str(fingerprint) == fingerprint.value

    def test_order_of_provider_options_does_not_matter(self):
        """Keys are sorted before hashing, so reordering YAML does not force an apply."""
        one_way = make_spec(provider_options={"memory": 256, "tags": {"a": "1", "b": "2"}})
        other_way = make_spec(provider_options={"tags": {"b": "2", "a": "1"}, "memory": 256})

        assert Fingerprint.compute(
            one_way, source_tree="t1", program_version="1.0"
        ) == Fingerprint.compute(other_way, source_tree="t1", program_version="1.0")

    @pytest.mark.parametrize(
        ("spec", "source_tree", "program_version"),
        [
            pytest.param(make_spec(name="payments"), "t1", "1.0", id="spec-name"),
            pytest.param(
                make_spec(function=replace(make_spec().function, memory_mb=256)),
                "t1",
                "1.0",
                id="spec-function-memory",
            ),
            pytest.param(
                make_spec(
                    function=replace(
                        make_spec().function, environment=(("DB_PASSWORD", "orders-db"),)
                    )
                ),
                "t1",
                "1.0",
                id="spec-secret-becomes-plain-value",
            ),
            pytest.param(
                make_spec(provider_options={"memory": 256}), "t1", "1.0", id="spec-options"
            ),
            pytest.param(make_spec(), "t2", "1.0", id="source-tree"),
            pytest.param(make_spec(), "t1", "1.1", id="program-version"),
        ],
    )
    def test_fingerprint_changes_when_an_input_changes(self, spec, source_tree, program_version):
        """A new spec, source tree or program version means the deployment is applied again."""
        baseline = Fingerprint.compute(make_spec(), source_tree="t1", program_version="1.0")

        changed = Fingerprint.compute(
            spec, source_tree=source_tree, program_version=program_version
        )

        assert changed != baseline
