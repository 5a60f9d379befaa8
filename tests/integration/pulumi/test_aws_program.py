"""The AWS programs, run by the real Pulumi and pulumi-aws SDKs against `set_mocks`.

What each test reads is what the engine would send AWS's provider: the resources, their inputs
(in the wire's camelCase names) and the stack outputs.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import inspect
import json
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumimocks
import pytest
from pulumimocks import (
    ACCOUNT,
    API_ID,
    DOMAIN_TARGET,
    FINGERPRINT,
    REVISION,
    SECRET_VALUE,
    AwsMocks,
    RecordedInstalls,
    is_secret,
    request_for,
    reveal,
)

from reconciler.adapters.dependencies import Target
from reconciler.adapters.pulumi.aws import PROGRAM_VERSION, AwsPrograms
from reconciler.adapters.pulumi.aws_common import route_part
from reconciler.adapters.pulumi.program import ProgramBuilder, StackTarget
from reconciler.domain.values import DeploymentSpec, Provider, Runtime
from reconciler.ports import PermanentError

BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
EXECUTION_ARN = f"arn:aws:execute-api:eu-west-1:{ACCOUNT}:{API_ID}"

REST = """\
apiVersion: reconciler/v1
kind: RestApi
metadata:
  name: orders
  labels: {team: shop, cost-center: "42"}
spec:
  provider: aws
  region: eu-west-1
  function:
    runtime: python3.12
    handler: app.handler
    source: ../functions/orders
    memoryMb: 256
    timeoutSeconds: 15
    environment:
      TABLE: orders
      DB_PASSWORD: {secretRef: ORDERS_DB}
  routes: ["GET /items/{id}", "POST /items", "$default"]
"""

WEBSOCKET = """\
apiVersion: reconciler/v1
kind: WebSocketApi
metadata: {name: chat}
spec:
  provider: aws
  region: eu-west-1
  stage: v1
  function:
    runtime: nodejs20.x
    handler: index.handler
    source: ../functions/chat
  routes: [$connect, $disconnect, $default, sendMessage]
  routeSelectionExpression: $request.body.type
"""

TAGGABLE_CLASSES: dict[str, type[pulumi.CustomResource]] = {
    "aws:iam/role:Role": aws.iam.Role,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": aws.iam.RolePolicyAttachment,
    "aws:iam/rolePolicy:RolePolicy": aws.iam.RolePolicy,
    "aws:cloudwatch/logGroup:LogGroup": aws.cloudwatch.LogGroup,
    "aws:lambda/function:Function": aws.lambda_.Function,
    "aws:lambda/permission:Permission": aws.lambda_.Permission,
    "aws:apigatewayv2/api:Api": aws.apigatewayv2.Api,
    "aws:apigatewayv2/integration:Integration": aws.apigatewayv2.Integration,
    "aws:apigatewayv2/route:Route": aws.apigatewayv2.Route,
    "aws:apigatewayv2/routeResponse:RouteResponse": aws.apigatewayv2.RouteResponse,
    "aws:apigatewayv2/stage:Stage": aws.apigatewayv2.Stage,
    "aws:apigatewayv2/domainName:DomainName": aws.apigatewayv2.DomainName,
    "aws:apigatewayv2/apiMapping:ApiMapping": aws.apigatewayv2.ApiMapping,
}
"""Every type a program makes, with its SDK class: the SDK says which ones take tags."""


@pytest.fixture(autouse=True)
def pulumi_runtime() -> Iterator[None]:
    yield from pulumimocks.isolated_runtime()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    folder.mkdir()
    (folder / "app.py").write_text("def handler(event, context):\n    return {}\n")
    return folder


def parse(text: str, **aws_options: Any) -> DeploymentSpec:
    """The spec of `text`, with `spec.aws` set to `aws_options` (camelCase keys)."""
    return pulumimocks.parse(text, block="aws", options=aws_options)


def run_first_stack(
    spec: DeploymentSpec, source: Path, programs: AwsPrograms | None = None
) -> tuple[AwsMocks, dict[str, Any]]:
    """Run the program of the primary stack; return what it registered and exported."""
    programs = programs or AwsPrograms()
    target = programs.targets(spec)[0]
    program = programs.program(
        request_for(spec, source), target=target, workdir=source.parent / "work"
    )
    mocks = AwsMocks()
    outputs = pulumimocks.run(program, mocks, stack=target.stack)
    return mocks, outputs


def deploy(
    text: str, source: Path, *, programs: AwsPrograms | None = None, **aws_options: Any
) -> tuple[AwsMocks, dict[str, Any]]:
    """Parse `text` and run its primary stack's program."""
    return run_first_stack(parse(text, **aws_options), source, programs)


