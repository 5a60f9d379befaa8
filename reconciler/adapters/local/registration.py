"""What the engine and the host say to each other through the admin API, as pydantic models.

`Registration` goes in (PUT); `LiveDeployment` comes out (GET). Secret values only ever travel
inward: the host answers with their keyed digests, never the values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.domain.values import Cors


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorsBody(_Body):
    """CORS as the manifest gives it."""

    allow_origins: list[str]
    allow_methods: list[str] = []
    allow_headers: list[str] = []
    expose_headers: list[str] = []
    allow_credentials: bool = False
    max_age_seconds: int = 0

    @classmethod
    def of(cls, cors: Cors) -> CorsBody:
        """The body for the domain's CORS value."""
        return cls(
            allow_origins=list(cors.allow_origins),
            allow_methods=list(cors.allow_methods),
            allow_headers=list(cors.allow_headers),
            expose_headers=list(cors.expose_headers),
            allow_credentials=cors.allow_credentials,
            max_age_seconds=cors.max_age_seconds,
        )

    def value(self) -> Cors:
        """The domain's CORS value for this body."""
        return Cors(
            allow_origins=tuple(self.allow_origins),
            allow_methods=tuple(self.allow_methods),
            allow_headers=tuple(self.allow_headers),
            expose_headers=tuple(self.expose_headers),
            allow_credentials=self.allow_credentials,
            max_age_seconds=self.max_age_seconds,
        )


class Gateway(_Body):
    """Routes and their surroundings: what a request meets before the function."""

    routes: list[str] = Field(min_length=1)
    route_selection_expression: str | None = None
    stage: str = "live"
    cors: CorsBody | None = None


class Function(_Body):
    """What runs: the code, its runtime and its plain environment."""

    runtime: str
    handler: str
    code_dir: str
    """Absolute path of the version folder the engine copied the source into."""
    code_digest: str
    memory_mb: int = 128
    timeout_seconds: int = 10
    environment: dict[str, str] = {}


class _Version(_Body):
    """One version of one deployment: what is registered and what is reported back."""

    name: str
    kind: Literal["RestApi", "WebSocketApi"]
    revision: str
    fingerprint: str
    version: str
    function: Function
    gateway: Gateway


class Registration(_Version):
    """One deployment version, as the engine registers it."""

    port: int | None = None
    """The port asked for; None keeps the current one, or picks a free one the first time."""
    secrets: dict[str, str] = Field(default={}, repr=False)
    """Resolved `secretRef` values by environment name; kept in memory, stored only encrypted."""


class Changes(_Body):
    """An out-of-band edit through the admin API (PATCH): how drift happens to a live deployment."""

    environment: dict[str, str] | None = None
    routes: list[str] | None = None
    cors: CorsBody | None = None


class LiveDeployment(_Version):
    """What the host serves for one deployment."""

    port: int
    endpoint: str
    secret_digests: dict[str, str] = {}
    registered_at: str


class HostHealth(_Body):
    """What the host says about itself."""

    pid: int
    version: str
    started_at: str
    deployments: int
