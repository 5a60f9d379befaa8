"""The Function App of an Azure deployment and what it stands on: storage, plan, insights, roles.

Used by `azure.py` inside a Pulumi run. The app has no keys to anything: a system-assigned
identity reads its package and its host storage, so no account key or SAS is ever stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_azure_native import applicationinsights, operationalinsights, storage, web

from reconciler.adapters.pulumi.azure_common import (
    RUNTIME_STACKS,
    STORAGE_BLOB_DATA_OWNER,
    STORAGE_BLOB_DATA_READER,
    grant,
    logical_name,
)
from reconciler.domain.values import Cors, DeploymentSpec

PACKAGES_CONTAINER = "packages"
LOG_RETENTION_DAYS = 30
"""Log Analytics' free retention; longer is billed per GB and month."""
PLANS: dict[str, tuple[str, str, str]] = {
    "consumption": ("Y1", "Dynamic", "linux"),
    "flex": ("FC1", "FlexConsumption", "functionapp"),
    "premium": ("EP1", "ElasticPremium", "elastic"),
}
"""`spec.azure.plan` → (SKU, tier, plan kind); every plan is Linux (`reserved=True`)."""
FLEX_PACKAGE_BLOB = "released-package.zip"
"""The one name a Flex app reads its package by, in its deployment container."""
PACKAGE_DIGEST_SETTING = "RECONCILER_PACKAGE_SHA256"
"""An app setting holding the package's hash: on Flex, a new package changes it, which restarts
the app onto the package it replaced in place."""
FLEX_INSTANCE_MEMORY_MB = 2048
FLEX_MAXIMUM_INSTANCES = 100
PREMIUM_MAXIMUM_WORKERS = 20


@dataclass(frozen=True, slots=True)
class Place:
    """Where a deployment's resources live: the group's name (an Output if we made it)."""

    resource_group: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Storage:
    """The account, its package container and the uploaded package."""

    account: storage.StorageAccount
    container: storage.BlobContainer
    package: storage.Blob


@dataclass(frozen=True, slots=True)
class FunctionApp:
    """The app, its identity's principal id and the base URL of its HTTP routes."""

    app: web.WebApp
    principal_id: pulumi.Output[str]
    host: pulumi.Output[str]


def package_storage(  # noqa: PLR0913  # the package and where it goes
    name: str, *, place: Place, account_name: str, package: Path, digest: str, flex: bool
) -> Storage:
    """A hardened StorageV2 account, a private container, and the package as one blob."""
    account = storage.StorageAccount(
        logical_name(name, "storage"),
        account_name=account_name,
        resource_group_name=place.resource_group,
        location=place.location,
        kind=storage.Kind.STORAGE_V2,
        sku=storage.SkuArgs(name=storage.SkuName.STANDARD_LRS),
        enable_https_traffic_only=True,
        minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
        allow_blob_public_access=False,
        tags=dict(place.tags),
    )
    container = storage.BlobContainer(
        logical_name(name, "packages"),
        container_name=PACKAGES_CONTAINER,
        account_name=account.name,
        resource_group_name=place.resource_group,
        public_access=storage.PublicAccess.NONE,
    )
    # Named by the zip's hash: a new package is a new blob, so the app's setting changes and
    # it restarts on it, and the old blob is deleted only after the app has moved on. Flex
    # reads one fixed name instead: the blob is replaced in place (deleted first, or deleting
    # the old one would delete the new), and `PACKAGE_DIGEST_SETTING` restarts the app.
    blob = storage.Blob(
        logical_name(name, "package"),
        blob_name=FLEX_PACKAGE_BLOB if flex else f"{name}-{digest[:16]}.zip",
        account_name=account.name,
        container_name=container.name,
        resource_group_name=place.resource_group,
        type=storage.BlobType.BLOCK,
        content_type="application/zip",
        source=pulumi.FileAsset(str(package)),
        metadata={"sha256": digest},
        opts=pulumi.ResourceOptions(delete_before_replace=flex),
    )
    return Storage(account=account, container=container, package=blob)


def insights(name: str, *, place: Place) -> applicationinsights.Component:
    """Application Insights, workspace-based: classic components can no longer be created."""
    workspace = operationalinsights.Workspace(
        logical_name(name, "logs"),
        workspace_name=logical_name(name, "logs"),
        resource_group_name=place.resource_group,
        location=place.location,
        sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
        retention_in_days=LOG_RETENTION_DAYS,
        tags=dict(place.tags),
    )
    return applicationinsights.Component(
        logical_name(name, "insights"),
        resource_name_=logical_name(name, "insights"),
        resource_group_name=place.resource_group,
        location=place.location,
        kind="web",
        application_type=applicationinsights.ApplicationType.WEB,
        workspace_resource_id=workspace.id,
        ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS,
        tags=dict(place.tags),
    )


def service_plan(name: str, *, place: Place, plan: str) -> web.AppServicePlan:
    """The Linux plan the manifest picks: Consumption `Y1`, Flex `FC1` or Premium `EP1`."""
    sku, tier, kind = PLANS[plan]
    return web.AppServicePlan(
        logical_name(name, "plan"),
        name=logical_name(name, "plan"),
        resource_group_name=place.resource_group,
        location=place.location,
        kind=kind,
        reserved=True,  # Linux
        sku=web.SkuDescriptionArgs(name=sku, tier=tier),
        maximum_elastic_worker_count=PREMIUM_MAXIMUM_WORKERS if plan == "premium" else None,
        tags=dict(place.tags),
    )


