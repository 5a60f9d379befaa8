"""The Azure programs, run by the real Pulumi and pulumi-azure-native SDKs against `set_mocks`.

What each test reads is what the engine would send Azure's provider: the resources, their
inputs (in the wire's camelCase names) and the stack outputs.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.metadata
import inspect
import json
import re
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pulumimocks
import pytest
from azuremocks import APP_PRINCIPAL, CONNECTION_STRING, SUBSCRIPTION, AzureMocks
from pulumimocks import (
    FINGERPRINT,
    REVISION,
    SECRET_VALUE,
    RecordedInstalls,
    is_secret,
    request_for,
    reveal,
)

from reconciler.adapters.dependencies import Target
from reconciler.adapters.pulumi.azure import AzurePrograms
from reconciler.adapters.pulumi.azure_apim import operation
from reconciler.adapters.pulumi.program import ProgramBuilder, StackTarget
from reconciler.domain.values import DeploymentSpec, Provider, RestRoute, Runtime
from reconciler.ports import PermanentError

SUFFIX_RE = r"[0-9a-f]{8}"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
PUBSUB_OWNER = "12cf5a90-567b-43ae-8102-96cf46c7d9b4"
ROLES = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"

REST = """\
apiVersion: reconciler/v1
kind: RestApi
metadata:
  name: orders
  labels: {team: shop, cost-center: "42"}
spec:
  provider: azure
  location: westeurope
  function:
    runtime: python3.11
    handler: app.handler
    source: ../functions/orders
    environment:
      TABLE: orders
      DB_PASSWORD: {secretRef: ORDERS_DB}
  routes: ["GET /items/{id}", "POST /items", "ANY /files/{path+}", "$default"]
"""

WEBSOCKET = """\
apiVersion: reconciler/v1
kind: WebSocketApi
metadata: {name: chat-room}
spec:
  provider: azure
  location: westeurope
  stage: v1
  function:
    runtime: nodejs20.x
    handler: index.handler
    source: ../functions/chat
  routes: [$connect, $disconnect, $default, sendMessage]
