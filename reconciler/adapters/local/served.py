"""The host's live view of one deployment: its port, its active version, its open connections.

Traffic reads `Served.active` once per request, so switching versions is one assignment:
requests already running finish on the version they started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from reconciler.adapters.local.functions.workers import FunctionPool
from reconciler.adapters.local.gateway.routing import RouteTable
from reconciler.adapters.local.registration import LiveDeployment, Registration
from reconciler.domain.values import Cors


@dataclass(slots=True)
class Version:
    """One registered version of a deployment and the workers that run it."""

    registration: Registration
    pool: FunctionPool
    routes: RouteTable
    cors: Cors | None

    @property
    def stage(self) -> str:
        """The stage, the first segment of every path."""
        return self.registration.gateway.stage


@dataclass(slots=True)
class Connection:
    """One open WebSocket connection."""

    id: str
    socket: web.WebSocketResponse
    connected_at: datetime
    last_active_at: datetime
    source_ip: str
    user_agent: str | None


@dataclass(slots=True)
class Served:
    """A deployment the host serves on its own loopback port."""

    name: str
    port: int
    site: web.BaseSite
    active: Version
    registered_at: str
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    connections: dict[str, Connection] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        """The URL clients call, stage included, as API Gateway's invoke URL has it."""
        scheme = "ws" if self.active.registration.kind == "WebSocketApi" else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{self.active.stage}"

    def live(self, secret_digests: dict[str, str]) -> LiveDeployment:
        """What the admin API reports for this deployment."""
        registration = self.active.registration
        return LiveDeployment(
            name=self.name,
            kind=registration.kind,
            revision=registration.revision,
            fingerprint=registration.fingerprint,
            version=registration.version,
            function=registration.function,
            gateway=registration.gateway,
            port=self.port,
            endpoint=self.endpoint,
            secret_digests=secret_digests,
            registered_at=self.registered_at,
        )