# --- the resource graph ------------------------------------------------------------------------

REST_GRAPH = {
    "aws:iam/role:Role": 1,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 1,
    "aws:cloudwatch/logGroup:LogGroup": 2,  # the function's and the stage's access log
    "aws:lambda/function:Function": 1,
    "aws:apigatewayv2/api:Api": 1,
    "aws:apigatewayv2/integration:Integration": 1,
    "aws:apigatewayv2/route:Route": 3,
    "aws:apigatewayv2/stage:Stage": 1,
    "aws:lambda/permission:Permission": 1,
}
WEBSOCKET_GRAPH = {
    "aws:iam/role:Role": 1,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 1,
    "aws:iam/rolePolicy:RolePolicy": 1,  # ManageConnections
    "aws:cloudwatch/logGroup:LogGroup": 1,  # the function's only: see the access-log tests
    "aws:lambda/function:Function": 1,
    "aws:apigatewayv2/api:Api": 1,
    "aws:apigatewayv2/integration:Integration": 1,
    "aws:apigatewayv2/route:Route": 4,
    "aws:apigatewayv2/routeResponse:RouteResponse": 2,  # $default and sendMessage answer back
    "aws:apigatewayv2/stage:Stage": 1,
    "aws:lambda/permission:Permission": 1,
}
DOMAIN: dict[str, Any] = {
    "customDomain": {"domainName": "api.example.com", "certificateArn": "arn:aws:acm:x"}
}
WITH_DOMAIN = {
    "aws:apigatewayv2/domainName:DomainName": 1,
    "aws:apigatewayv2/apiMapping:ApiMapping": 1,
}


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        pytest.param(REST, {}, REST_GRAPH, id="rest"),
        pytest.param(WEBSOCKET, {}, WEBSOCKET_GRAPH, id="websocket"),
        pytest.param(REST, DOMAIN, REST_GRAPH | WITH_DOMAIN, id="rest-custom-domain"),
        pytest.param(WEBSOCKET, DOMAIN, WEBSOCKET_GRAPH | WITH_DOMAIN, id="ws-custom-domain"),
        pytest.param(
            REST,
            {"policyArns": ["arn:aws:iam::123456789012:policy/a", "arn:aws:iam::aws:policy/b"]},
            REST_GRAPH | {"aws:iam/rolePolicyAttachment:RolePolicyAttachment": 3},
            id="rest-extra-policies",
        ),
    ],
)
def test_a_manifest_makes_exactly_these_resources(
    source: Path, text: str, options: dict[str, Any], expected: dict[str, int]
):
    mocks, _ = deploy(text, source, **options)
    assert mocks.types() == expected


def test_every_resource_name_starts_with_the_deployment_name(source: Path):
    mocks, _ = deploy(WEBSOCKET, source, **DOMAIN)
    assert all(created.name.startswith("chat-") for created in mocks.created)
    assert len({created.name for created in mocks.created}) == len(mocks.created)


