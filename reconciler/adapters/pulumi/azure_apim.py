"""API Management in front of an Azure deployment (`spec.azure.gateway: apim`).

Used by `azure.py` inside a Pulumi run. A service (Consumption by default): an HTTP API with one
operation per manifest route and a CORS policy, sending every call to the Function App; or a
WebSocket API passing connections through to the Web PubSub hub. Either may require a
subscription key or a valid JWT (`spec.azure.apim.auth`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pulumi
from pulumi_azure_native import apimanagement

from reconciler.adapters.pulumi.azure_functions import Place
from reconciler.domain.values import ApiKind, Cors, DeploymentSpec, RestRoute

SKU = "Consumption"
"""Billed per call, no fixed cost, ready in minutes rather than the hour other tiers take."""
_VALIDATE_JWT = (
    '<validate-jwt header-name="Authorization" require-scheme="Bearer"'
    ' failed-validation-httpcode="401" failed-validation-error-message="Unauthorized">'
)
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")


@dataclass(frozen=True, slots=True)
class Jwt:
    """What `validate-jwt` checks: the issuer's OpenID configuration, audiences, issuers."""

    openid_config_url: str
    audiences: tuple[str, ...]
    issuers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    """`spec.azure.apim`, read: the SKU and what callers must show."""

    sku: str = SKU
    subscription_key: bool = False
    jwt: Jwt | None = None

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Settings:
        """Read the manifest's `apim` block (camelCase keys, validated by the manifest schema)."""
        jwt = options.get("jwt") if options.get("auth") == "jwt" else None
        return cls(
            sku=str(options.get("sku", SKU)),
            subscription_key=options.get("auth") == "subscriptionKey",
            jwt=Jwt(
                openid_config_url=str(jwt["openidConfigUrl"]),
                audiences=tuple(map(str, jwt["audiences"])),
                issuers=tuple(map(str, jwt.get("issuers", ()))),
            )
            if isinstance(jwt, Mapping)
            else None,
        )


def service(
    name: str,
    *,
    place: Place,
    service_name: str,
    publisher: tuple[str, str],
    settings: Settings,
) -> apimanagement.ApiManagementService:
    """The API Management service; `publisher` is (name, email), which Azure requires."""
    publisher_name, publisher_email = publisher
    return apimanagement.ApiManagementService(
        f"{name}-apim",
        service_name=service_name,
        resource_group_name=place.resource_group,
        location=place.location,
        # Consumption has no units to count; every other SKU starts at one.
        sku=apimanagement.ApiManagementServiceSkuPropertiesArgs(
            name=settings.sku, capacity=0 if settings.sku == SKU else 1
        ),
        publisher_name=publisher_name,
        publisher_email=publisher_email,
        tags=dict(place.tags),
    )


def operation(route: RestRoute) -> tuple[str, str, list[str]]:
    """A route as APIM writes it: (method, URL template, template parameter names).

    `$default` and `ANY` become APIM's wildcard method `*`; a greedy `{proxy+}` becomes
    `{*proxy}`, APIM's segment wildcard.
    """
    if route.path == RestRoute.DEFAULT_KEY:
        return "*", "/*", []
    method = "*" if route.method == "ANY" else route.method
    names = [match.group(1) for match in _PARAM.finditer(route.path)]
    template = _PARAM.sub(lambda m: f"{{*{m.group(1)}}}" if m.group(2) else m.group(0), route.path)
    return method, template, names


def policy(cors: Cors | None, *, backend_id: str | None, jwt: Jwt | None) -> str:
    """The API's policy: answer CORS if asked, check the JWT if set, then send to the backend.

    CORS comes first so a browser's preflight, which carries no token, is answered.
    """
    inbound = []
    if cors is not None:
        inbound.append(_cors_xml(cors))
    if jwt is not None:
        inbound.append(_jwt_xml(jwt))
    if backend_id is not None:
        inbound.append(f"<set-backend-service backend-id={quoteattr(backend_id)} />")
    return (
        "<policies><inbound><base />"
        + "".join(inbound)
        + "</inbound><backend><base /></backend><outbound><base /></outbound>"
        "<on-error><base /></on-error></policies>"
    )


