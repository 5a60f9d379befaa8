"""API Management in front of an Azure deployment (`spec.azure.gateway: apim`).

Used by `azure.py` inside a Pulumi run. A Consumption service: an HTTP API with one operation
per manifest route and a CORS policy, sending every call to the Function App; or a WebSocket
API passing connections through to the Web PubSub hub.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

import pulumi
from pulumi_azure_native import apimanagement

from reconciler.adapters.pulumi.azure_functions import Place
from reconciler.domain.values import Cors, DeploymentSpec, RestRoute

SKU = "Consumption"
"""Billed per call, no fixed cost, ready in minutes rather than the hour other tiers take."""
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")


def service(
    name: str, *, place: Place, service_name: str, publisher: tuple[str, str]
) -> apimanagement.ApiManagementService:
    """The API Management service; `publisher` is (name, email), which Azure requires."""
    publisher_name, publisher_email = publisher
    return apimanagement.ApiManagementService(
        f"{name}-apim",
        service_name=service_name,
        resource_group_name=place.resource_group,
        location=place.location,
        sku=apimanagement.ApiManagementServiceSkuPropertiesArgs(name=SKU, capacity=0),
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


def cors_policy(cors: Cors | None, *, backend_id: str) -> str:
    """The API's policy: send every call to the app's backend, and answer CORS if asked."""
    inbound = [f"<set-backend-service backend-id={quoteattr(backend_id)} />"]
    if cors is not None:
        inbound.insert(0, _cors_xml(cors))
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
    api = apimanagement.Api(
        f"{name}-apim-api",
        api_id=name,
        display_name=name,
        path=stage,
        protocols=[apimanagement.Protocol.HTTPS],
        api_type=apimanagement.ApiType.HTTP,
        service_url=backend_url,
        # Public like the AWS API: callers need no APIM subscription key.
        subscription_required=False,
        resource_group_name=place.resource_group,
        service_name=apim.name,
    )
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
        value=cors_policy(spec.gateway.cors, backend_id=backend_id),
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
) -> pulumi.Output[str]:
    """A WebSocket API at `/<stage>` passing connections to the hub; return its `wss://` URL."""
    stage = spec.gateway.stage
    apimanagement.Api(
        f"{spec.name}-apim-ws",
        api_id=spec.name,
        display_name=spec.name,
        path=stage,
        protocols=[apimanagement.Protocol.WSS],
        api_type=apimanagement.ApiType.WEBSOCKET,
        service_url=service_url,
        subscription_required=False,
        resource_group_name=place.resource_group,
        service_name=apim.name,
    )
    host = apim.gateway_url.apply(lambda url: url.removeprefix("https://"))
    return pulumi.Output.concat("wss://", host, "/", stage)


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
