"""The AWS programs: one stack per region, each an inline Pulumi program of one deployment.

Used by the Pulumi engine through `program.ProgramBuilder`. A program declares a Lambda function
(its role, logs and code package) behind an API Gateway HTTP or WebSocket API, and exports what
a restarted daemon needs to know what is applied.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from pathlib import Path

import pulumi

from reconciler.adapters import dependencies
from reconciler.adapters.pulumi import aws_common
from reconciler.adapters.pulumi.aws_rest import http_api
from reconciler.adapters.pulumi.aws_websocket import websocket_api
from reconciler.adapters.pulumi.packaging import PackageInfo, build_package
from reconciler.adapters.pulumi.program import (
    OUTPUT_DEPLOYMENT,
    OUTPUT_ENDPOINT,
    OUTPUT_FINGERPRINT,
    OUTPUT_REVISION,
    EnvValue,
    Program,
    StackTarget,
    environment,
)
from reconciler.domain.values import ApiKind, DeploymentSpec, Provider
from reconciler.ports import ApplyRequest, PermanentError

PROGRAM_VERSION = "aws/2"
"""Part of every fingerprint: bump it whenever the resources a spec makes change."""


class AwsPrograms:
    """Builds the stacks and inline programs of `provider: aws` deployments."""

    provider = Provider.AWS

    def __init__(
        self,
        *,
        websocket_access_logs: bool = False,
        install: dependencies.Installer = dependencies.install,
    ) -> None:
        """`websocket_access_logs`: the account's API Gateway settings name a CloudWatch role.

        `install` puts the package's dependencies into it.
        """
        self.websocket_access_logs = websocket_access_logs
        self._install = install
        # What the option adds is part of what a spec makes, so it is part of the fingerprint.
        suffix = "+websocket-access-logs" if websocket_access_logs else ""
        self.program_version = PROGRAM_VERSION + suffix
        self.plugins: tuple[tuple[str, str], ...] = (
            ("aws", importlib.metadata.version("pulumi_aws")),
        )

    def targets(self, spec: DeploymentSpec) -> list[StackTarget]:
        """One stack per region: `spec.region` first (stack `name`), then each extra region."""
        if spec.region is None:
            raise PermanentError(f"deployment {spec.name} has no region (spec.region)")
        extra = aws_common.aws_options(spec).get("regions", [])
        regions = list(dict.fromkeys([spec.region, *map(str, extra)]))
        return [
            StackTarget(
                stack=spec.name if index == 0 else f"{spec.name}.{region}",
                config={"aws:region": region},
                region=region,
            )
            for index, region in enumerate(regions)
        ]

    def program(self, request: ApplyRequest, *, target: StackTarget, workdir: Path) -> Program:
        """Package the source into `workdir` now, and return the program of `target`."""
        variables = environment(request)
        # Lambda builds nothing: what the code imports must be in the zip, built for its CPU.
        machine = "aarch64" if aws_common.architecture(request.spec) == "arm64" else "x86_64"
        needs = dependencies.Target(request.spec.function.runtime, machine=machine)
        # `.zip` matters: Pulumi then uploads the file byte for byte instead of re-archiving it,
        # so Lambda's CodeSha256 is our sha256_base64.
        package, _ = build_package(
            request.source_dir,
            workdir.resolve() / f"{target.stack}.zip",
            prepare=lambda staging: self._install(staging, needs),
        )
        access_logs = self.websocket_access_logs

        def run() -> None:
            _declare(
                request,
                target=target,
                package=package,
                environment=variables,
                websocket_access_logs=access_logs,
            )

        return run


def _declare(
    request: ApplyRequest,
    *,
    target: StackTarget,
    package: PackageInfo,
    environment: Mapping[str, EnvValue],
    websocket_access_logs: bool,
) -> None:
    spec = request.spec
    name = spec.name
    options = aws_common.aws_options(spec)
    tags = aws_common.deployment_tags(spec, request.revision)
    role, attachments = aws_common.lambda_role(
        name,
        region=target.region,
        policy_arns=[str(arn) for arn in options.get("policyArns", [])],
        tags=tags,
    )
    # Created first: Lambda would otherwise create this group itself, unmanaged and unexpiring.
    logs = aws_common.log_group(name, "logs", path=f"/aws/lambda/{name}", tags=tags)
    # Secret values are wrapped here, inside the run: Pulumi encrypts them in the state file
    # and masks them in diffs; they never reach a command line or the stack config.
    variables: dict[str, pulumi.Input[str]] = {
        key: pulumi.Output.secret(env.value) if env.secret else env.value
        for key, env in environment.items()
    }
    function = aws_common.lambda_function(
        spec,
        role=role,
        package=package,
        environment=variables,
        tags=tags,
        depends_on=[logs, *attachments],
    )
    if spec.kind is ApiKind.REST:
        gateway = http_api(spec, function=function, tags=tags)
    else:
        gateway = websocket_api(
            spec, function=function, role=role, tags=tags, access_logs=websocket_access_logs
        )
    aws_common.invoke_permission(name, function=function, api=gateway.api)
    domain_options = options.get("customDomain")
    if domain_options:
        domain = aws_common.custom_domain(
            name, options=domain_options, api=gateway.api, stage=gateway.stage, tags=tags
        )
        # The record a DNS zone needs (a CNAME or alias) to send the domain to API Gateway.
        pulumi.export(
            "customDomainTarget",
            domain.domain_name_configuration.apply(lambda config: config.target_domain_name),
        )
    pulumi.export(OUTPUT_ENDPOINT, gateway.endpoint)
    pulumi.export(OUTPUT_FINGERPRINT, request.fingerprint.value)
    pulumi.export(OUTPUT_REVISION, request.revision.sha)
    pulumi.export(OUTPUT_DEPLOYMENT, name)
    pulumi.export("region", target.region)
    pulumi.export("functionName", function.name)
    pulumi.export("apiId", gateway.api.id)
