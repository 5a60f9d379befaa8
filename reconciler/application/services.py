"""Everything a use case needs, wired once by `bootstrap`: the ports and the loop's settings."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import structlog

from reconciler.application.desired import DesiredReader
from reconciler.domain.model import Deployment
from reconciler.domain.planning import RetryPolicy
from reconciler.domain.values import Provider
from reconciler.ports import (
    Clock,
    Engine,
    EventPublisher,
    HealthProbe,
    HistoryEntry,
    PermanentError,
    SecretResolver,
    Source,
    Store,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """How the loop behaves; every field has a safe default."""

    concurrency: int = 4
    """Deployments applied in parallel."""
    max_destroy: int = 3
    """A tick that would destroy more deployments than this refuses and reports."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    health_timeout: float = 30.0
    """Seconds a fresh deployment has to answer its health check."""
    drift_interval: timedelta = timedelta(minutes=10)
    """How often each deployment is checked for drift (with 10% jitter)."""
    resync: timedelta = timedelta(minutes=10)
    """How often a tick decides on every deployment even though Git has not moved: it picks up
    what changed outside the loop (a retry owed after a failed drift heal, a CLI command)."""


def _spread() -> float:
    return random.uniform(-1.0, 1.0)  # noqa: S311  # jitter, not cryptography


@dataclass(slots=True)
class Services:
    """The ports, as the use cases see them."""

    source: Source
    store: Store
    engines: Mapping[Provider, Engine]
    publisher: EventPublisher
    clock: Clock
    probe: HealthProbe
    secrets: SecretResolver
    workspace: Path
    """Scratch space: function sources are exported here before an apply."""
    settings: LoopSettings = field(default_factory=LoopSettings)
    spread: Callable[[], float] = _spread
    """A number in [-1, 1] for jitter; tests pass a fixed one."""
    unavailable: Mapping[Provider, str] = field(default_factory=dict)
    """Why a provider has no engine in this process, for a clear stall message."""
    reader: DesiredReader = field(init=False)

    def __post_init__(self) -> None:
        self.reader = DesiredReader(self.source, program_versions=self.program_version)

    def engine(self, provider: Provider) -> Engine:
        """The engine for `provider`; PermanentError naming why when there is none."""
        engine = self.engines.get(provider)
        if engine is None:
            why = self.unavailable.get(provider, "no engine is configured for it")
            raise PermanentError(f"provider {provider} is not available: {why}")
        return engine

    def program_version(self, provider: Provider) -> str:
        """The engine's program version, part of every fingerprint."""
        engine = self.engines.get(provider)
        return engine.program_version if engine else f"{provider}/unavailable"

    def commit(self, deployment: Deployment, *, history: HistoryEntry | None = None) -> None:
        """Save the record first, then keep and publish what happened (status on every path)."""
        events = deployment.pull_events()
        self.store.save(deployment)
        if history is not None:
            self.store.append_history(history)
        if events:
            self.store.append_events(events)
            self.publisher.publish(events)
