"""Azure's part under `set_mocks`: the ids, hosts and identities azure-native would compute.

Reuses `pulumimocks` (recording, the runner, the isolated runtime); only the computed outputs
differ. Ids are full ARM ids in one made-up subscription, so role scopes can be checked.
"""

from __future__ import annotations

from typing import Any

from pulumimocks import AwsMocks

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
APP_PRINCIPAL = "aaaaaaaa-0000-0000-0000-000000000001"
PUBSUB_PRINCIPAL = "bbbbbbbb-0000-0000-0000-000000000002"
TENANT = "cccccccc-0000-0000-0000-000000000003"
CONNECTION_STRING = "InstrumentationKey=1234;IngestionEndpoint=https://in.example/"

# The wire name of each resource's own name, and its ARM provider path.
_NAMES: dict[str, tuple[str, str]] = {
    "azure-native:resources:ResourceGroup": ("resourceGroupName", ""),
    "azure-native:storage:StorageAccount": ("accountName", "Microsoft.Storage/storageAccounts"),
    "azure-native:storage:BlobContainer": ("containerName", "blobServices/default/containers"),
    "azure-native:storage:Blob": ("blobName", "blobs"),
    "azure-native:operationalinsights:Workspace": (
        "workspaceName",
        "Microsoft.OperationalInsights/workspaces",
    ),
    "azure-native:applicationinsights:Component": ("resourceName", "Microsoft.Insights/components"),
    "azure-native:web:AppServicePlan": ("name", "Microsoft.Web/serverfarms"),
    "azure-native:web:WebApp": ("name", "Microsoft.Web/sites"),
    "azure-native:webpubsub:WebPubSub": ("resourceName", "Microsoft.SignalRService/webPubSub"),
    "azure-native:webpubsub:WebPubSubHub": ("hubName", "hubs"),
    "azure-native:apimanagement:ApiManagementService": (
        "serviceName",
        "Microsoft.ApiManagement/service",
    ),
    "azure-native:apimanagement:Api": ("apiId", "apis"),
    "azure-native:apimanagement:ApiOperation": ("operationId", "operations"),
    "azure-native:apimanagement:ApiPolicy": ("policyId", "policies"),
    "azure-native:apimanagement:Backend": ("backendId", "backends"),
    "azure-native:apimanagement:Subscription": ("sid", "subscriptions"),
}


class AzureMocks(AwsMocks):
    """Answers registrations as Azure would, recording each one."""

    def computed(self, token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The ARM id and the outputs Azure would compute."""
        key, path = _NAMES.get(token, ("", ""))
        physical = str(inputs.get(key) or f"{name}-id")
        group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{inputs.get('resourceGroupName')}"
        rid = f"{group}/providers/{path}/{physical}"
        outputs: dict[str, Any] = {"name": physical, "id": rid}
        match token:
            case "azure-native:resources:ResourceGroup":
                rid = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{physical}"
                outputs |= {"id": rid}
            case "azure-native:storage:StorageAccount":
                outputs["primaryEndpoints"] = {"blob": f"https://{physical}.blob.core.windows.net/"}
            case "azure-native:storage:BlobContainer":
                account = (
                    f"{group}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"
                )
                rid = f"{account}/blobServices/default/containers/{physical}"
                outputs["id"] = rid
            case "azure-native:storage:Blob":
                host = f"https://{inputs['accountName']}.blob.core.windows.net"
                outputs["url"] = f"{host}/{inputs['containerName']}/{physical}"
            case "azure-native:applicationinsights:Component":
                outputs["connectionString"] = CONNECTION_STRING
            case "azure-native:web:WebApp":
                outputs["defaultHostName"] = f"{physical}.azurewebsites.net"
                outputs["identity"] = {
                    **inputs["identity"],
                    "principalId": APP_PRINCIPAL,
                    "tenantId": TENANT,
                }
            case "azure-native:webpubsub:WebPubSub":
                outputs["hostName"] = f"{physical}.webpubsub.azure.com"
                outputs["identity"] = {**inputs["identity"], "principalId": PUBSUB_PRINCIPAL}
            case "azure-native:apimanagement:ApiManagementService":
                outputs["gatewayUrl"] = f"https://{physical}.azure-api.net"
            case "azure-native:authorization:RoleAssignment":
                rid = f"{inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{name}"
                outputs["id"] = rid
        return outputs["id"], outputs
