"""What the daemon takes from its own process: the time, and secret values from its environment."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from datetime import UTC, datetime


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """The current time."""
        return datetime.now(UTC)


class EnvironmentSecrets:
    """`secretRef: NAME` resolves to the environment variable NAME of the daemon."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def resolve(self, names: Collection[str]) -> dict[str, str]:
        """The values of the variables that are set."""
        return {name: self._environ[name] for name in names if name in self._environ}
