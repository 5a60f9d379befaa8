"""Resources every AWS deployment has: names, tags, the function's role, logs and the function.

Used by `aws.py`, `aws_rest.py` and `aws_websocket.py`, inside a Pulumi run. Every resource name
is a Pulumi logical name derived from the deployment's name, so a stack never holds two.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from reconciler.adapters.pulumi.packaging import PackageInfo
from reconciler.domain.values import DeploymentSpec, Revision

LOG_RETENTION_DAYS = 14
BASIC_EXECUTION_POLICY = "policy/service-role/AWSLambdaBasicExecutionRole"
"""The only managed policy a function gets by default: write its own logs, nothing else."""
THROTTLING_BURST_LIMIT = 100
"""Requests a stage absorbs at once before throttling: well above a small API's peaks, far
below the account's 5,000, so one runaway client cannot starve the other deployments."""
THROTTLING_RATE_LIMIT = 50.0
"""Steady requests per second a stage serves; a manifest cannot change it yet."""
DEFAULT_ARCHITECTURE = "arm64"
"""Graviton: cheaper per ms than x86_64; sources are shipped as-is, with no native builds."""
TAG_DEPLOYMENT = "reconciler:deployment"
TAG_REVISION = "reconciler:revision"

_SLUG = re.compile(r"[^a-z0-9]+")

with warnings.catch_warnings():
    # pulumi-aws 7.51's `lambda_` package warns on import that MicrovmsImage, which we never use,
    # is deprecated. The package loads lazily, on first attribute access: load it here, where
    # that one warning can be silenced without hiding any other.
    warnings.filterwarnings("ignore", r"aws\.lambda/microvmsimage", DeprecationWarning)
    _LAMBDA_FUNCTION = aws.lambda_.Function


@dataclass(frozen=True, slots=True)
class Gateway:
    """What an API builder made: the API, its stage and the URL callers use."""

    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    endpoint: pulumi.Output[str]


def logical_name(deployment: str, part: str) -> str:
    """A Pulumi logical name: the deployment's name, then what the resource is."""
    return f"{deployment}-{part}"


def route_part(key: str) -> str:
    """The logical-name part of a route: readable, and unique even when slugs collide."""
    slug = _SLUG.sub("-", key.lower()).strip("-") or "route"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"route-{slug}-{digest}"


def partition(region: str) -> str:
    """The ARN partition of a region: `aws`, or `aws-cn` and `aws-us-gov` for those regions."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def aws_options(spec: DeploymentSpec) -> Mapping[str, Any]:
    """The manifest's `spec.aws` block (camelCase keys), empty when it has none."""
    options = spec.provider_options.get("aws")
    return options if isinstance(options, Mapping) else {}


def architecture(spec: DeploymentSpec) -> str:
    """The Lambda architecture the manifest picks (`spec.aws.architecture`): `arm64` or `x86_64`."""
    return str(aws_options(spec).get("architecture", DEFAULT_ARCHITECTURE))


def deployment_tags(spec: DeploymentSpec, revision: Revision) -> dict[str, str]:
    """Tags for every taggable resource: the labels, then ours, which a label cannot override."""
    return {**dict(spec.labels), TAG_DEPLOYMENT: spec.name, TAG_REVISION: revision.sha}