def test_the_log_group_and_the_role_exist_before_the_function(source: Path):
    """Otherwise Lambda makes its own, unmanaged log group on the first invocation."""
    mocks, _ = deploy(REST, source, policyArns=["arn:aws:iam::123456789012:policy/a"])
    function = mocks.one("aws:lambda/function:Function")
    logs = next(
        c for c in mocks.of_type("aws:cloudwatch/logGroup:LogGroup") if c.name == "orders-logs"
    )
    assert logs.inputs["name"] == "/aws/lambda/orders" == f"/aws/lambda/{function.inputs['name']}"
    assert logs.inputs["retentionInDays"] == 14
    attachments = {
        c.name for c in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert {"orders-logs", "orders-role", *attachments} <= function.depends_on


# --- IAM: least privilege ----------------------------------------------------------------------


def test_the_role_can_be_assumed_by_lambda_and_nothing_else(source: Path):
    mocks, _ = deploy(REST, source)
    policy = json.loads(mocks.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


@pytest.mark.parametrize(
    ("policy_arns", "attached"),
    [
        pytest.param([], {BASIC_EXECUTION}, id="basic-execution-only"),
        pytest.param(
            ["arn:aws:iam::123456789012:policy/orders-table"],
            {BASIC_EXECUTION, "arn:aws:iam::123456789012:policy/orders-table"},
            id="plus-one",
        ),
        pytest.param(
            ["arn:aws:iam::aws:policy/b", "arn:aws:iam::aws:policy/b"],
            {BASIC_EXECUTION, "arn:aws:iam::aws:policy/b"},
            id="duplicates-once",
        ),
    ],
)
def test_the_role_gets_basic_execution_and_only_the_policies_the_manifest_names(
    source: Path, policy_arns: list[str], attached: set[str]
):
    mocks, _ = deploy(REST, source, policyArns=policy_arns)
    attachments = mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert len(attachments) == len(attached)
    assert {a.inputs["policyArn"] for a in attachments} == attached
    assert {a.inputs["role"] for a in attachments} == {"orders-role-1a2b3c4"}
    assert mocks.of_type("aws:iam/rolePolicy:RolePolicy") == []  # no inline grants for REST


@pytest.mark.parametrize(
    ("region", "arn"),
    [
        pytest.param("eu-west-1", BASIC_EXECUTION, id="aws"),
        pytest.param("cn-north-1", BASIC_EXECUTION.replace(":aws:", ":aws-cn:", 1), id="china"),
        pytest.param(
            "us-gov-west-1", BASIC_EXECUTION.replace(":aws:", ":aws-us-gov:", 1), id="govcloud"
        ),
    ],
)
def test_the_basic_execution_policy_is_named_in_the_region_partition(
    source: Path, region: str, arn: str
):
    mocks, _ = run_first_stack(replace(parse(REST), region=region), source)
    attachment = mocks.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == arn


def test_a_websocket_function_may_manage_connections_of_its_own_api_stage_only(source: Path):
    mocks, _ = deploy(WEBSOCKET, source)
    inline = mocks.one("aws:iam/rolePolicy:RolePolicy")
    assert inline.inputs["role"] == "chat-role-1a2b3c4"
    (statement,) = json.loads(inline.inputs["policy"])["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": "execute-api:ManageConnections",
        "Resource": [
            f"{EXECUTION_ARN}/v1/POST/@connections/*",
            f"{EXECUTION_ARN}/v1/GET/@connections/*",
            f"{EXECUTION_ARN}/v1/DELETE/@connections/*",
        ],
    }


# --- the API -----------------------------------------------------------------------------------

FULL_CORS = {
    "allowOrigins": ["https://shop.example"],
    "allowMethods": ["GET", "POST"],
    "allowHeaders": ["content-type", "authorization"],
    "exposeHeaders": ["x-request-id"],
    "allowCredentials": True,
    "maxAgeSeconds": 600,
}


@pytest.mark.parametrize(
    ("cors", "expected"),
    [
        pytest.param(None, None, id="no-cors"),
        pytest.param(
            FULL_CORS,
            {
                "allowOrigins": ["https://shop.example"],
                "allowMethods": ["GET", "POST"],
                "allowHeaders": ["content-type", "authorization"],
                "exposeHeaders": ["x-request-id"],
                "allowCredentials": True,
                "maxAge": 600,
            },
            id="every-field",
        ),
        pytest.param(
            {"allowOrigins": ["*"]},
            {"allowOrigins": ["*"], "allowCredentials": False},
            id="origins-only",
        ),
    ],
)
def test_cors_comes_from_the_manifest(
    source: Path, cors: dict[str, Any] | None, expected: dict[str, Any] | None
):
    text = REST + (f"  cors: {json.dumps(cors)}\n" if cors else "")
    mocks, _ = deploy(text, source)
    api = mocks.one("aws:apigatewayv2/api:Api")
    assert api.inputs["protocolType"] == "HTTP"
    assert api.inputs.get("corsConfiguration") == expected


def test_a_websocket_api_selects_routes_with_the_manifest_expression(source: Path):
    mocks, _ = deploy(WEBSOCKET, source)
    api = mocks.one("aws:apigatewayv2/api:Api")
    assert api.inputs["protocolType"] == "WEBSOCKET"
    assert api.inputs["routeSelectionExpression"] == "$request.body.type"


@pytest.mark.parametrize(
    ("text", "payload"),
    [pytest.param(REST, "2.0", id="rest"), pytest.param(WEBSOCKET, "1.0", id="websocket")],
)
def test_the_integration_proxies_to_the_function(source: Path, text: str, payload: str):
    mocks, _ = deploy(text, source)
    integration = mocks.one("aws:apigatewayv2/integration:Integration")
    function = mocks.one("aws:lambda/function:Function")
    assert integration.inputs["integrationType"] == "AWS_PROXY"
    assert integration.inputs["integrationMethod"] == "POST"
    assert integration.inputs["payloadFormatVersion"] == payload
    assert integration.inputs["integrationUri"].endswith(
        f":function:{function.inputs['name']}/invocations"
    )
    assert integration.inputs["apiId"] == API_ID


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        pytest.param(REST, ["GET /items/{id}", "POST /items", "$default"], id="rest"),
        pytest.param(
            WEBSOCKET, ["$connect", "$disconnect", "$default", "sendMessage"], id="websocket"
        ),
    ],
)
def test_there_is_one_route_per_manifest_key_and_all_target_the_integration(
    source: Path, text: str, keys: list[str]
):
    mocks, _ = deploy(text, source)
    integration = mocks.one("aws:apigatewayv2/integration:Integration")
    routes = mocks.of_type("aws:apigatewayv2/route:Route")
    assert sorted(route.inputs["routeKey"] for route in routes) == sorted(keys)
    assert {route.inputs["target"] for route in routes} == {f"integrations/{integration.id}"}