def function_app(  # noqa: PLR0913  # an app is all of these parts
    spec: DeploymentSpec,
    *,
    place: Place,
    app_name: str,
    plan: web.AppServicePlan,
    plan_option: str,
    storage_: Storage,
) -> FunctionApp:
    """The Function App: Linux, HTTPS only, TLS 1.2, no FTP, CORS from the manifest.

    App settings are not set here but by `app_settings`, once the identity holds its roles:
    an app that starts before it may read its package fails until it is restarted.
    """
    language, version = RUNTIME_STACKS[spec.function.runtime]
    flex = plan_option == "flex"
    app = web.WebApp(
        logical_name(spec.name, "app"),
        name=app_name,
        resource_group_name=place.resource_group,
        location=place.location,
        kind="functionapp,linux",
        reserved=True,
        server_farm_id=plan.id,
        https_only=True,
        identity=web.ManagedServiceIdentityArgs(
            type=web.ManagedServiceIdentityType.SYSTEM_ASSIGNED
        ),
        site_config=web.SiteConfigArgs(
            # Flex takes its runtime from function_app_config and refuses linux_fx_version.
            linux_fx_version=None if flex else f"{language.upper()}|{version}",
            min_tls_version=web.SupportedTlsVersions.SUPPORTED_TLS_VERSIONS_1_2,
            scm_min_tls_version=web.SupportedTlsVersions.SUPPORTED_TLS_VERSIONS_1_2,
            ftps_state=web.FtpsState.DISABLED,
            http20_enabled=True,
            cors=_cors(spec.gateway.cors),
        ),
        function_app_config=_flex_config(storage_, language, version) if flex else None,
        tags=dict(place.tags),
    )
    principal_id = app.identity.apply(lambda identity: identity.principal_id if identity else "")
    return FunctionApp(app=app, principal_id=principal_id, host=app.default_host_name)


def storage_grants(name: str, *, app: FunctionApp, storage_: Storage) -> list[pulumi.Resource]:
    """What the identity needs: read its package, and own the account's blobs for the host.

    Reader on the container is all run-from-package needs. The Functions host keeps its leases
    and keys in blobs of the same account (`AzureWebJobsStorage__accountName`), for which
    Microsoft documents Storage Blob Data Owner on the account; that grant covers the package
    too, but the reader grant stays so the package's access survives moving host storage away.
    """
    reader = grant(
        logical_name(name, "package-reader"),
        principal_id=app.principal_id,
        role=STORAGE_BLOB_DATA_READER,
        scope=storage_.container.id,
        description=f"{name}: read its code package (managed by reconciler)",
    )
    owner = grant(
        logical_name(name, "host-storage"),
        principal_id=app.principal_id,
        role=STORAGE_BLOB_DATA_OWNER,
        scope=storage_.account.id,
        description=f"{name}: Functions host storage (managed by reconciler)",
    )
    return [reader, owner]


def app_settings(  # noqa: PLR0913  # the settings come from all of these
    name: str,
    *,
    place: Place,
    app: FunctionApp,
    plan_option: str,
    language: str,
    storage_: Storage,
    component: applicationinsights.Component,
    settings: Mapping[str, pulumi.Input[str]],
    depends_on: list[pulumi.Resource],
    package_digest: str,
) -> web.WebAppApplicationSettings:
    """Every app setting, in one resource that owns them all; ours win over the manifest's."""
    ours: dict[str, pulumi.Input[str]] = {
        "AzureWebJobsStorage__accountName": storage_.account.name,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": component.connection_string,
        PACKAGE_DIGEST_SETTING: package_digest,
    }
    if plan_option != "flex":  # Flex refuses these: it has function_app_config instead
        ours |= {
            "FUNCTIONS_EXTENSION_VERSION": "~4",
            "FUNCTIONS_WORKER_RUNTIME": language,
            "WEBSITE_RUN_FROM_PACKAGE": storage_.package.url,
            # Fetch the package with the app's own identity: the URL carries no SAS.
            "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID": "SystemAssigned",
        }
    return web.WebAppApplicationSettings(
        logical_name(name, "app-settings"),
        name=app.app.name,
        resource_group_name=place.resource_group,
        properties={**settings, **ours},
        opts=pulumi.ResourceOptions(depends_on=depends_on),
    )


def _flex_config(storage_: Storage, language: str, version: str) -> web.FunctionAppConfigArgs:
    container_url = pulumi.Output.concat(
        storage_.account.primary_endpoints.blob, storage_.container.name
    )
    return web.FunctionAppConfigArgs(
        deployment=web.FunctionsDeploymentArgs(
            storage=web.FunctionsDeploymentStorageArgs(
                type="blobContainer",
                value=container_url,
                authentication=web.FunctionsDeploymentStorageAuthenticationArgs(
                    type="SystemAssignedIdentity"
                ),
            )
        ),
        runtime=web.FunctionsRuntimeArgs(name=language, version=version),
        scale_and_concurrency=web.FunctionsScaleAndConcurrencyArgs(
            instance_memory_mb=FLEX_INSTANCE_MEMORY_MB,
            maximum_instance_count=FLEX_MAXIMUM_INSTANCES,
        ),
    )


def _cors(cors: Cors | None) -> web.CorsSettingsArgs | None:
    if cors is None:
        return None
    # App Service CORS has origins and credentials only; methods, headers and max age are
    # answered for any request (they reach APIM's policy when APIM is in front).
    return web.CorsSettingsArgs(
        allowed_origins=list(cors.allow_origins),
        support_credentials=cors.allow_credentials,
    )