def lambda_role(
    name: str, *, region: str, policy_arns: Sequence[str], tags: Mapping[str, str]
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """The function's role: assumable by Lambda only, with basic execution plus `policy_arns`."""
    assume = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    # Left to autonaming: IAM is global, and each region's stack needs its own role.
    role = aws.iam.Role(
        logical_name(name, "role"),
        assume_role_policy=json.dumps(assume),
        description=f"Runs the {name} function (managed by reconciler)",
        tags=dict(tags),
    )
    basic = f"arn:{partition(region)}:iam::aws:{BASIC_EXECUTION_POLICY}"
    attachments = [
        aws.iam.RolePolicyAttachment(
            logical_name(name, "basic-execution"), role=role.name, policy_arn=basic
        )
    ]
    # Named by the ARN, not its position, so reordering the list replaces nothing.
    for arn in dict.fromkeys(policy_arns):
        digest = hashlib.sha256(arn.encode()).hexdigest()[:8]
        attachments.append(
            aws.iam.RolePolicyAttachment(
                logical_name(name, f"policy-{digest}"), role=role.name, policy_arn=arn
            )
        )
    return role, attachments


def log_group(
    name: str, part: str, *, path: str, tags: Mapping[str, str]
) -> aws.cloudwatch.LogGroup:
    """A log group with our retention; logs otherwise pile up forever at AWS's default."""
    return aws.cloudwatch.LogGroup(
        logical_name(name, part),
        name=path,
        retention_in_days=LOG_RETENTION_DAYS,
        tags=dict(tags),
    )


def lambda_function(  # noqa: PLR0913  # a function is all of these parts
    spec: DeploymentSpec,
    *,
    role: aws.iam.Role,
    package: PackageInfo,
    environment: Mapping[str, pulumi.Input[str]],
    tags: Mapping[str, str],
    depends_on: Sequence[pulumi.Resource],
) -> aws.lambda_.Function:
    """The function, named after the deployment so its log group can exist before it does."""
    function = spec.function
    return aws.lambda_.Function(
        logical_name(spec.name, "function"),
        name=spec.name,
        role=role.arn,
        runtime=function.runtime.value,
        handler=function.handler,
        code=pulumi.FileArchive(str(package.path)),
        source_code_hash=package.sha256_base64,
        memory_size=function.memory_mb,
        timeout=function.timeout_seconds,
        architectures=[architecture(spec)],
        environment=(
            aws.lambda_.FunctionEnvironmentArgs(variables=dict(environment))
            if environment
            else None
        ),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
    )


def invoke_permission(
    name: str, *, function: aws.lambda_.Function, api: aws.apigatewayv2.Api
) -> aws.lambda_.Permission:
    """Let this API, and no other, invoke the function (any stage, any route)."""
    return aws.lambda_.Permission(
        logical_name(name, "invoke"),
        action="lambda:InvokeFunction",
        function=function.name,
        principal="apigateway.amazonaws.com",
        source_arn=pulumi.Output.concat(api.execution_arn, "/*/*"),
    )


def custom_domain(
    name: str,
    *,
    options: Mapping[str, str],
    api: aws.apigatewayv2.Api,
    stage: aws.apigatewayv2.Stage,
    tags: Mapping[str, str],
) -> aws.apigatewayv2.DomainName:
    """A regional custom domain (TLS 1.2) mapped to the stage at its root."""
    domain = aws.apigatewayv2.DomainName(
        logical_name(name, "domain"),
        domain_name=options["domainName"],
        domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
            certificate_arn=options["certificateArn"],
            endpoint_type="REGIONAL",
            security_policy="TLS_1_2",
        ),
        tags=dict(tags),
    )
    aws.apigatewayv2.ApiMapping(
        logical_name(name, "domain-mapping"),
        api_id=api.id,
        domain_name=domain.id,
        stage=stage.id,
    )
    return domain


def api_stage(  # noqa: PLR0913  # a stage is all of these parts
    name: str,
    *,
    api: aws.apigatewayv2.Api,
    stage: str,
    access_log: tuple[aws.cloudwatch.LogGroup, str] | None,
    tags: Mapping[str, str],
    depends_on: Sequence[pulumi.Resource],
) -> aws.apigatewayv2.Stage:
    """The stage, deployed automatically on every change, throttled, logging each request.

    It waits for the routes (`depends_on`) so that its first deployment already has them all.
    """
    access_log_settings = None
    if access_log is not None:
        group, log_format = access_log
        access_log_settings = aws.apigatewayv2.StageAccessLogSettingsArgs(
            destination_arn=group.arn, format=log_format
        )
    return aws.apigatewayv2.Stage(
        logical_name(name, "stage"),
        api_id=api.id,
        name=stage,
        auto_deploy=True,
        access_log_settings=access_log_settings,
        default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
            throttling_burst_limit=THROTTLING_BURST_LIMIT,
            throttling_rate_limit=THROTTLING_RATE_LIMIT,
        ),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
    )


def proxy_integration(
    name: str, *, api: aws.apigatewayv2.Api, function: aws.lambda_.Function, payload: str
) -> aws.apigatewayv2.Integration:
    """The one Lambda proxy integration every route targets."""
    return aws.apigatewayv2.Integration(
        logical_name(name, "integration"),
        api_id=api.id,
        integration_type="AWS_PROXY",
        integration_uri=function.invoke_arn,
        # Lambda is always invoked with POST, whatever the caller's method.
        integration_method="POST",
        payload_format_version=payload,
    )


def integration_target(integration: aws.apigatewayv2.Integration) -> pulumi.Output[str]:
    """A route's `target`: `integrations/<id>`."""
    return pulumi.Output.concat("integrations/", integration.id)