def rest_api(
    spec: DeploymentSpec,
    *,
    place: Place,
    apim: apimanagement.ApiManagementService,
    backend_url: pulumi.Input[str],
    settings: Settings,
) -> pulumi.Output[str]:
    """The HTTP API at `/<stage>`, its backend, operations and policy; return its URL."""
    name = spec.name
    stage = spec.gateway.stage
    backend_id = f"{name}-function"
    backend = apimanagement.Backend(
        f"{name}-apim-backend",
        backend_id=backend_id,
        protocol=apimanagement.BackendProtocol.HTTP,
        url=backend_url,
        title=f"{name} Function App",
        resource_group_name=place.resource_group,
        service_name=apim.name,
    )
    api = _api(spec, place=place, apim=apim, settings=settings, service_url=backend_url)
    for index, route in enumerate(spec.gateway.routes):
        assert isinstance(route, RestRoute)  # noqa: S101  # a RestApi has REST routes only
        method, template, names = operation(route)
        apimanagement.ApiOperation(
            f"{name}-apim-op-{index}",
            operation_id=f"route-{index}",
            api_id=api.name,
            display_name=route.key,
            method=method,
            url_template=template,
            template_parameters=[
                apimanagement.ParameterContractArgs(name=param, type="string", required=True)
                for param in names
            ],
            resource_group_name=place.resource_group,
            service_name=apim.name,
        )
    apimanagement.ApiPolicy(
        f"{name}-apim-policy",
        api_id=api.name,
        policy_id="policy",
        format=apimanagement.PolicyContentFormat.XML,
        value=policy(spec.gateway.cors, backend_id=backend_id, jwt=settings.jwt),
        opts=pulumi.ResourceOptions(depends_on=[backend]),
        resource_group_name=place.resource_group,
        service_name=apim.name,
    )
    return pulumi.Output.concat(apim.gateway_url, "/", stage)


def websocket_api(
    spec: DeploymentSpec,
    *,
    place: Place,
    apim: apimanagement.ApiManagementService,
    service_url: pulumi.Input[str],
    settings: Settings,
) -> pulumi.Output[str]:
    """A WebSocket API at `/<stage>` passing connections to the hub; return its `wss://` URL.

    A JWT, when required, is checked on the handshake, the only operation such an API has.
    """
    api = _api(spec, place=place, apim=apim, settings=settings, service_url=service_url)
    if settings.jwt is not None:
        apimanagement.ApiPolicy(
            f"{spec.name}-apim-ws-policy",
            api_id=api.name,
            policy_id="policy",
            format=apimanagement.PolicyContentFormat.XML,
            value=policy(None, backend_id=None, jwt=settings.jwt),
            resource_group_name=place.resource_group,
            service_name=apim.name,
        )
    host = apim.gateway_url.apply(lambda url: url.removeprefix("https://"))
    return pulumi.Output.concat("wss://", host, "/", spec.gateway.stage)


def _api(
    spec: DeploymentSpec,
    *,
    place: Place,
    apim: apimanagement.ApiManagementService,
    settings: Settings,
    service_url: pulumi.Input[str],
) -> apimanagement.Api:
    """The API at `/<stage>`, and with `auth: subscriptionKey` a subscription to it.

    The subscription's keys stay in Azure (portal, `az apim subscription keys list`): a
    program output would carry them into the daemon's store.
    """
    websocket = spec.kind is ApiKind.WEBSOCKET
    api = apimanagement.Api(
        f"{spec.name}-apim-ws" if websocket else f"{spec.name}-apim-api",
        api_id=spec.name,
        display_name=spec.name,
        path=spec.gateway.stage,
        protocols=[apimanagement.Protocol.WSS if websocket else apimanagement.Protocol.HTTPS],
        api_type=apimanagement.ApiType.WEBSOCKET if websocket else apimanagement.ApiType.HTTP,
        service_url=service_url,
        # Without a key required, public like the AWS API.
        subscription_required=settings.subscription_key,
        resource_group_name=place.resource_group,
        service_name=apim.name,
    )
    if settings.subscription_key:
        apimanagement.Subscription(
            f"{spec.name}-apim-subscription",
            sid=f"{spec.name}-callers",
            display_name=f"{spec.name} callers",
            scope=pulumi.Output.concat("/apis/", api.name),
            state=apimanagement.SubscriptionState.ACTIVE,
            resource_group_name=place.resource_group,
            service_name=apim.name,
        )
    return api


def _jwt_xml(jwt: Jwt) -> str:
    parts = [
        _VALIDATE_JWT,
        f"<openid-config url={quoteattr(jwt.openid_config_url)} />",
        _list("audiences", "audience", jwt.audiences),
    ]
    if jwt.issuers:
        parts.append(_list("issuers", "issuer", jwt.issuers))
    parts.append("</validate-jwt>")
    return "".join(parts)


def _cors_xml(cors: Cors) -> str:
    credentials = "true" if cors.allow_credentials else "false"
    max_age = (
        f" preflight-result-max-age={quoteattr(str(cors.max_age_seconds))}"
        if cors.max_age_seconds
        else ""
    )
    parts = [f"<cors allow-credentials={quoteattr(credentials)}>"]
    parts.append(_list("allowed-origins", "origin", cors.allow_origins))
    # APIM requires a method and a header list; the manifest's empty lists mean "any".
    parts.append(_list("allowed-methods", "method", cors.allow_methods or ("*",), max_age))
    parts.append(_list("allowed-headers", "header", cors.allow_headers or ("*",)))
    if cors.expose_headers:
        parts.append(_list("expose-headers", "header", cors.expose_headers))
    parts.append("</cors>")
    return "".join(parts)


def _list(outer: str, inner: str, values: tuple[str, ...], attributes: str = "") -> str:
    items = "".join(f"<{inner}>{escape(value)}</{inner}>" for value in values)
    return f"<{outer}{attributes}>{items}</{outer}>"
