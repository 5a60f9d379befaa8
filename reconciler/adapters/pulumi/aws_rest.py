"""A `RestApi` on AWS: an API Gateway HTTP API in front of the function.

Used by `aws.py` inside a Pulumi run. HTTP APIs (not v1 REST APIs) because they take the same
route keys as the manifest, answer CORS preflights themselves and send payload format 2.0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from reconciler.adapters.pulumi.aws_common import (
    Gateway,
    api_stage,
    integration_target,
    log_group,
    logical_name,
    proxy_integration,
    route_part,
)
from reconciler.domain.values import Cors, DeploymentSpec

PAYLOAD_FORMAT = "2.0"
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationError": "$context.integrationErrorMessage",
    },
    separators=(",", ":"),
)
"""One JSON object per request; `requestId` is the field API Gateway requires."""


def http_api(
    spec: DeploymentSpec, *, function: aws.lambda_.Function, tags: Mapping[str, str]
) -> Gateway:
    """The API, its integration, one route per manifest route key, and the stage."""
    name = spec.name
    api = aws.apigatewayv2.Api(
        logical_name(name, "api"),
        name=name,
        protocol_type="HTTP",
        cors_configuration=_cors(spec.gateway.cors),
        tags=dict(tags),
    )
    integration = proxy_integration(name, api=api, function=function, payload=PAYLOAD_FORMAT)
    routes = [
        aws.apigatewayv2.Route(
            logical_name(name, route_part(key)),
            api_id=api.id,
            route_key=key,
            target=integration_target(integration),
        )
        for key in spec.gateway.route_keys
    ]
    stage_name = spec.gateway.stage
    access_logs = log_group(
        name, "access-logs", path=f"/aws/apigateway/{name}/{stage_name}", tags=tags
    )
    stage = api_stage(
        name,
        api=api,
        stage=stage_name,
        access_log=(access_logs, ACCESS_LOG_FORMAT),
        tags=tags,
        depends_on=routes,
    )
    endpoint = pulumi.Output.concat(api.api_endpoint, "/", stage_name)
    return Gateway(api=api, stage=stage, endpoint=endpoint)


def _cors(cors: Cors | None) -> aws.apigatewayv2.ApiCorsConfigurationArgs | None:
    if cors is None:
        return None
    # Empty lists and a zero max age are left out rather than sent: AWS stores them as absent,
    # and an input the live API never echoes would read as drift on every refresh.
    return aws.apigatewayv2.ApiCorsConfigurationArgs(
        allow_origins=list(cors.allow_origins) or None,
        allow_methods=list(cors.allow_methods) or None,
        allow_headers=list(cors.allow_headers) or None,
        expose_headers=list(cors.expose_headers) or None,
        allow_credentials=cors.allow_credentials,
        max_age=cors.max_age_seconds or None,
    )
