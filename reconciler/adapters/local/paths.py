"""Where the local cloud keeps its files under the state dir, and how they are written safely."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LocalPaths:
    """The local cloud's files: one folder, owned by the user who runs reconciler."""

    root: Path

    @classmethod
    def under(cls, state_dir: Path) -> LocalPaths:
        """The layout below `state_dir/local`, created owner-only if missing."""
        root = state_dir.resolve() / "local"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(root)

    @property
    def host_info(self) -> Path:
        """Pid and admin port of the running host, written once it listens."""
        return self.root / "host.json"

    @property
    def pid_file(self) -> Path:
        """The host's pid, for tools that expect a pid file."""
        return self.root / "host.pid"

    @property
    def host_lock(self) -> Path:
        """Held by the running host for its whole life: one host per state dir."""
        return self.root / "host.lock"

    @property
    def start_lock(self) -> Path:
        """Held while an engine starts the host, so two engines never start two hosts."""
        return self.root / "start.lock"

    @property
    def log_file(self) -> Path:
        """The host's structured log (JSON lines), function output included."""
        return self.root / "host.log"

    @property
    def token_file(self) -> Path:
        """The admin API's bearer token, readable by the owner only."""
        return self.root / "admin.token"

    @property
    def key_file(self) -> Path:
        """The key that encrypts stored secrets and keys their digests; owner only."""
        return self.root / "host.key"

    @property
    def registry(self) -> Path:
        """Every registration, so a restarted host serves what it served before."""
        return self.root / "registry.json"

    def deployment_dir(self, name: str) -> Path:
        """The engine's folder for one deployment: its versions and its applied record."""
        return self.root / "deployments" / name

    def token(self) -> str:
        """The admin token, created on first use."""
        return read_or_create_secret(self.token_file, lambda: secrets.token_urlsafe(32)).strip()


def write_private(path: Path, data: bytes) -> None:
    """Write `data` so that only the owner can read it, replacing `path` atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def write_json(path: Path, document: object) -> None:
    """Write `document` as JSON, owner-only and atomically."""
    write_private(path, json.dumps(document, indent=2, sort_keys=True).encode())


def read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """The content of an owner-only file, created by `make()` when it does not exist yet."""
    try:
        return path.read_text()
    except FileNotFoundError:
        pass
    value = make()
    try:
        # O_EXCL: when two processes race, one creates the file and both read the winner's value.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