def test_websocket_routes_that_can_answer_have_a_default_route_response(source: Path):
    mocks, _ = deploy(WEBSOCKET, source)
    routes = {r.inputs["routeKey"]: r for r in mocks.of_type("aws:apigatewayv2/route:Route")}
    responses = mocks.of_type("aws:apigatewayv2/routeResponse:RouteResponse")
    assert {r.inputs["routeResponseKey"] for r in responses} == {"$default"}
    assert {r.inputs["routeId"] for r in responses} == {
        routes["$default"].id,
        routes["sendMessage"].id,
    }
    assert routes["sendMessage"].inputs["routeResponseSelectionExpression"] == "$default"
    assert "routeResponseSelectionExpression" not in routes["$connect"].inputs


@pytest.mark.parametrize(
    ("text", "stage_name"),
    [pytest.param(REST, "live", id="rest-default-stage"), pytest.param(WEBSOCKET, "v1", id="ws")],
)
def test_the_stage_deploys_itself_after_the_routes_and_is_throttled(
    source: Path, text: str, stage_name: str
):
    mocks, _ = deploy(text, source)
    stage = mocks.one("aws:apigatewayv2/stage:Stage")
    assert stage.inputs["name"] == stage_name
    assert stage.inputs["autoDeploy"] is True
    assert stage.inputs["defaultRouteSettings"] == {
        "throttlingBurstLimit": 100,
        "throttlingRateLimit": 50,
    }
    routes = {r.name for r in mocks.of_type("aws:apigatewayv2/route:Route")}
    assert routes <= stage.depends_on


