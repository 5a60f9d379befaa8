"""A `WebSocketApi` on Azure: a Web PubSub service whose hub sends every event to the app.

Used by `azure.py` inside a Pulumi run. Clients connect to the service; it calls the shim's own
anonymous route for connect, connected, disconnected and every user event, with a token in the
URL the shim checks; the app may push through the service with its own identity (no access key).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import webpubsub

from reconciler.adapters.pulumi.azure_common import WEB_PUBSUB_SERVICE_OWNER, grant, logical_name
from reconciler.adapters.pulumi.azure_functions import FunctionApp, Place
from reconciler.adapters.pulumi.azure_shim import WEBPUBSUB_ROUTE, WEBPUBSUB_TOKEN_SETTING

DEFAULT_SKU = "Free_F1"
"""Free: 20 connections and no SLA, enough to try an API; pass `Standard_S1` for real traffic."""
SKU_TIERS = {"Free_F1": "Free", "Standard_S1": "Standard", "Premium_P1": "Premium"}
SYSTEM_EVENTS = ("connect", "connected", "disconnected")
USER_EVENTS = "*"


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
    route_prefix: str,
    token: str,
    sku: str = DEFAULT_SKU,
) -> PubSub:
    """The service (identity only: local auth off), the hub and the app's role on it.

    The hub calls the shim's anonymous route with `?token=<token>`, which the shim compares
    with its `RECONCILER_WEBPUBSUB_TOKEN` setting. Not the Web PubSub extension: its system key
    (`?code=`) exists only once the app's host has started, after this program has run, and
    the service's managed identity alone does not pass the host's check.
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
    prefix = f"/{route_prefix.strip('/')}" if route_prefix.strip("/") else ""
    handler = webpubsub.EventHandlerArgs(
        url_template=pulumi.Output.concat(
            "https://", app.host, prefix, "/", WEBPUBSUB_ROUTE, "?token=", token
        ),
        system_events=list(SYSTEM_EVENTS),
        user_event_pattern=USER_EVENTS,
    )
    hub = webpubsub.WebPubSubHub(
        logical_name(name, "hub"),
        hub_name=hub_name,
        resource_name_=service.name,
        resource_group_name=place.resource_group,
        properties=webpubsub.WebPubSubHubPropertiesArgs(
            # The URL carries the token: kept encrypted in the state, masked in diffs.
            event_handlers=pulumi.Output.secret([handler]),
            # As on API Gateway: clients connect to the URL with no service token, and the
            # API's `$connect` route decides (its event carries their query and headers). With
            # "deny", only a token minted through the service's API would do, and nothing in
            # the handler contract mints one.
            anonymous_connect_policy="allow",
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
        WEBPUBSUB_TOKEN_SETTING: pulumi.Output.secret(token),
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