"""

RG = "azure-native:resources:ResourceGroup"
ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
BLOB = "azure-native:storage:Blob"
WORKSPACE = "azure-native:operationalinsights:Workspace"
INSIGHTS = "azure-native:applicationinsights:Component"
PLAN = "azure-native:web:AppServicePlan"
APP = "azure-native:web:WebApp"
SETTINGS = "azure-native:web:WebAppApplicationSettings"
ROLE = "azure-native:authorization:RoleAssignment"
PUBSUB = "azure-native:webpubsub:WebPubSub"
HUB = "azure-native:webpubsub:WebPubSubHub"
APIM = "azure-native:apimanagement:ApiManagementService"
API = "azure-native:apimanagement:Api"
OPERATION = "azure-native:apimanagement:ApiOperation"
POLICY = "azure-native:apimanagement:ApiPolicy"
BACKEND = "azure-native:apimanagement:Backend"
SUBSCRIPTION_ = "azure-native:apimanagement:Subscription"

CLASSES = {
    RG: ("resources", "ResourceGroup"),
    ACCOUNT: ("storage", "StorageAccount"),
    CONTAINER: ("storage", "BlobContainer"),
    BLOB: ("storage", "Blob"),
    WORKSPACE: ("operationalinsights", "Workspace"),
    INSIGHTS: ("applicationinsights", "Component"),
    PLAN: ("web", "AppServicePlan"),
    APP: ("web", "WebApp"),
    SETTINGS: ("web", "WebAppApplicationSettings"),
    ROLE: ("authorization", "RoleAssignment"),
    PUBSUB: ("webpubsub", "WebPubSub"),
    HUB: ("webpubsub", "WebPubSubHub"),
    APIM: ("apimanagement", "ApiManagementService"),
    API: ("apimanagement", "Api"),
    OPERATION: ("apimanagement", "ApiOperation"),
    POLICY: ("apimanagement", "ApiPolicy"),
    BACKEND: ("apimanagement", "Backend"),
    SUBSCRIPTION_: ("apimanagement", "Subscription"),
}
"""Every type a program makes, with its SDK class: the SDK says which ones take tags."""


def fake_shim(spec: DeploymentSpec, *, existing: Collection[str]) -> dict[str, bytes]:
    """Stands in for `azure_shim.package_files`: a host.json and one shim module."""
    assert "app.py" in existing
    return {"host.json": b"{}", "shim/__init__.py": f"# {spec.name}\n".encode()}


WEBHOOK_KEY = b"k" * 32


def programs(**kwargs: Any) -> AzurePrograms:
    kwargs.setdefault("webhook_key", WEBHOOK_KEY)
    kwargs.setdefault("install", RecordedInstalls())
    return AzurePrograms(shim=kwargs.pop("shim", fake_shim), shim_version="7", **kwargs)


@pytest.fixture(autouse=True)
def pulumi_runtime() -> Iterator[None]:
    yield from pulumimocks.isolated_runtime()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    (folder / "lib").mkdir(parents=True)
    (folder / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (folder / "lib" / "util.py").write_text("X = 1\n")
    return folder


def parse(text: str, **azure_options: Any) -> DeploymentSpec:
    """The spec of `text`, with `spec.azure` set to `azure_options` (camelCase keys)."""
    return pulumimocks.parse(text, block="azure", options=azure_options)


def run_spec(
    spec: DeploymentSpec, source: Path, builder: AzurePrograms | None = None
) -> tuple[AzureMocks, dict[str, Any]]:
    builder = builder or programs()
    (target,) = builder.targets(spec)
    program = builder.program(
        request_for(spec, source), target=target, workdir=source.parent / "work"
    )
    mocks = AzureMocks()
    return mocks, pulumimocks.run(program, mocks, stack=target.stack)


def deploy(text: str, source: Path, **azure_options: Any) -> tuple[AzureMocks, dict[str, Any]]:
    return run_spec(parse(text, **azure_options), source)


def settings_of(mocks: AzureMocks) -> dict[str, Any]:
    return dict(reveal(mocks.one(SETTINGS).inputs["properties"]))  # type: ignore[call-overload]


# --- the resource graph ------------------------------------------------------------------------

BASE = {
    RG: 1,
    ACCOUNT: 1,
    CONTAINER: 1,
    BLOB: 1,
    WORKSPACE: 1,
    INSIGHTS: 1,
    PLAN: 1,
    APP: 1,
    SETTINGS: 1,
    ROLE: 2,  # blob reader on the container, blob owner on the account
}
WS = BASE | {PUBSUB: 1, HUB: 1, ROLE: 3}  # and Web PubSub Service Owner
REST_APIM = BASE | {APIM: 1, API: 1, BACKEND: 1, OPERATION: 4, POLICY: 1}
WS_APIM = WS | {APIM: 1, API: 1}
NO_GROUP = {key: count for key, count in BASE.items() if key != RG}


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        pytest.param(REST, {}, BASE, id="rest"),
        pytest.param(WEBSOCKET, {}, WS, id="websocket"),
        pytest.param(REST, {"gateway": "apim"}, REST_APIM, id="rest-apim"),
        pytest.param(WEBSOCKET, {"gateway": "apim"}, WS_APIM, id="websocket-apim"),
        pytest.param(REST, {"resourceGroup": "shared-rg"}, NO_GROUP, id="existing-group"),
    ],
)
def test_a_manifest_makes_exactly_these_resources(
    source: Path, text: str, options: dict[str, Any], expected: dict[str, int]
):
    mocks, _ = deploy(text, source, **options)
    assert mocks.types() == expected


def test_an_existing_resource_group_is_used_by_name(source: Path):
    mocks, outputs = deploy(REST, source, resourceGroup="shared-rg")
    groups = {c.inputs.get("resourceGroupName") for c in mocks.created if c.type != ROLE}
    assert groups == {"shared-rg"}
    assert outputs["resourceGroup"] == "shared-rg"


def test_every_resource_name_starts_with_the_deployment_name(source: Path):
    mocks, _ = deploy(WEBSOCKET, source, gateway="apim")
    assert all(created.name.startswith("chat-room-") for created in mocks.created)
    assert len({created.name for created in mocks.created}) == len(mocks.created)


# --- storage and the package -------------------------------------------------------------------


def test_the_storage_account_is_hardened(source: Path):
    mocks, _ = deploy(REST, source)
    account = mocks.one(ACCOUNT).inputs
    assert account["kind"] == "StorageV2"
    assert account["sku"] == {"name": "Standard_LRS"}
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert len(account["accountName"]) <= 24
    assert account["accountName"].isalnum()
    assert account["accountName"].islower()
    assert mocks.one(CONTAINER).inputs["publicAccess"] == "None"


def test_the_package_blob_is_the_zip_and_named_by_its_hash(source: Path):
    mocks, _ = deploy(REST, source)
    blob = mocks.one(BLOB).inputs
    asset = blob["source"]
    assert isinstance(asset, pulumi.FileAsset)
    zip_path = Path(asset.path)
    assert zip_path == source.parent.resolve() / "work" / "orders.zip"
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert blob["blobName"] == f"orders-{digest[:16]}.zip"
    assert blob["containerName"] == "packages"
    assert blob["type"] == "Block"


def test_the_package_holds_the_user_files_and_the_shim_files(source: Path):
    mocks, _ = deploy(REST, source)
    with zipfile.ZipFile(mocks.one(BLOB).inputs["source"].path) as archive:
        names = archive.namelist()
    assert names == [
        f".python_packages/lib/site-packages/{RecordedInstalls.MARKER}",
        "app.py",
        "host.json",
        "lib/util.py",
        "shim/__init__.py",
    ]


def test_the_package_is_deterministic(source: Path, tmp_path: Path):
    """Same inputs twice, same bytes: otherwise every apply would upload a new blob."""
    request = request_for(parse(REST), source)
    builder = programs()
    (target,) = builder.targets(request.spec)
    builder.program(request, target=target, workdir=tmp_path / "one")
    (source / "app.py").touch()  # a newer mtime must not matter
    builder.program(request, target=target, workdir=tmp_path / "two")
    first = (tmp_path / "one" / "orders.zip").read_bytes()
    assert first == (tmp_path / "two" / "orders.zip").read_bytes()


def test_a_shim_file_may_not_overwrite_a_user_file(source: Path):
    (source / "host.json").write_text("{}")
    request = request_for(parse(REST), source)
    builder = programs()
    (target,) = builder.targets(request.spec)
    with pytest.raises(PermanentError, match=r"already has host\.json"):
        builder.program(request, target=target, workdir=source.parent / "work")


# --- the Function App --------------------------------------------------------------------------


def test_the_app_is_https_only_with_tls_12_and_no_ftp(source: Path):
    mocks, _ = deploy(REST, source)
    app = mocks.one(APP).inputs
    assert app["kind"] == "functionapp,linux"
    assert app["httpsOnly"] is True
    assert app["siteConfig"]["minTlsVersion"] == "1.2"
    assert app["siteConfig"]["scmMinTlsVersion"] == "1.2"
    assert app["siteConfig"]["ftpsState"] == "Disabled"
    assert app["serverFarmId"].endswith("/Microsoft.Web/serverfarms/orders-plan")


@pytest.mark.parametrize(
    ("runtime", "stack", "worker"),
    [
        pytest.param("python3.11", "PYTHON|3.11", "python", id="python3.11"),
        pytest.param("python3.12", "PYTHON|3.12", "python", id="python3.12"),
        pytest.param("python3.13", "PYTHON|3.13", "python", id="python3.13"),
        pytest.param("nodejs20.x", "NODE|20", "node", id="nodejs20.x"),
        pytest.param("nodejs22.x", "NODE|22", "node", id="nodejs22.x"),
    ],
)
def test_the_runtime_stack_follows_the_manifest_runtime(
    source: Path, runtime: str, stack: str, worker: str
):
    mocks, _ = deploy(REST.replace("python3.11", runtime), source)
    assert mocks.one(APP).inputs["siteConfig"]["linuxFxVersion"] == stack
    assert settings_of(mocks)["FUNCTIONS_WORKER_RUNTIME"] == worker


@pytest.mark.parametrize(
    ("plan", "sku", "kind"),
    [
        pytest.param(None, {"name": "Y1", "tier": "Dynamic"}, "linux", id="consumption-default"),
        pytest.param("flex", {"name": "FC1", "tier": "FlexConsumption"}, "functionapp", id="flex"),
        pytest.param("premium", {"name": "EP1", "tier": "ElasticPremium"}, "elastic", id="premium"),
    ],
)
def test_the_plan_is_linux_and_follows_the_manifest(
    source: Path, plan: str | None, sku: dict[str, str], kind: str
):
    mocks, _ = deploy(REST, source, **({"plan": plan} if plan else {}))
    inputs = mocks.one(PLAN).inputs
    assert (inputs["sku"], inputs["kind"], inputs["reserved"]) == (sku, kind, True)


def test_a_flex_app_takes_its_runtime_and_package_from_function_app_config(source: Path):
    mocks, _ = deploy(REST, source, plan="flex")
    app = mocks.one(APP).inputs
    assert "linuxFxVersion" not in app["siteConfig"]
    config = app["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"] == {"type": "SystemAssignedIdentity"}
    assert config["deployment"]["storage"]["value"].endswith(".blob.core.windows.net/packages")
    settings = settings_of(mocks)
    assert settings.keys().isdisjoint({"FUNCTIONS_WORKER_RUNTIME", "WEBSITE_RUN_FROM_PACKAGE"})


@pytest.mark.parametrize(
    ("plan", "blob_name"),
    [
        pytest.param("consumption", r"orders-[0-9a-f]{16}\.zip", id="named-by-hash"),
        pytest.param("flex", r"released-package\.zip", id="flex-reads-one-name"),
    ],
)
def test_a_new_package_reaches_the_app_by_a_changed_setting(
    source: Path, plan: str, blob_name: str
):
    digests = []
    for version in ("1", "2"):
        (source / "app.py").write_text(f"def handler(event, context):\n    return {version}\n")
        mocks, _ = deploy(REST, source, plan=plan)
        blob = mocks.one(BLOB).inputs
        assert re.fullmatch(blob_name, blob["blobName"])
        digest = hashlib.sha256(Path(blob["source"].path).read_bytes()).hexdigest()
        assert blob["metadata"] == {"sha256": digest}
        assert settings_of(mocks)["RECONCILER_PACKAGE_SHA256"] == digest
        digests.append(digest)
    assert digests[0] != digests[1]


@pytest.mark.parametrize(
    ("cors", "expected"),
    [
        pytest.param(None, None, id="no-cors"),
        pytest.param(
            {"allowOrigins": ["https://shop.example"], "allowCredentials": True},
            {"allowedOrigins": ["https://shop.example"], "supportCredentials": True},
            id="credentials",
        ),
        pytest.param(
            {"allowOrigins": ["*"]},
            {"allowedOrigins": ["*"], "supportCredentials": False},
            id="origins-only",
        ),
    ],
)
def test_cors_comes_from_the_manifest(
    source: Path, cors: dict[str, Any] | None, expected: dict[str, Any] | None
):
    text = REST + (f"  cors: {json.dumps(cors)}\n" if cors else "")
    mocks, _ = deploy(text, source)
    assert mocks.one(APP).inputs["siteConfig"].get("cors") == expected


# --- identity and roles ------------------------------------------------------------------------


def test_the_app_has_a_system_assigned_identity(source: Path):
    mocks, _ = deploy(REST, source)
    assert mocks.one(APP).inputs["identity"] == {"type": "SystemAssigned"}


def test_the_identity_reads_the_package_and_owns_host_storage(source: Path):
    mocks, _ = deploy(REST, source)
    account, container = mocks.one(ACCOUNT), mocks.one(CONTAINER)
    grants = {c.inputs["roleDefinitionId"]: c.inputs for c in mocks.of_type(ROLE)}
    assert set(grants) == {ROLES + BLOB_READER, ROLES + BLOB_OWNER}
    assert grants[ROLES + BLOB_READER]["scope"] == container.id
    assert grants[ROLES + BLOB_OWNER]["scope"] == account.id
    for inputs in grants.values():
        assert inputs["principalId"] == APP_PRINCIPAL
        assert inputs["principalType"] == "ServicePrincipal"


def test_app_settings_wait_for_the_roles(source: Path):
    """An app that starts before it may read its package fails until it is restarted."""
    mocks, _ = deploy(WEBSOCKET, source)
    roles = {c.name for c in mocks.of_type(ROLE)}
    assert len(roles) == 3
    assert roles <= mocks.one(SETTINGS).depends_on


def test_app_settings_run_from_the_package_with_identity_based_storage(source: Path):
    mocks, _ = deploy(REST, source)
    settings = settings_of(mocks)
    blob = mocks.one(BLOB)
    account = mocks.one(ACCOUNT).inputs["accountName"]
    assert settings["WEBSITE_RUN_FROM_PACKAGE"] == (
        f"https://{account}.blob.core.windows.net/packages/{blob.inputs['blobName']}"
    )
    assert "?" not in settings["WEBSITE_RUN_FROM_PACKAGE"]  # no SAS
    assert settings["WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"] == "SystemAssigned"
    assert settings["AzureWebJobsStorage__accountName"] == account
    assert "AzureWebJobsStorage" not in settings
    assert settings["FUNCTIONS_EXTENSION_VERSION"] == "~4"
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == CONNECTION_STRING
    everything = json.dumps([reveal(c.inputs) for c in mocks.created], default=str)
    assert "AccountKey" not in everything
    assert "listStorageAccountKeys" not in everything


def test_the_secret_setting_is_secret_and_plain_ones_are_not(source: Path):
    """One secret setting makes the whole `properties` secret (the SDK's granularity).

    So they are encrypted in the state and masked in diffs; a spec without one stays plain.
    """
    mocks, outputs = deploy(REST, source)
    assert is_secret(mocks.one(SETTINGS).inputs["properties"])
    settings = settings_of(mocks)
    assert reveal(settings["DB_PASSWORD"]) == SECRET_VALUE
    assert settings["TABLE"] == "orders"
    assert SECRET_VALUE not in json.dumps(outputs)

    plain = REST.replace("      DB_PASSWORD: {secretRef: ORDERS_DB}\n", "")
    mocks, _ = deploy(plain, source)
    properties = mocks.one(SETTINGS).inputs["properties"]
    assert not is_secret(properties)
    assert not any(is_secret(value) for value in properties.values())


def test_insights_are_workspace_based(source: Path):
    mocks, _ = deploy(REST, source)
    component = mocks.one(INSIGHTS).inputs
    assert component["kind"] == "web"
    assert component["applicationType"] == "web"
    assert component["workspaceResourceId"] == mocks.one(WORKSPACE).id


def test_a_missing_secret_is_refused_before_anything_runs(source: Path):
    request = request_for(parse(REST), source, OTHER="value")
    builder = programs()
    (target,) = builder.targets(request.spec)
    with pytest.raises(PermanentError, match="DB_PASSWORD needs secret ORDERS_DB") as error:
        builder.program(request, target=target, workdir=source.parent / "work")
    assert SECRET_VALUE not in str(error.value)
    assert not (source.parent / "work").exists()


# --- Web PubSub --------------------------------------------------------------------------------


def webhook_token(name: str) -> str:
    return hmac.new(WEBHOOK_KEY, name.encode(), hashlib.sha256).hexdigest()


def test_the_hub_sends_every_event_to_the_shims_route_with_the_token(source: Path):
    """Not the extension endpoint: its `?code=` key does not exist until the app has started."""
    mocks, _ = deploy(WEBSOCKET, source)
    service, hub = mocks.one(PUBSUB).inputs, mocks.one(HUB).inputs
    app = mocks.one(APP).inputs["name"]
    assert service["sku"] == {"name": "Free_F1", "tier": "Free", "capacity": 1}
    assert service["identity"] == {"type": "SystemAssigned"}
    assert service["disableLocalAuth"] is True
    assert hub["hubName"] == "chat_room"
    assert hub["resourceName"] == service["resourceName"]
    properties = reveal(hub["properties"])
    # Clients need no service token: the API's own $connect route admits them, as on AWS.
    assert properties["anonymousConnectPolicy"] == "allow"  # type: ignore[index]
    token = webhook_token("chat-room")
    assert properties["eventHandlers"] == [  # type: ignore[index]
        {
            "urlTemplate": f"https://{app}.azurewebsites.net/api/__reconciler/webpubsub?token={token}",
            "systemEvents": ["connect", "connected", "disconnected"],
            "userEventPattern": "*",
        }
    ]


def test_the_hub_url_follows_the_route_prefix_of_the_shims_host_json(source: Path):
    def shim(spec: DeploymentSpec, *, existing: Collection[str]) -> dict[str, bytes]:  # noqa: ARG001  # the port's signature
        return {"host.json": b'{"extensions": {"http": {"routePrefix": "live"}}}'}

    mocks, _ = run_spec(parse(WEBSOCKET), source, programs(shim=shim))
    (handler,) = reveal(mocks.one(HUB).inputs["properties"])["eventHandlers"]  # type: ignore[index]
    assert "/live/__reconciler/webpubsub?token=" in handler["urlTemplate"]


def test_the_token_is_a_secret_in_the_hub_and_in_the_app_settings(source: Path):
    """The token lets anyone call the function as the hub: encrypted in state, masked in diffs."""
    mocks, outputs = deploy(WEBSOCKET, source)
    token = webhook_token("chat-room")
    # The secret event handlers make the hub's whole `properties` secret (the SDK's granularity).
    assert is_secret(mocks.one(HUB).inputs["properties"])
    assert is_secret(mocks.one(SETTINGS).inputs["properties"])
    assert reveal(settings_of(mocks)["RECONCILER_WEBPUBSUB_TOKEN"]) == token
    assert token not in json.dumps(outputs)


def test_the_token_is_derived_from_the_key_and_the_deployment_name(source: Path):
    """Same key and name, same token: a restarted daemon keeps its hub URL; another key differs."""
    mocks, _ = deploy(WEBSOCKET, source)
    first = reveal(settings_of(mocks)["RECONCILER_WEBPUBSUB_TOKEN"])
    mocks, _ = run_spec(parse(WEBSOCKET), source, programs(webhook_key=b"other"))
    assert first == webhook_token("chat-room")
    assert reveal(settings_of(mocks)["RECONCILER_WEBPUBSUB_TOKEN"]) != first


def test_without_a_webhook_key_a_websocket_spec_is_refused_and_rest_is_not(source: Path):
    builder = programs(webhook_key=None)
    spec = parse(WEBSOCKET)
    (target,) = builder.targets(spec)
    with pytest.raises(PermanentError, match="no webhook key configured"):
        builder.program(request_for(spec, source), target=target, workdir=source.parent / "work")
    mocks, _ = run_spec(parse(REST), source, builder)
    assert mocks.of_type(HUB) == []


def test_the_app_reaches_web_pubsub_with_its_identity(source: Path):
    mocks, _ = deploy(WEBSOCKET, source)
    service = mocks.one(PUBSUB)
    settings = settings_of(mocks)
    host = f"{service.inputs['resourceName']}.webpubsub.azure.com"
    assert settings["WebPubSubConnectionString__serviceUri"] == f"https://{host}"
    assert settings["WebPubSubHub"] == "chat_room"
    assert "WebPubSubConnectionString" not in settings
    (owner,) = [
        c.inputs for c in mocks.of_type(ROLE) if c.inputs["roleDefinitionId"].endswith(PUBSUB_OWNER)
    ]
    assert (owner["scope"], owner["principalId"]) == (service.id, APP_PRINCIPAL)


@pytest.mark.parametrize(
    ("sku", "tier", "version"),
    [
        pytest.param("Free_F1", "Free", "azure/2+shim7", id="free-default"),
        pytest.param("Standard_S1", "Standard", "azure/2+shim7+Standard_S1", id="standard"),
    ],
)
def test_the_web_pubsub_sku_is_a_builder_setting_and_part_of_the_version(
    source: Path, sku: str, tier: str, version: str
):
    builder = programs(web_pubsub_sku=sku)
    mocks, _ = run_spec(parse(WEBSOCKET), source, builder)
    assert mocks.one(PUBSUB).inputs["sku"] == {"name": sku, "tier": tier, "capacity": 1}
    assert builder.program_version == version


# --- API Management ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("GET /items/{id}", ("GET", "/items/{id}", ["id"]), id="param"),
        pytest.param("POST /items", ("POST", "/items", []), id="literal"),
        pytest.param("ANY /files/{path+}", ("*", "/files/{*path}", ["path"]), id="greedy-any"),
        pytest.param("$default", ("*", "/*", []), id="default"),
    ],
)
def test_a_route_becomes_an_apim_operation(key: str, expected: tuple[str, str, list[str]]):
    assert operation(RestRoute.parse(key)) == expected


def test_apim_has_one_operation_per_route_behind_a_public_api(source: Path):
    mocks, _ = deploy(REST, source, gateway="apim")
    service = mocks.one(APIM).inputs
    assert service["sku"] == {"name": "Consumption", "capacity": 0}
    assert service["publisherEmail"]
    api = mocks.one(API).inputs
    assert (api["path"], api["protocols"], api["subscriptionRequired"]) == (
        "live",
        ["https"],
        False,
    )
    assert api["serviceUrl"].endswith(".azurewebsites.net/api")
    operations = {(o.inputs["method"], o.inputs["urlTemplate"]) for o in mocks.of_type(OPERATION)}
    assert operations == {
        ("GET", "/items/{id}"),
        ("POST", "/items"),
        ("*", "/files/{*path}"),
        ("*", "/*"),
    }
    by_template = {o.inputs["urlTemplate"]: o.inputs for o in mocks.of_type(OPERATION)}
    assert by_template["/items/{id}"]["templateParameters"] == [
        {"name": "id", "type": "string", "required": True}
    ]
    backend = mocks.one(BACKEND).inputs
    assert backend["url"] == api["serviceUrl"]


def test_the_apim_policy_answers_cors_from_the_manifest(source: Path):
    cors = {
        "allowOrigins": ["https://shop.example", "https://a&b.example"],
        "allowMethods": ["GET", "POST"],
        "allowHeaders": ["content-type"],
        "exposeHeaders": ["x-request-id"],
        "allowCredentials": True,
        "maxAgeSeconds": 600,
    }
    mocks, _ = deploy(REST + f"  cors: {json.dumps(cors)}\n", source, gateway="apim")
    policy = mocks.one(POLICY).inputs
    assert policy["format"] == "xml"
    assert policy["value"] == (
        "<policies><inbound><base />"
        '<cors allow-credentials="true">'
        "<allowed-origins><origin>https://shop.example</origin>"
        "<origin>https://a&amp;b.example</origin></allowed-origins>"
        '<allowed-methods preflight-result-max-age="600"><method>GET</method>'
        "<method>POST</method></allowed-methods>"
        "<allowed-headers><header>content-type</header></allowed-headers>"
        "<expose-headers><header>x-request-id</header></expose-headers>"
        "</cors>"
        '<set-backend-service backend-id="orders-function" />'
        "</inbound><backend><base /></backend><outbound><base /></outbound>"
        "<on-error><base /></on-error></policies>"
    )


def test_without_cors_the_apim_policy_only_routes_to_the_app(source: Path):
    mocks, _ = deploy(REST, source, gateway="apim")
    assert "<cors" not in mocks.one(POLICY).inputs["value"]


def test_a_websocket_apim_api_fronts_the_hub(source: Path):
    mocks, _ = deploy(WEBSOCKET, source, gateway="apim")
    api = mocks.one(API).inputs
    host = mocks.one(PUBSUB).inputs["resourceName"] + ".webpubsub.azure.com"
    assert api["apiType"] == "websocket"
    assert api["protocols"] == ["wss"]
    assert api["serviceUrl"] == f"wss://{host}/client/hubs/chat_room"
    assert api["path"] == "v1"


JWT = {
    "openidConfigUrl": "https://login.example/tenant/v2.0/.well-known/openid-configuration",
    "audiences": ["api://orders", "a&b"],
    "issuers": ["https://login.example/tenant/v2.0"],
}
VALIDATE_JWT = (
    '<validate-jwt header-name="Authorization" require-scheme="Bearer"'
    ' failed-validation-httpcode="401" failed-validation-error-message="Unauthorized">'
    '<openid-config url="https://login.example/tenant/v2.0/.well-known/openid-configuration" />'
    "<audiences><audience>api://orders</audience><audience>a&amp;b</audience></audiences>"
    "<issuers><issuer>https://login.example/tenant/v2.0</issuer></issuers>"
    "</validate-jwt>"
)


@pytest.mark.parametrize(
    ("apim", "sku", "key_required", "subscriptions", "checks_jwt"),
    [
        pytest.param(None, {"name": "Consumption", "capacity": 0}, False, 0, False, id="public"),
        pytest.param(
            {"sku": "Developer", "auth": "subscriptionKey"},
            {"name": "Developer", "capacity": 1},
            True,
            1,
            False,
            id="subscription-key",
        ),
        pytest.param(
            {"auth": "jwt", "jwt": JWT},
            {"name": "Consumption", "capacity": 0},
            False,
            0,
            True,
            id="jwt",
        ),
    ],
)
@pytest.mark.parametrize("text", [REST, WEBSOCKET], ids=["rest", "websocket"])
def test_apim_asks_callers_for_what_the_manifest_configures(  # noqa: PLR0913, PLR0917  # a table row
    source: Path,
    text: str,
    apim: dict[str, Any] | None,
    sku: dict[str, Any],
    key_required: bool,
    subscriptions: int,
    checks_jwt: bool,
):
    options: dict[str, Any] = {"gateway": "apim"} | ({"apim": apim} if apim else {})
    mocks, _ = deploy(text, source, **options)

    assert mocks.one(APIM).inputs["sku"] == sku
    api = mocks.one(API).inputs
    assert api["subscriptionRequired"] is key_required
    created = mocks.of_type(SUBSCRIPTION_)
    assert len(created) == subscriptions
    for subscription in created:
        assert subscription.inputs["scope"] == f"/apis/{api['apiId']}"
        assert subscription.inputs["state"] == "active"
    policies = [policy.inputs["value"] for policy in mocks.of_type(POLICY)]
    assert any(VALIDATE_JWT in value for value in policies) is checks_jwt


def test_a_jwt_is_checked_after_cors_and_before_the_call_goes_to_the_app(source: Path):
    text = REST + '  cors: {allowOrigins: ["https://shop.example"]}\n'
    mocks, _ = deploy(text, source, gateway="apim", apim={"auth": "jwt", "jwt": JWT})
    value = mocks.one(POLICY).inputs["value"]
    # A browser's preflight carries no token: CORS must answer it before the JWT is checked.
    assert value.index("<cors") < value.index("<validate-jwt") < value.index("<set-backend")


# --- tags and outputs --------------------------------------------------------------------------


def taggable(token: str) -> bool:
    module, name = CLASSES[token]
    cls = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), name)
    return "tags" in inspect.signature(cls._internal_init).parameters


@pytest.mark.parametrize(
    ("text", "name", "labels"),
    [
        pytest.param(REST, "orders", {"team": "shop", "cost-center": "42"}, id="rest"),
        pytest.param(WEBSOCKET, "chat-room", {}, id="websocket"),
    ],
)
def test_every_taggable_resource_is_tagged_with_deployment_revision_and_labels(
    source: Path, text: str, name: str, labels: dict[str, str]
):
    """Taggable or not is the SDK's word (a `tags` argument), not a list kept here."""
    mocks, _ = deploy(text, source, gateway="apim")
    expected = {"reconciler-deployment": name, "reconciler-revision": REVISION.sha, **labels}
    assert set(mocks.types()) <= set(CLASSES)
    tagged = [created for created in mocks.created if taggable(created.type)]
    assert {created.type for created in tagged} >= {RG, ACCOUNT, PLAN, APP, INSIGHTS, APIM}
    for created in tagged:
        assert created.inputs.get("tags") == expected, created.name


@pytest.mark.parametrize(
    ("text", "options", "endpoint"),
    [
        pytest.param(REST, {}, r"https://orders-{s}\.azurewebsites\.net/api", id="rest"),
        pytest.param(
            WEBSOCKET,
            {},
            r"wss://chat-room-wps-{s}\.webpubsub\.azure\.com/client/hubs/chat_room",
            id="websocket",
        ),
        pytest.param(
            REST,
            {"gateway": "apim"},
            r"https://orders-apim-{s}\.azure-api\.net/live",
            id="rest-apim",
        ),
        pytest.param(
            WEBSOCKET,
            {"gateway": "apim"},
            r"wss://chat-room-apim-{s}\.azure-api\.net/v1",
            id="websocket-apim",
        ),
    ],
)
def test_the_stack_exports_what_a_restarted_daemon_needs(
    source: Path, text: str, options: dict[str, Any], endpoint: str
):
    _, outputs = deploy(text, source, **options)
    assert re.fullmatch(endpoint.format(s=SUFFIX_RE), outputs.pop("endpoint"))
    name = "orders" if text is REST else "chat-room"
    assert outputs.pop("functionAppName").startswith(f"{name}-")
    assert outputs.pop("packageBlob").endswith(".zip")
    assert outputs == {
        "fingerprint": FINGERPRINT.value,
        "revision": REVISION.sha,
        "deployment": name,
        "location": "westeurope",
        "resourceGroup": f"{name}-rg",
    }


@pytest.mark.parametrize(
    ("host_json", "suffix"),
    [
        pytest.param(b"{}", "/api", id="host-default"),
        pytest.param(b'{"extensions": {"http": {"routePrefix": ""}}}', "", id="empty-prefix"),
        pytest.param(b'{"extensions": {"http": {"routePrefix": "live"}}}', "/live", id="stage"),
    ],
)
def test_the_rest_endpoint_follows_the_route_prefix_of_the_shims_host_json(
    source: Path, host_json: bytes, suffix: str
):
    def shim(spec: DeploymentSpec, *, existing: Collection[str]) -> dict[str, bytes]:  # noqa: ARG001  # the port's signature
        return {"host.json": host_json}

    mocks, outputs = run_spec(parse(REST), source, programs(shim=shim))
    host = mocks.one(APP).inputs["name"] + ".azurewebsites.net"
    assert outputs["endpoint"] == f"https://{host}{suffix}"


# --- the builder -------------------------------------------------------------------------------


def test_there_is_one_stack_in_the_manifest_location():
    assert programs().targets(parse(REST)) == [
        StackTarget(
            stack="orders", config={"azure-native:location": "westeurope"}, region="westeurope"
        )
    ]


def test_a_spec_without_a_location_has_no_stack():
    with pytest.raises(PermanentError, match="no location"):
        programs().targets(replace(parse(REST), region=None))


def test_the_builder_names_its_provider_version_and_plugin():
    builder: ProgramBuilder = programs()
    assert builder.provider is Provider.AZURE
    assert builder.program_version == "azure/2+shim7"
    assert builder.plugins == (("azure-native", importlib.metadata.version("pulumi_azure_native")),)


def test_secrets_never_reach_the_stack_config():
    for target in programs().targets(parse(REST)):
        assert SECRET_VALUE not in json.dumps(target.config)


def test_by_default_the_builder_uses_the_real_shim_and_its_version():
    shim = importlib.import_module("reconciler.adapters.pulumi.azure_shim")
    builder = AzurePrograms()
    assert builder.shim is shim.package_files
    assert builder.program_version == f"azure/2+shim{shim.SHIM_VERSION}"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        pytest.param("requests==2.32.0\n", "requests==2.32.0\nazure-functions\n", id="added"),
        pytest.param(
            "Azure_Functions>=1.20  # pinned by us\nrequests\n",
            "Azure_Functions>=1.20  # pinned by us\nrequests\n",
            id="already-named",
        ),
        pytest.param("# only a comment\n\n", "# only a comment\nazure-functions\n", id="comments"),
    ],
)
def test_a_python_function_keeps_its_own_requirements_merged_with_the_shims(
    source: Path, user: str, expected: str
):
    def shim(_spec: DeploymentSpec, *, existing: Collection[str]) -> dict[str, bytes]:
        assert "requirements.txt" not in existing  # merged, so never reported as a clash
        return {"host.json": b"{}", "requirements.txt": b"azure-functions\n"}

    (source / "requirements.txt").write_text(user)
    mocks, _ = run_spec(parse(REST), source, programs(shim=shim))
    with zipfile.ZipFile(mocks.one(BLOB).inputs["source"].path) as archive:
        assert archive.read("requirements.txt").decode() == expected


