"""Parsing manifest text: specs out of valid documents, located errors out of broken ones."""

from pathlib import PurePosixPath

import pytest

from reconciler.domain import values
from reconciler.manifest import loader, schema

LOCATION = PurePosixPath("manifests/api.yaml")

REST = """\
apiVersion: reconciler/v1
kind: RestApi
metadata:
  name: shop
  labels: {team: web, tier: edge}
spec:
  provider: aws
  region: eu-west-1
  function:
    runtime: python3.13
    handler: pkg.app.handler
    source: ../functions/shop
    memoryMb: 512
    timeoutSeconds: 30
    environment:
      MODE: live
      API_KEY: {secretRef: SHOP_API_KEY}
  routes: ["GET /items/{id}", "POST /items", "$default"]
  cors:
    allowOrigins: ["https://shop.example"]
    allowCredentials: true
  stage: prod
  healthCheck: {path: /health, expectStatus: 204}
  policy: {prune: true, drift: heal, autoRollback: false}
  aws:
    policyArns: ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
"""

WEBSOCKET = """\
apiVersion: reconciler/v1
kind: WebSocketApi
metadata: {name: chat}
spec:
  provider: local
  local: {port: 9001}
  function: {runtime: nodejs22.x, handler: index.handler, source: fn}
  routes: [$connect, $default, sendmessage]
"""
AZURE_WS = """\
apiVersion: reconciler/v1
kind: WebSocketApi
metadata: {name: chat}
spec:
  provider: azure
  location: westeurope
  function: {runtime: nodejs22.x, handler: index.handler, source: fn}
  routes: [$connect, $default, sendmessage]
  azure:
    gateway: apim
"""


def parse(text: str) -> loader.LoadResult:
    return loader.parse_text(text, file="api.yaml", location=LOCATION)


def only_error(text: str) -> str:
    (error,) = parse(text).errors
    return str(error)


class TestValidDocuments:
    def test_rest_manifest_becomes_a_complete_spec(self):
        (manifest,) = parse(REST).manifests
        spec = manifest.spec
        assert (spec.name, spec.kind, spec.provider, spec.region) == (
            "shop",
            values.ApiKind.REST,
            values.Provider.AWS,
            "eu-west-1",
        )
        assert spec.labels == (("team", "web"), ("tier", "edge"))
        assert spec.function == values.ServerlessFunction(
            runtime=values.Runtime.PYTHON_3_13,
            handler="pkg.app.handler",
            source="functions/shop",
            memory_mb=512,
            timeout_seconds=30,
            environment=(("API_KEY", values.SecretRef("SHOP_API_KEY")), ("MODE", "live")),
        )
        assert spec.gateway.route_keys == ("GET /items/{id}", "POST /items", "$default")
        assert spec.gateway.stage == "prod"
        assert spec.gateway.cors == values.Cors(
            allow_origins=("https://shop.example",), allow_credentials=True
        )
        assert spec.health_check == values.HealthCheck(path="/health", expect_status=204)
        assert spec.policy == values.Policy(
            prune=True, drift=values.DriftPolicy.HEAL, auto_rollback=False
        )
        assert spec.provider_options == {
            "aws": {
                "regions": [],
                "policyArns": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
                "architecture": "arm64",
            }
        }

    def test_websocket_manifest_gets_defaults(self):
        (manifest,) = parse(WEBSOCKET).manifests
        spec = manifest.spec
        assert spec.kind is values.ApiKind.WEBSOCKET
        assert spec.gateway.route_selection_expression == "$request.body.action"
        assert spec.gateway.route_keys == ("$connect", "$default", "sendmessage")
        assert spec.gateway.stage == "live"
        assert spec.gateway.cors is None
        assert (spec.function.memory_mb, spec.function.timeout_seconds) == (128, 10)
        assert spec.policy == values.Policy()
        assert spec.health_check is None
        assert spec.provider_options == {"local": {"port": 9001}}

    def test_several_documents_and_empty_ones_in_one_file(self):
        result = parse(f"---\n{REST}---\n# only a comment\n---\n{WEBSOCKET}")
        assert result.errors == []
        assert [m.spec.name for m in result.manifests] == ["shop", "chat"]

    def test_azure_location_is_the_spec_region(self):
        text = WEBSOCKET.replace(
            "provider: local\n  local: {port: 9001}", "provider: azure\n  location: westeurope"
        )
        (manifest,) = parse(text).manifests
        assert manifest.spec.region == "westeurope"

    def test_error_helper_points_at_a_field_of_a_loaded_manifest(self):
        (manifest,) = parse(REST).manifests
        error = manifest.error(("spec", "function", "handler"), "nope")
        assert str(error) == "api.yaml:11:14: spec.function.handler: nope"


