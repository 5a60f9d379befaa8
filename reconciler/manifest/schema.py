"""The manifest schema (`apiVersion: reconciler/v1`), as strict pydantic models.

Field names are the camelCase keys of the YAML; unknown keys are errors. Rules that span several
fields live in `rules.py`, so each can name the exact field it is about.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
)
from pydantic.alias_generators import to_camel

from reconciler.domain.values import (
    DriftPolicy,
    Provider,
    RestRoute,
    Runtime,
    WebSocketRoute,
)

API_VERSION = "reconciler/v1"
DNS_LABEL = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
HANDLER = r"^[A-Za-z_][A-Za-z0-9_\-/]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*\.[A-Za-z_$][A-Za-z0-9_$]*$"
STAGE = r"^[A-Za-z0-9_-]{1,128}$"
SELECTION_EXPRESSION = r"^\$request\.body\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"
ACM_ARN = r"^arn:aws[a-z-]*:acm:"
IAM_POLICY_ARN = r"^arn:aws[a-z-]*:iam::"
ABSOLUTE_PATH = r"^/"
HTTPS_URL = r"^https://[^\s/]+/\S*$"

# What each pattern means, in words, for error messages.
PATTERN_HINTS = {
    DNS_LABEL: "must be a lowercase DNS label: a-z, 0-9 and '-', starting with a letter, "
    "at most 40 characters",
    ENV_NAME: "must be an environment variable name: letters, digits and '_', "
    "not starting with a digit",
    HANDLER: "must be module.function, such as app.handler",
    STAGE: "must be 1-128 letters, digits, '_' or '-'",
    SELECTION_EXPRESSION: "must select a body field, such as $request.body.action",
    ACM_ARN: "must be an ACM certificate ARN (arn:aws:acm:...)",
    IAM_POLICY_ARN: "must be an IAM policy ARN (arn:aws:iam::...)",
    ABSOLUTE_PATH: "must start with '/'",
    HTTPS_URL: "must be an https:// URL",
}


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        use_attribute_docstrings=True,
    )


class SecretRef(_Strict):
    """An environment value read from the daemon's secret of this name at apply time."""

    secret_ref: str = Field(pattern=ENV_NAME)


def _env_kind(value: object) -> str:
    return "<secretRef>" if isinstance(value, dict) else "<string>"


EnvValue = Annotated[
    Annotated[str, Tag("<string>")] | Annotated[SecretRef, Tag("<secretRef>")],
    Discriminator(_env_kind),
]


class Function(_Strict):
    """The function behind the API."""

    runtime: Runtime
    handler: str = Field(pattern=HANDLER, examples=["app.handler", "index.handler"])
    """`module.function`: a Python module or a Node.js file, then the exported function."""
    source: str = Field(min_length=1)
    """Folder of the function's code, relative to the manifest file."""
    memory_mb: int = Field(default=128, ge=128, le=10240)
    timeout_seconds: int = Field(default=10, ge=1, le=900)
    environment: dict[Annotated[str, Field(pattern=ENV_NAME)], EnvValue] = {}
    """Plain strings, or `{secretRef: NAME}` resolved at apply time and never stored."""


class Cors(_Strict):
    """Cross-origin rules for a REST API (the preflight is answered by the gateway)."""

    allow_origins: list[str] = Field(min_length=1)
    allow_methods: list[str] = []
    allow_headers: list[str] = []
    expose_headers: list[str] = []
    allow_credentials: bool = False
    max_age_seconds: int = Field(default=0, ge=0, le=86400)


class HealthCheck(_Strict):
    """A request made after every apply; it must answer `expectStatus` or the apply fails."""

    path: str = Field(default="/", pattern=ABSOLUTE_PATH)
    expect_status: int = Field(default=200, ge=100, le=599)


class Policy(_Strict):
    """How the reconciler treats this deployment."""

    suspend: bool = False
    """Leave the deployment alone, live infrastructure included."""
    prune: bool = False
    """Destroy the deployment when its manifest is removed from Git."""
    drift: DriftPolicy = DriftPolicy.REPORT
    """`report` drift in the logs, `heal` it by applying again, or `ignore` it."""
    auto_rollback: bool = True
    """Return to the last good revision when the health check fails after an apply."""


class AwsCustomDomain(_Strict):
    """A custom domain in front of the API."""

    domain_name: str = Field(min_length=1)
    certificate_arn: str = Field(pattern=ACM_ARN)


