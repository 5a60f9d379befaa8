"""Settings of the daemon and the CLI, grouped by topic, each with a default and a reason.

Built by `cli` from command-line options and environment variables; read by `bootstrap`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from reconciler.application.services import LoopSettings

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> timedelta:
    """`90`, `90s`, `10m`, `1h30m` as a duration; ValueError for anything else."""
    if text.isdigit():
        return timedelta(seconds=int(text))
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 10m, 1h30m)")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def default_state_dir() -> Path:
    """`RECONCILER_STATE_DIR`, else `reconciler` under the user's state home (XDG)."""
    explicit = os.environ.get("RECONCILER_STATE_DIR")
    if explicit:
        return Path(explicit)
    home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(home) / "reconciler"


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """Where the manifests come from."""

    repo: str = "."
    """A local path or a remote URL (https, ssh, file)."""
    branch: str | None = None
    """The branch to follow; default: the remote's default branch, or the checked-out one."""
    path: str = "manifests/"
    """The folder of manifests inside the repository."""
    token_env: str = "RECONCILER_GIT_TOKEN"  # noqa: S105  # the name of a variable, not a secret
    """The environment variable holding an https token, if the remote needs one."""
    ssh_key: Path | None = None
    """A private key file for ssh remotes."""


@dataclass(frozen=True, slots=True)
class PulumiSettings:
    """How the Pulumi engines keep state and secrets (providers aws and azure)."""

    backend_url: str | None = field(
        default_factory=lambda: os.environ.get("RECONCILER_PULUMI_BACKEND")
    )
    """`file://`, `s3://`, `azblob://` or Pulumi Cloud; default `file://` under the state dir."""
    secrets_provider: str | None = field(
        default_factory=lambda: os.environ.get("RECONCILER_PULUMI_SECRETS_PROVIDER")
    )
    """`awskms://...` or `azurekeyvault://...`; default: a passphrase."""
    passphrase_env: str = "PULUMI_CONFIG_PASSPHRASE"  # noqa: S105  # a variable name, not a secret
    """The environment variable holding that passphrase."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything one reconciler process needs."""

    source: SourceSettings = field(default_factory=SourceSettings)
    state_dir: Path = field(default_factory=default_state_dir)
    """The store, the Git cache, the local cloud and scratch space live here."""
    interval: timedelta = timedelta(seconds=60)
    """How often Git is checked for new commits."""
    loop: LoopSettings = field(default_factory=LoopSettings)
    pulumi: PulumiSettings = field(default_factory=PulumiSettings)