class TestRejectedDocuments:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "- a\n- b\n", "api.yaml:1:1: a manifest must be a YAML mapping", id="list"
            ),
            pytest.param(
                "apiVersion: reconciler/v1\n",
                "api.yaml:1:1: kind: required field is missing (RestApi or WebSocketApi)",
                id="no-kind",
            ),
            pytest.param(
                "kind: [RestApi]\n",
                "api.yaml:1:7: kind: unknown kind ['RestApi'] (expected RestApi or WebSocketApi)",
                id="kind-not-a-string",
            ),
            pytest.param(
                REST.replace("reconciler/v1", "reconciler/v2"),
                "api.yaml:1:13: apiVersion: Input should be 'reconciler/v1'",
                id="api-version",
            ),
            pytest.param(
                REST.replace("handler: pkg.app.handler", "handler: app"),
                "api.yaml:11:14: spec.function.handler: "
                "must be module.function, such as app.handler",
                id="handler-without-function",
            ),
            pytest.param(
                REST.replace("MODE: live", "MODE: 3"),
                "api.yaml:16:13: spec.function.environment.MODE: Input should be a valid string",
                id="env-number",
            ),
            pytest.param(
                REST.replace("MODE: live", "1MODE: live"),
                "api.yaml:16:7: spec.function.environment.1MODE: must be an environment "
                "variable name: letters, digits and '_', not starting with a digit",
                id="env-name",
            ),
            pytest.param(
                REST.replace('"POST /items"', '"GET /items/{id}"'),
                "api.yaml:18:31: spec.routes[1]: route 'GET /items/{id}' is listed twice",
                id="duplicate-route",
            ),
            pytest.param(
                REST.replace('allowOrigins: ["https://shop.example"]', "allowOrigins: ['*']"),
                "api.yaml:21:23: spec.cors.allowCredentials: browsers refuse credentials "
                "with allowOrigins '*'; list the origins instead",
                id="cors-credentials-wildcard",
            ),
            pytest.param(
                REST.replace("  region: eu-west-1\n", "  region: eu-west-1\n  local: {}\n"),
                "api.yaml:9:10: spec.local: applies to provider local only, not aws",
                id="provider-block-mismatch",
            ),
            pytest.param(
                WEBSOCKET.replace("provider: local\n  local: {port: 9001}", "provider: azure"),
                "api.yaml:5:3: spec.location: provider azure needs a location, such as westeurope",
                id="azure-without-location",
            ),
            pytest.param(
                WEBSOCKET.replace("source: fn", "source: /srv/fn"),
                "api.yaml:7:67: spec.function.source: '/srv/fn' resolves outside the repository",
                id="absolute-source",
            ),
            pytest.param(
                WEBSOCKET.replace("source: fn", "source: ../.."),
                "api.yaml:7:67: spec.function.source: '../..' resolves outside the repository",
                id="parent-source",
            ),
            pytest.param(
                WEBSOCKET.replace("sendmessage]", "sendmessage]\n  cors: {allowOrigins: ['*']}"),
                "api.yaml:9:3: spec.cors: unknown field (not part of reconciler/v1)",
                id="cors-on-websocket",
            ),
            pytest.param(
                WEBSOCKET + "  routeSelectionExpression: action\n",
                "api.yaml:9:29: spec.routeSelectionExpression: must select a body field, "
                "such as $request.body.action",
                id="selection-expression",
            ),
            pytest.param(
                AZURE_WS + "    apim: {auth: jwt}\n",
                "api.yaml:11:18: spec.azure.apim.auth: auth jwt needs a jwt block "
                "(openidConfigUrl, audiences)",
                id="apim-jwt-without-settings",
            ),
            pytest.param(
                AZURE_WS
                + "    apim: {jwt: {openidConfigUrl: 'https://id.example/', audiences: [a]}}\n",
                "api.yaml:11:17: spec.azure.apim.jwt: applies with auth: jwt only",
                id="apim-jwt-settings-without-jwt-auth",
            ),
            pytest.param(
                AZURE_WS.replace("gateway: apim", "gateway: none")
                + "    apim: {auth: subscriptionKey}\n",
                "api.yaml:11:11: spec.azure.apim: applies with gateway: apim only",
                id="apim-settings-without-apim",
            ),
            pytest.param(
                AZURE_WS + "    apim: {auth: jwt, jwt: {openidConfigUrl: 'http://id.example/',"
                " audiences: [a]}}\n",
                "api.yaml:11:46: spec.azure.apim.jwt.openidConfigUrl: must be an https:// URL",
                id="apim-jwt-over-http",
            ),
            pytest.param(
                AZURE_WS + "    apim: {auth: jwt, jwt: {openidConfigUrl: 'https://id.example/',"
                " audiences: []}}\n",
                "api.yaml:11:80: spec.azure.apim.jwt.audiences: "
                "List should have at least 1 item after validation, not 0",
                id="apim-jwt-without-audiences",
            ),
            pytest.param(
                "a: 1\nb: \x07\n",
                "api.yaml:2:4: YAML syntax error: control characters are not allowed",
                id="control-character",
            ),
        ],
    )
    def test_error_is_reported_at_the_offending_value(self, text: str, expected: str):
        assert only_error(text) == expected

    def test_a_bad_document_does_not_hide_the_good_one_after_it(self):
        result = parse(f"- not a manifest\n---\n{WEBSOCKET}")
        assert [m.spec.name for m in result.manifests] == ["chat"]
        assert len(result.errors) == 1

    def test_secret_values_never_appear_in_errors(self):
        """A value that fails validation is located, not echoed: it may be a secret."""
        text = REST.replace("MODE: live", "MODE: {secretRef: hunter2-is-my-password}")
        assert "hunter2" not in only_error(text)