class AwsOptions(_Strict):
    """Settings only the `aws` provider reads."""

    regions: list[str] = []
    """Deploy to these regions too, one stack per region."""
    policy_arns: list[Annotated[str, Field(pattern=IAM_POLICY_ARN)]] = []
    """Extra IAM policies for the function's role, beyond basic execution."""
    custom_domain: AwsCustomDomain | None = None
    architecture: Literal["arm64", "x86_64"] = "arm64"
    """Lambda's processor; arm64 costs less. Vendored native wheels must match it."""


class ApimJwt(_Strict):
    """The tokens API Management accepts (its `validate-jwt` policy) before a call goes on."""

    openid_config_url: str = Field(pattern=HTTPS_URL)
    """The issuer's OpenID configuration, such as Entra ID's `.../v2.0/.well-known/...`."""
    audiences: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    issuers: list[Annotated[str, Field(min_length=1)]] = []
    """Accepted `iss` values; empty: the one the OpenID configuration names."""


class ApimOptions(_Strict):
    """The API Management service in front of the app, with `gateway: apim`."""

    sku: Literal["Consumption", "Developer", "Basic", "Standard", "Premium"] = "Consumption"
    """Consumption bills per call and is ready in minutes; the others take up to an hour."""
    auth: Literal["none", "subscriptionKey", "jwt"] = "none"
    """What a caller must show: nothing, an APIM subscription key, or a valid JWT."""
    jwt: ApimJwt | None = None
    """Required with `auth: jwt`."""


class AzureOptions(_Strict):
    """Settings only the `azure` provider reads."""

    resource_group: str | None = None
    """Use this existing resource group instead of creating one."""
    plan: Literal["consumption", "flex", "premium"] = "consumption"
    gateway: Literal["none", "apim"] = "none"
    """`apim` puts an API Management service in front of the Function App."""
    apim: ApimOptions | None = None


class LocalOptions(_Strict):
    """Settings only the `local` provider reads."""

    port: int | None = Field(default=None, ge=1024, le=65535)
    """Loopback port to serve on; a stable free port is chosen when absent."""


class Metadata(_Strict):
    """Identity of the deployment."""

    name: str = Field(pattern=DNS_LABEL, max_length=40)
    """A lowercase DNS label, unique across the repository."""
    labels: dict[str, str] = {}


class _Spec(_Strict):
    provider: Provider
    region: str | None = None
    """AWS region (provider `aws` only)."""
    location: str | None = None
    """Azure location (provider `azure` only)."""
    function: Function
    stage: str = Field(default="live", pattern=STAGE)
    health_check: HealthCheck | None = None
    policy: Policy = Policy()
    aws: AwsOptions | None = None
    azure: AzureOptions | None = None
    local: LocalOptions | None = None


def _rest_route(text: str) -> str:
    return RestRoute.parse(text).key


def _websocket_route(text: str) -> str:
    return WebSocketRoute.parse(text).key


class RestSpec(_Spec):
    """What a REST API asks for."""

    routes: list[Annotated[str, AfterValidator(_rest_route)]] = Field(min_length=1)
    """`"METHOD /path/{param}"`, `{proxy+}` as a last segment, or `$default`."""
    cors: Cors | None = None


class WebSocketSpec(_Spec):
    """What a WebSocket API asks for."""

    routes: list[Annotated[str, AfterValidator(_websocket_route)]] = Field(min_length=1)
    """Route keys: `$connect`, `$disconnect`, `$default` and custom actions."""
    route_selection_expression: str = Field(
        default="$request.body.action", pattern=SELECTION_EXPRESSION
    )


class RestApiManifest(_Strict):
    """A REST API: a function behind HTTP routes."""

    api_version: Literal["reconciler/v1"]
    kind: Literal["RestApi"]
    metadata: Metadata
    spec: RestSpec


class WebSocketApiManifest(_Strict):
    """A WebSocket API: a function behind route keys."""

    api_version: Literal["reconciler/v1"]
    kind: Literal["WebSocketApi"]
    metadata: Metadata
    spec: WebSocketSpec


Manifest = RestApiManifest | WebSocketApiManifest
MODELS: dict[str, type[RestApiManifest | WebSocketApiManifest]] = {
    "RestApi": RestApiManifest,
    "WebSocketApi": WebSocketApiManifest,
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one manifest document, for editors and docs."""
    adapter: TypeAdapter[Manifest] = TypeAdapter(Annotated[Manifest, Field(discriminator="kind")])
    schema = adapter.json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"reconciler manifest ({API_VERSION})",
        **schema,
    }