@pytest.mark.parametrize(
    ("runtime", "installed"),
    [
        pytest.param(
            "python3.12",
            f".python_packages/lib/site-packages/{RecordedInstalls.MARKER}",
            id="python",
        ),
        pytest.param("nodejs22.x", f"node_modules/{RecordedInstalls.MARKER}", id="node"),
    ],
)
def test_dependencies_are_installed_into_the_package_after_the_shim_and_before_the_zip(
    source: Path, runtime: str, installed: str
):
    def shim(_spec: DeploymentSpec, *, existing: Collection[str]) -> dict[str, bytes]:
        assert "app.py" in existing
        return {"host.json": b"{}", "requirements.txt": b"azure-functions\n"}

    install = RecordedInstalls()
    mocks, _ = run_spec(
        parse(REST.replace("python3.11", runtime)), source, programs(shim=shim, install=install)
    )

    ((target, staged),) = install.calls
    assert target == Target(Runtime(runtime), python_path=".python_packages/lib/site-packages")
    assert staged["requirements.txt"] == b"azure-functions\n"  # the shim's files came first
    with zipfile.ZipFile(mocks.one(BLOB).inputs["source"].path) as archive:
        assert archive.read(installed) == b"installed\n"
    # The staged copy is gone: only the zip stays in the work folder.
    assert sorted(path.name for path in (source.parent / "work").iterdir()) == ["orders.zip"]


