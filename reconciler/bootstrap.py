"""The one place that wires adapters to ports, by hand: `build(settings)` returns the app.

Used by the CLI commands that need more than the store (run, drift, plan, rollback).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Self

from reconciler.adapters.environment import EnvironmentSecrets, SystemClock
from reconciler.adapters.events.log import LogPublisher
from reconciler.adapters.git.source import GitSource
from reconciler.adapters.local.engine import LocalEngine
from reconciler.adapters.local.paths import read_or_create_secret
from reconciler.adapters.probe import HttpProbe
from reconciler.adapters.pulumi.aws import AwsPrograms
from reconciler.adapters.pulumi.azure import AzurePrograms
from reconciler.adapters.pulumi.engine import PulumiEngine
from reconciler.adapters.store.sqlite import SqliteStore
from reconciler.application.drift import DriftChecker
from reconciler.application.reconcile import Reconciler
from reconciler.application.services import Services
from reconciler.config import Settings
from reconciler.domain.values import Provider


@dataclass(slots=True)
class App:
    """A wired reconciler: the loop, the drift checker and what they hold open."""

    services: Services
    reconciler: Reconciler
    drift: DriftChecker
    source: GitSource
    store: SqliteStore

    def close(self) -> None:
        """Release the Git processes and the database."""
        self.source.close()
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def build(settings: Settings) -> App:
    """Wire the adapters for `settings`; nothing runs until the caller ticks."""
    state = settings.state_dir
    source = GitSource(
        settings.source.repo,
        branch=settings.source.branch,
        path=settings.source.path,
        cache_dir=state / "git",
        token_env=settings.source.token_env,
        ssh_key=settings.source.ssh_key,
    )
    store = SqliteStore(state)
    # Engines are cheap to build: the Pulumi CLI is looked for at the first operation, and a
    # missing one stalls only the deployments that need it, with the install command.
    pulumi = settings.pulumi
    # One key per state dir: Azure derives each WebSocket deployment's Web PubSub token from it.
    keys = state / "pulumi"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    webhook_key = read_or_create_secret(keys / "webpubsub.key", lambda: secrets.token_hex(32))
    clouds = {
        builder.provider: PulumiEngine(
            builder,
            state_dir=state,
            backend_url=pulumi.backend_url,
            secrets_provider=pulumi.secrets_provider,
            passphrase_env=pulumi.passphrase_env,
        )
        for builder in (AwsPrograms(), AzurePrograms(webhook_key=webhook_key.encode()))
    }
    services = Services(
        source=source,
        store=store,
        engines={Provider.LOCAL: LocalEngine(state), **clouds},
        publisher=LogPublisher(),
        clock=SystemClock(),
        probe=HttpProbe(),
        secrets=EnvironmentSecrets(),
        workspace=state / "work",
        settings=settings.loop,
    )
    reconciler = Reconciler(services)
    return App(
        services=services,
        reconciler=reconciler,
        drift=DriftChecker(reconciler),
        source=source,
        store=store,
    )
