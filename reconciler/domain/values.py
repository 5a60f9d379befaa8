"""Value objects of a deployment spec: the function, its gateway, the policy and the identifiers.

Built by `reconciler.manifest` from a validated manifest; read by the application and the engines.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.domain.errors import InvalidValueError


class Provider(StrEnum):
    """Where a deployment runs."""

    LOCAL = "local"
    AWS = "aws"
    AZURE = "azure"


class ApiKind(StrEnum):
    """The two kinds of API a manifest can describe."""

    REST = "RestApi"
    WEBSOCKET = "WebSocketApi"


class Runtime(StrEnum):
    """Function runtimes supported on every provider, named as AWS Lambda names them."""

    PYTHON_3_11 = "python3.11"
    PYTHON_3_12 = "python3.12"
    PYTHON_3_13 = "python3.13"
    NODEJS_20 = "nodejs20.x"
    NODEJS_22 = "nodejs22.x"

    @property
    def language(self) -> str:
        """Return `python` or `node`."""
        return "python" if self.value.startswith("python") else "node"


class DriftPolicy(StrEnum):
    """What to do when live infrastructure no longer matches the applied spec."""

    REPORT = "report"
    HEAL = "heal"
    IGNORE = "ignore"


HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9._~@:-]+")
_PARAM_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")
_CUSTOM_ROUTE_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class RestRoute:
    """One REST route, `"METHOD /path/{param}"`, or the catch-all `$default`."""

    method: str
    path: str

    DEFAULT_KEY = "$default"

    @classmethod
    def parse(cls, text: str) -> RestRoute:
        """Parse a route key as written in a manifest; raise `InvalidValueError` if malformed."""
        if text == cls.DEFAULT_KEY:
            return cls(method="ANY", path=cls.DEFAULT_KEY)
        method, _, path = text.partition(" ")
        if method not in HTTP_METHODS:
            allowed = ", ".join(sorted(HTTP_METHODS))
            raise InvalidValueError(f"unknown HTTP method {method!r} (expected one of {allowed})")
        _check_path(path)
        return cls(method=method, path=path)

    @property
    def key(self) -> str:
        """The route key as API Gateway writes it."""
        return self.path if self.path == self.DEFAULT_KEY else f"{self.method} {self.path}"


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise InvalidValueError(f"route path {path!r} must start with '/'")
    if path == "/":
        return
    segments = path[1:].split("/")
    names: set[str] = set()
    for index, segment in enumerate(segments):
        param = _PARAM_SEGMENT.fullmatch(segment)
        if param is None:
            if not _LITERAL_SEGMENT.fullmatch(segment):
                raise InvalidValueError(f"route path {path!r} has an invalid segment {segment!r}")
            continue
        name, greedy = param.groups()
        if greedy and index != len(segments) - 1:
            raise InvalidValueError(f"greedy parameter {{{name}+}} must be the last segment")
        if name in names:
            raise InvalidValueError(f"route path {path!r} repeats parameter {name!r}")
        names.add(name)


@dataclass(frozen=True, slots=True)
class WebSocketRoute:
    """One WebSocket route key: `$connect`, `$disconnect`, `$default` or a custom action."""

    key: str

    PREDEFINED = frozenset({"$connect", "$disconnect", "$default"})

    @classmethod
    def parse(cls, text: str) -> WebSocketRoute:
        """Parse a route key; raise `InvalidValueError` if it is neither predefined nor custom."""
        if text.startswith("$") and text not in cls.PREDEFINED:
            allowed = ", ".join(sorted(cls.PREDEFINED))
            raise InvalidValueError(f"unknown predefined route {text!r} (expected {allowed})")
        if not text.startswith("$") and not _CUSTOM_ROUTE_KEY.fullmatch(text):
            raise InvalidValueError(
                f"route key {text!r} must be 1-128 letters, digits or '_.:-' characters"
            )
        return cls(key=text)


@dataclass(frozen=True, slots=True)
class Cors:
    """Cross-origin settings of a REST API."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age_seconds: int = 0


@dataclass(frozen=True, slots=True)
class ApiGateway:
    """The gateway in front of the function: its routes, stage and, for REST, CORS."""

    kind: ApiKind
    routes: tuple[RestRoute | WebSocketRoute, ...]
    stage: str = "live"
    cors: Cors | None = None
    route_selection_expression: str | None = None

    @property
    def route_keys(self) -> tuple[str, ...]:
        """Every route key, as API Gateway writes them."""
        return tuple(route.key for route in self.routes)


@dataclass(frozen=True, slots=True)
class SecretRef:
    """An environment value resolved from a named secret at apply time and never stored."""

    name: str


EnvValue = str | SecretRef


@dataclass(frozen=True, slots=True)
class ServerlessFunction:
    """The function behind an API: what runs, from where, with how much memory and time."""

    runtime: Runtime
    handler: str
    source: str
    memory_mb: int = 128
    timeout_seconds: int = 10
    environment: tuple[tuple[str, EnvValue], ...] = ()

    @property
    def secret_names(self) -> tuple[str, ...]:
        """The names of every secret the environment refers to."""
        return tuple(value.name for _, value in self.environment if isinstance(value, SecretRef))


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """A request made after every apply; the apply counts only if it answers `expect_status`."""

    path: str = "/"
    expect_status: int = 200


@dataclass(frozen=True, slots=True)
class Policy:
    """How the reconciler treats one deployment."""

    suspend: bool = False
    prune: bool = False
    drift: DriftPolicy = DriftPolicy.REPORT
    auto_rollback: bool = True


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """Everything a manifest asks for, in the domain's words."""

    name: str
    kind: ApiKind
    provider: Provider
    function: ServerlessFunction
    gateway: ApiGateway
    region: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    health_check: HealthCheck | None = None
    policy: Policy = Policy()
    # Provider-specific blocks (spec.aws, spec.azure, spec.local) as plain JSON-like data.
    provider_options: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Revision:
    """A Git commit id, in full."""

    sha: str

    def __post_init__(self) -> None:
        if not _SHA.fullmatch(self.sha):
            raise InvalidValueError(f"{self.sha!r} is not a full hexadecimal commit id")

    @property
    def short(self) -> str:
        """The first 12 characters, for people."""
        return self.sha[:12]

    def __str__(self) -> str:
        return self.sha


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What decides whether a deployment must be applied again: equal fingerprints, no work."""

    value: str

    @classmethod
    def compute(
        cls, spec: DeploymentSpec, *, source_tree: str, program_version: str
    ) -> Fingerprint:
        """Hash the canonical spec, the Git tree id of the function source and the program."""
        document = {
            "spec": asdict(spec),
            "sourceTree": source_tree,
            "programVersion": program_version,
        }
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
        return cls(hashlib.sha256(canonical.encode()).hexdigest())

    def __str__(self) -> str:
        return self.value