NODE_SHIM_PACKAGE = {
    "name": "orders",
    "private": True,
    "main": "reconciler-shim.cjs",
    "dependencies": {"@azure/functions": "^4.5.0"},
}


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        pytest.param(
            {"name": "shop", "type": "module", "dependencies": {"nanoid": "^5"}},
            {
                "name": "shop",
                "type": "module",
                "main": "reconciler-shim.cjs",
                "dependencies": {"@azure/functions": "^4.5.0", "nanoid": "^5"},
            },
            id="added",
        ),
        pytest.param(
            {"main": "app.js", "dependencies": {"@azure/functions": "4.6.0"}},
            {"main": "reconciler-shim.cjs", "dependencies": {"@azure/functions": "4.6.0"}},
            id="the-users-pin-wins-the-entry-point-is-the-shims",
        ),
    ],
)
def test_a_node_function_keeps_its_own_package_json_merged_with_the_shims(
    source: Path, user: dict[str, Any], expected: dict[str, Any]
):
    def shim(_spec: DeploymentSpec, *, existing: Collection[str]) -> dict[str, bytes]:
        assert "package.json" not in existing  # merged, so never reported as a clash
        return {"host.json": b"{}", "package.json": json.dumps(NODE_SHIM_PACKAGE).encode()}

    (source / "package.json").write_text(json.dumps(user))
    install = RecordedInstalls()
    run_spec(
        parse(REST.replace("python3.11", "nodejs20.x")),
        source,
        programs(shim=shim, install=install),
    )

    ((_, staged),) = install.calls
    assert json.loads(staged["package.json"]) == expected


@pytest.mark.parametrize(
    "text", ["{broken", "[]", '{"dependencies": ["nanoid"]}'], ids=["json", "array", "deps-list"]
)
def test_a_package_json_that_cannot_be_merged_is_refused_before_anything_is_installed(
    source: Path, text: str
):
    def shim(_spec: DeploymentSpec, *, existing: Collection[str]) -> dict[str, bytes]:
        assert "package.json" not in existing
        return {"package.json": json.dumps(NODE_SHIM_PACKAGE).encode()}

    (source / "package.json").write_text(text)
    install = RecordedInstalls()
    with pytest.raises(PermanentError, match=r"package\.json"):
        run_spec(parse(REST), source, programs(shim=shim, install=install))
    assert install.calls == []
