"""A `WebSocketApi` on Azure: a Web PubSub service whose hub sends every event to the app.

Used by `azure.py` inside a Pulumi run. Clients connect to the service; it calls the Function
App's Web PubSub extension for connect, connected, disconnected and every user event, and the
app answers or pushes through the service with its own identity (no access key anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import webpubsub

from reconciler.adapters.pulumi.azure_common import WEB_PUBSUB_SERVICE_OWNER, grant, logical_name
from reconciler.adapters.pulumi.azure_functions import FunctionApp, Place

DEFAULT_SKU = "Free_F1"
"""Free: 20 connections and no SLA, enough to try an API; pass `Standard_S1` for real traffic."""
SKU_TIERS = {"Free_F1": "Free", "Standard_S1": "Standard", "Premium_P1": "Premium"}
SYSTEM_EVENTS = ("connect", "connected", "disconnected")
USER_EVENTS = "*"
EXTENSION_PATH = "/runtime/webhooks/webpubsub"
"""Where the Functions host serves the Web PubSub trigger extension."""


@dataclass(frozen=True, slots=True)
class PubSub:
    """The service, its hub's name, the settings the app needs and the URL clients use."""

    service: webpubsub.WebPubSub
    hub: webpubsub.WebPubSubHub
    settings: dict[str, pulumi.Input[str]]
    endpoint: pulumi.Output[str]
    service_url: pulumi.Output[str]
    """`wss://<service host>/client/hubs/<hub>`: where a gateway in front forwards to."""
    grants: list[pulumi.Resource]


def web_pubsub(  # noqa: PLR0913  # a hub is all of these parts
    name: str,
    *,
    place: Place,
    service_name: str,
    hub_name: str,
    app: FunctionApp,
    sku: str = DEFAULT_SKU,
) -> PubSub:
    """The service (identity only: local auth off), the hub and the app's role on it.

    The hub authenticates to the app with the service's managed identity, not with the
    extension's system key in `?code=`: that key exists only once the app's host has started,
    after this program has run.
    """
    service = webpubsub.WebPubSub(
        logical_name(name, "pubsub"),
        resource_name_=service_name,
        resource_group_name=place.resource_group,
        location=place.location,
        sku=webpubsub.ResourceSkuArgs(name=sku, tier=SKU_TIERS.get(sku), capacity=1),
        identity=webpubsub.ManagedIdentityArgs(type=webpubsub.ManagedIdentityType.SYSTEM_ASSIGNED),
        disable_local_auth=True,
        tags=dict(place.tags),
    )
    handler = webpubsub.EventHandlerArgs(
        url_template=pulumi.Output.concat("https://", app.host, EXTENSION_PATH),
        system_events=list(SYSTEM_EVENTS),
        user_event_pattern=USER_EVENTS,
        auth=webpubsub.UpstreamAuthSettingsArgs(
            type=webpubsub.UpstreamAuthType.MANAGED_IDENTITY,
        ),
    )
    hub = webpubsub.WebPubSubHub(
        logical_name(name, "hub"),
        hub_name=hub_name,
        resource_name_=service.name,
        resource_group_name=place.resource_group,
        properties=webpubsub.WebPubSubHubPropertiesArgs(
            event_handlers=[handler],
            # Clients connect with a token the app hands out (negotiate), never anonymously.
            anonymous_connect_policy="deny",
        ),
    )
    owner = grant(
        logical_name(name, "pubsub-owner"),
        principal_id=app.principal_id,
        role=WEB_PUBSUB_SERVICE_OWNER,
        scope=service.id,
        description=f"{name}: send to and manage its connections (managed by reconciler)",
    )
    settings: dict[str, pulumi.Input[str]] = {
        # Identity-based connection: the extension reads `<name>__serviceUri`, no key.
        "WebPubSubConnectionString__serviceUri": pulumi.Output.concat(
            "https://", service.host_name
        ),
        "WebPubSubHub": hub_name,
    }
    service_url = pulumi.Output.concat("wss://", service.host_name, "/client/hubs/", hub_name)
    return PubSub(
        service=service,
        hub=hub,
        settings=settings,
        endpoint=service_url,
        service_url=service_url,
        grants=[owner],
    )
