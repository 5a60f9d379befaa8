"""A `WebSocketApi` on AWS: an API Gateway WebSocket API in front of the function.

Used by `aws.py` inside a Pulumi run. The function may answer on its route (a `$default` route
response, as the local cloud does) and push to connections of this API, and of no other.
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
from reconciler.domain.values import DeploymentSpec

PAYLOAD_FORMAT = "1.0"
"""The only payload format WebSocket APIs have."""
DEFAULT_SELECTION_EXPRESSION = "$request.body.action"
CONNECTION_METHODS = ("POST", "GET", "DELETE")
"""`@connections/{id}`: send to, describe and close a connection."""
# A function's answer reaches the caller only through a route response; connect and disconnect
# answers are never sent, so those routes get none.
_ONE_WAY_ROUTES = frozenset({"$connect", "$disconnect"})
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "eventType": "$context.eventType",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "connectionId": "$context.connectionId",
    },
    separators=(",", ":"),
)


def websocket_api(
    spec: DeploymentSpec,
    *,
    function: aws.lambda_.Function,
    role: aws.iam.Role,
    tags: Mapping[str, str],
    access_logs: bool,
) -> Gateway:
    """The API, its integration, routes and route responses, the stage and the role's policy.

    `access_logs` is off by default: WebSocket stages can log only once the account's API
    Gateway settings name a CloudWatch role, and creating the stage fails without it.
    """
    name = spec.name
    api = aws.apigatewayv2.Api(
        logical_name(name, "api"),
        name=name,
        protocol_type="WEBSOCKET",
        route_selection_expression=(
            spec.gateway.route_selection_expression or DEFAULT_SELECTION_EXPRESSION
        ),
        tags=dict(tags),
    )
    integration = proxy_integration(name, api=api, function=function, payload=PAYLOAD_FORMAT)
    routed: list[pulumi.Resource] = []
    for key in spec.gateway.route_keys:
        two_way = key not in _ONE_WAY_ROUTES
        route = aws.apigatewayv2.Route(
            logical_name(name, route_part(key)),
            api_id=api.id,
            route_key=key,
            target=integration_target(integration),
            route_response_selection_expression="$default" if two_way else None,
        )
        routed.append(route)
        if two_way:
            routed.append(
                aws.apigatewayv2.RouteResponse(
                    logical_name(name, f"{route_part(key)}-response"),
                    api_id=api.id,
                    route_id=route.id,
                    route_response_key="$default",
                )
            )
    stage_name = spec.gateway.stage
    access_log = None
    if access_logs:
        group = log_group(
            name, "access-logs", path=f"/aws/apigateway/{name}/{stage_name}", tags=tags
        )
        access_log = (group, ACCESS_LOG_FORMAT)
    stage = api_stage(
        name, api=api, stage=stage_name, access_log=access_log, tags=tags, depends_on=routed
    )
    _manage_connections(name, role=role, api=api, stage=stage_name)
    endpoint = pulumi.Output.concat(api.api_endpoint, "/", stage_name)
    return Gateway(api=api, stage=stage, endpoint=endpoint)


def _manage_connections(
    name: str, *, role: aws.iam.Role, api: aws.apigatewayv2.Api, stage: str
) -> aws.iam.RolePolicy:
    def policy(execution_arn: str) -> str:
        resources = [
            f"{execution_arn}/{stage}/{method}/@connections/*" for method in CONNECTION_METHODS
        ]
        statement = {
            "Effect": "Allow",
            "Action": "execute-api:ManageConnections",
            "Resource": resources,
        }
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    return aws.iam.RolePolicy(
        logical_name(name, "manage-connections"),
        role=role.name,
        policy=api.execution_arn.apply(policy),
    )