class TestBytes:
    def test_non_utf8_file_is_rejected_at_its_start(self):
        (error,) = loader.parse_bytes(b"name: \xff\n", file="x.yaml", location=LOCATION).errors
        assert str(error) == "x.yaml:1:1: file is not UTF-8 (byte 6)"

    def test_file_over_the_limit_is_rejected_unparsed(self):
        data = b"#" * (loader.MAX_FILE_BYTES + 1)
        (error,) = loader.parse_bytes(data, file="x.yaml", location=LOCATION).errors
        assert error.message == "file is 1.0 MiB; a manifest may be at most 1 MiB"

    def test_utf8_file_within_the_limit_parses(self):
        result = loader.parse_bytes(REST.encode(), file="x.yaml", location=LOCATION)
        assert [m.spec.name for m in result.manifests] == ["shop"]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        pytest.param((), "", id="empty"),
        pytest.param(("spec",), "spec", id="one"),
        pytest.param(("spec", "routes", 2), "spec.routes[2]", id="index"),
        pytest.param((0, "a"), "[0].a", id="leading-index"),
    ],
)
def test_field_paths_read_as_written(path: tuple[str | int, ...], text: str):
    assert loader.format_path(path) == text


def test_json_schema_describes_both_kinds():
    document = schema.json_schema()
    assert document["$schema"].endswith("2020-12/schema")
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in document["oneOf"]}
    assert kinds == {"RestApiManifest", "WebSocketApiManifest"}
    rest = document["$defs"]["RestApiManifest"]
    assert set(rest["required"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert rest["additionalProperties"] is False


def test_every_schema_pattern_has_words_for_its_error():
    """A pattern without a hint would surface as a raw regular expression to the user."""

    def patterns(node: object) -> set[str]:
        if isinstance(node, dict):
            own = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
            return own.union(*(patterns(value) for value in node.values()))
        if isinstance(node, list):
            return set().union(*(patterns(item) for item in node))
        return set()

    found = patterns(schema.json_schema())
    assert found
    assert found <= set(schema.PATTERN_HINTS)