def test_the_rest_stage_writes_json_access_logs_to_its_own_log_group(source: Path):
    mocks, _ = deploy(REST, source)
    settings = mocks.one("aws:apigatewayv2/stage:Stage").inputs["accessLogSettings"]
    groups = {g.name: g for g in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")}
    access = groups["orders-access-logs"]
    assert access.inputs["retentionInDays"] == 14
    assert settings["destinationArn"].endswith(f":log-group:{access.inputs['name']}")
    assert json.loads(settings["format"])["requestId"] == "$context.requestId"


@pytest.mark.parametrize(
    ("access_logs", "groups", "version"),
    [
        pytest.param(False, 1, PROGRAM_VERSION, id="off-by-default"),
        pytest.param(True, 2, f"{PROGRAM_VERSION}+websocket-access-logs", id="on"),
    ],
)
def test_websocket_access_logs_need_the_account_setting_and_are_opt_in(
    source: Path, access_logs: bool, groups: int, version: str
):
    programs = AwsPrograms(websocket_access_logs=access_logs)
    mocks, _ = deploy(WEBSOCKET, source, programs=programs)
    settings = mocks.one("aws:apigatewayv2/stage:Stage").inputs.get("accessLogSettings")
    assert len(mocks.of_type("aws:cloudwatch/logGroup:LogGroup")) == groups
    assert (settings is not None) is access_logs
    if settings:
        assert json.loads(settings["format"])["connectionId"] == "$context.connectionId"
    assert programs.program_version == version


@pytest.mark.parametrize("text", [pytest.param(REST, id="rest"), pytest.param(WEBSOCKET, id="ws")])
def test_only_this_api_may_invoke_the_function(source: Path, text: str):
    mocks, _ = deploy(text, source)
    permission = mocks.one("aws:lambda/permission:Permission")
    function = mocks.one("aws:lambda/function:Function")
    assert permission.inputs == {
        "action": "lambda:InvokeFunction",
        "function": function.inputs["name"],
        "principal": "apigateway.amazonaws.com",
        "sourceArn": f"{EXECUTION_ARN}/*/*",
    }


# --- the function ------------------------------------------------------------------------------


def test_the_function_runs_the_manifest_code_with_its_settings(source: Path):
    mocks, _ = deploy(REST, source)
    function = mocks.one("aws:lambda/function:Function").inputs
    assert {key: function[key] for key in ("name", "runtime", "handler")} == {
        "name": "orders",
        "runtime": "python3.12",
        "handler": "app.handler",
    }
    assert (function["memorySize"], function["timeout"]) == (256, 15)
    assert function["role"] == f"arn:aws:iam::{ACCOUNT}:role/orders-role-1a2b3c4"


def test_the_function_code_is_the_package_and_its_hash_what_lambda_computes(source: Path):
    mocks, _ = deploy(REST, source)
    function = mocks.one("aws:lambda/function:Function").inputs
    archive = function["code"]
    assert isinstance(archive, pulumi.FileArchive)
    package = Path(archive.path)
    assert package == source.parent.resolve() / "work" / "orders.zip"
    digest = hashlib.sha256(package.read_bytes()).digest()
    assert function["sourceCodeHash"] == base64.b64encode(digest).decode()


@pytest.mark.parametrize(
    ("options", "architecture"),
    [
        pytest.param({}, "arm64", id="default-arm64"),
        pytest.param({"architecture": "x86_64"}, "x86_64", id="from-provider-options"),
    ],
)
def test_the_architecture_defaults_to_arm64(
    source: Path, options: dict[str, str], architecture: str
):
    # Not in the manifest schema yet: read when a spec has it.
    spec = replace(parse(REST), provider_options={"aws": options})
    mocks, _ = run_first_stack(spec, source)
    assert mocks.one("aws:lambda/function:Function").inputs["architectures"] == [architecture]


def test_secret_environment_values_are_marked_secret_and_plain_ones_are_plain(source: Path):
    """Secret properties are encrypted in the state and masked in diffs.

    One secret variable makes the whole `environment` property secret (the SDK's granularity);
    a spec without one leaves it plain.
    """
    mocks, outputs = deploy(REST, source)
    environment = mocks.one("aws:lambda/function:Function").inputs["environment"]
    assert is_secret(environment)
    assert reveal(environment) == {"variables": {"TABLE": "orders", "DB_PASSWORD": SECRET_VALUE}}
    assert SECRET_VALUE not in json.dumps(outputs)

    plain = REST.replace("      DB_PASSWORD: {secretRef: ORDERS_DB}\n", "")
    mocks, _ = deploy(plain, source)
    environment = mocks.one("aws:lambda/function:Function").inputs["environment"]
    assert not is_secret(environment)
    assert environment == {"variables": {"TABLE": "orders"}}


def test_a_function_without_environment_sends_none(source: Path):
    mocks, _ = deploy(WEBSOCKET, source)
    assert "environment" not in mocks.one("aws:lambda/function:Function").inputs


def test_a_missing_secret_is_refused_before_anything_runs(source: Path):
    request = request_for(parse(REST), source, OTHER="value")
    programs = AwsPrograms()
    target = programs.targets(request.spec)[0]
    with pytest.raises(PermanentError, match="DB_PASSWORD needs secret ORDERS_DB") as error:
        programs.program(request, target=target, workdir=source.parent / "work")
    assert SECRET_VALUE not in str(error.value)
    assert not (source.parent / "work").exists()


def test_secrets_never_reach_the_stack_config():
    for target in AwsPrograms().targets(parse(REST, regions=["us-east-1"])):
        assert SECRET_VALUE not in json.dumps(target.config)


# --- tags and outputs --------------------------------------------------------------------------


def taggable(token: str) -> bool:
    init = TAGGABLE_CLASSES[token]._internal_init  # type: ignore[attr-defined]
    return "tags" in inspect.signature(init).parameters


@pytest.mark.parametrize(
    ("text", "name", "labels"),
    [
        pytest.param(REST, "orders", {"team": "shop", "cost-center": "42"}, id="rest"),
        pytest.param(WEBSOCKET, "chat", {}, id="websocket"),
    ],
)
def test_every_taggable_resource_is_tagged_with_deployment_revision_and_labels(
    source: Path, text: str, name: str, labels: dict[str, str]
):
    """Taggable or not is the SDK's word (a `tags` argument), not a list kept here."""
    programs = AwsPrograms(websocket_access_logs=True)
    mocks, _ = deploy(text, source, programs=programs, **DOMAIN)
    expected = {"reconciler:deployment": name, "reconciler:revision": REVISION.sha, **labels}
    assert set(mocks.types()) <= set(TAGGABLE_CLASSES)
    tagged = [created for created in mocks.created if taggable(created.type)]
    assert {created.type for created in tagged} >= {
        "aws:iam/role:Role",
        "aws:lambda/function:Function",
        "aws:apigatewayv2/api:Api",
        "aws:apigatewayv2/stage:Stage",
    }
    for created in tagged:
        assert created.inputs.get("tags") == expected, created.name


def test_a_label_cannot_override_the_reconciler_tags(source: Path):
    text = REST.replace("team: shop", '"reconciler:revision": forged')
    mocks, _ = deploy(text, source)
    assert mocks.one("aws:apigatewayv2/api:Api").inputs["tags"]["reconciler:revision"] == (
        REVISION.sha
    )


@pytest.mark.parametrize(
    ("text", "endpoint", "deployment"),
    [
        pytest.param(
            REST, f"https://{API_ID}.execute-api.eu-west-1.amazonaws.com/live", "orders", id="rest"
        ),
        pytest.param(
            WEBSOCKET, f"wss://{API_ID}.execute-api.eu-west-1.amazonaws.com/v1", "chat", id="ws"
        ),
    ],
)
def test_the_stack_exports_what_a_restarted_daemon_needs(
    source: Path, text: str, endpoint: str, deployment: str
):
    _, outputs = deploy(text, source)
    assert outputs == {
        "endpoint": endpoint,
        "fingerprint": FINGERPRINT.value,
        "revision": REVISION.sha,
        "deployment": deployment,
        "region": "eu-west-1",
        "functionName": deployment,
        "apiId": API_ID,
    }


# --- custom domain -----------------------------------------------------------------------------


def test_a_custom_domain_is_regional_tls12_and_mapped_to_the_stage(source: Path):
    mocks, outputs = deploy(REST, source, **DOMAIN)
    domain = mocks.one("aws:apigatewayv2/domainName:DomainName")
    mapping = mocks.one("aws:apigatewayv2/apiMapping:ApiMapping")
    stage = mocks.one("aws:apigatewayv2/stage:Stage")
    assert domain.inputs["domainName"] == "api.example.com"
    assert domain.inputs["domainNameConfiguration"] == {
        "certificateArn": "arn:aws:acm:x",
        "endpointType": "REGIONAL",
        "securityPolicy": "TLS_1_2",
    }
    assert mapping.inputs == {"apiId": API_ID, "domainName": domain.id, "stage": stage.id}
    assert outputs["customDomainTarget"] == DOMAIN_TARGET


def test_no_custom_domain_resources_unless_configured(source: Path):
    mocks, outputs = deploy(REST, source)
    assert set(mocks.types()).isdisjoint(WITH_DOMAIN)
    assert "customDomainTarget" not in outputs


# --- stacks, plugins, the builder --------------------------------------------------------------


@pytest.mark.parametrize(
    ("regions", "stacks"),
    [
        pytest.param(None, [("orders", "eu-west-1")], id="region-only"),
        pytest.param(
            ["us-east-1", "ap-southeast-2"],
            [
                ("orders", "eu-west-1"),
                ("orders.us-east-1", "us-east-1"),
                ("orders.ap-southeast-2", "ap-southeast-2"),
            ],
            id="extra-regions",
        ),
        pytest.param(
            ["us-east-1", "eu-west-1", "us-east-1"],
            [("orders", "eu-west-1"), ("orders.us-east-1", "us-east-1")],
            id="duplicates-once-primary-first",
        ),
    ],
)
def test_there_is_one_stack_per_region_the_primary_first(
    regions: list[str] | None, stacks: list[tuple[str, str]]
):
    spec = parse(REST, regions=regions) if regions else parse(REST)
    assert AwsPrograms().targets(spec) == [
        StackTarget(stack=stack, config={"aws:region": region}, region=region)
        for stack, region in stacks
    ]


def test_a_spec_without_a_region_has_no_stack():
    """The manifest rules require one; a spec built some other way is refused all the same."""
    with pytest.raises(PermanentError, match="no region"):
        AwsPrograms().targets(replace(parse(REST), region=None))


def test_the_builder_names_its_provider_version_and_plugin():
    programs: ProgramBuilder = AwsPrograms()
    assert programs.provider is Provider.AWS
    assert programs.program_version == "aws/2"
    assert programs.plugins == (("aws", importlib.metadata.version("pulumi_aws")),)


def test_the_package_is_built_when_the_program_is_made(source: Path, tmp_path: Path):
    """The engine may make the program long before Pulumi calls it; the zip is ready then."""
    request = request_for(parse(REST, regions=["us-east-1"]), source)
    programs = AwsPrograms()
    work = tmp_path / "work"
    for target in programs.targets(request.spec):
        programs.program(request, target=target, workdir=work)
    assert sorted(path.name for path in work.iterdir()) == ["orders.us-east-1.zip", "orders.zip"]


@pytest.mark.parametrize(
    ("options", "machine"),
    [
        pytest.param({}, "aarch64", id="arm64-by-default"),
        pytest.param({"architecture": "x86_64"}, "x86_64", id="x86_64"),
    ],
)
def test_dependencies_are_installed_for_the_functions_cpu_at_the_package_root(
    source: Path, options: dict[str, str], machine: str
):
    install = RecordedInstalls()
    mocks, _ = run_first_stack(parse(REST, **options), source, AwsPrograms(install=install))

    ((target, staged),) = install.calls
    assert target == Target(Runtime.PYTHON_3_12, machine=machine, python_path=".")
    assert sorted(staged) == ["app.py"]
    code = mocks.one("aws:lambda/function:Function").inputs["code"]
    with zipfile.ZipFile(code.path) as archive:
        assert archive.read(RecordedInstalls.MARKER) == b"installed\n"


def test_route_names_stay_unique_when_their_slugs_collide():
    assert route_part("GET /a-b") != route_part("GET /a/b")
    assert route_part("$default").startswith("route-default-")
