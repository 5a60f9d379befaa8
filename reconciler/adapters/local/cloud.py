"""The local cloud seen from outside: start the host on demand, find it, stop it, talk to it.

Used by `LocalEngine` and by `reconciler local ...`. The host runs in its own process session
with its output in `host.log`, so it outlives whoever started it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Self

import httpx

from reconciler.adapters.local.paths import LocalPaths
from reconciler.adapters.local.registration import (
    Changes,
    HostHealth,
    LiveDeployment,
    Registration,
)
from reconciler.ports import PermanentError, TransientError

START_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class HostInfo:
    """Where the running host listens."""

    pid: int
    admin_port: int
    started_at: str
    version: str


class LocalCloud:
    """A handle on the host process of one state dir."""

    def __init__(
        self, state_dir: Path, *, idle_timeout: float = 300.0, max_workers: int = 4
    ) -> None:
        self.paths = LocalPaths.under(state_dir)
        self.idle_timeout = idle_timeout
        self.max_workers = max_workers

    def info(self) -> HostInfo | None:
        """The running host, or None when none runs (a stale info file counts as none)."""
        try:
            document = json.loads(self.paths.host_info.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        info = HostInfo(
            pid=int(document["pid"]),
            admin_port=int(document["adminPort"]),
            started_at=str(document["startedAt"]),
            version=str(document["version"]),
        )
        return info if _alive(info.pid) else None

    def ensure_running(self) -> HostInfo:
        """The running host, started first if needed."""
        info = self.info()
        if info is not None:
            return info
        with open(self.paths.start_lock, "a") as lock:  # noqa: PTH123  # flock needs the raw file
            fcntl.flock(lock, fcntl.LOCK_EX)
            info = self.info()  # Another engine may have started it while we waited.
            if info is None:
                info = self._start()
        return info

    def stop(self, *, timeout: float = 15.0) -> bool:
        """Stop the host cleanly (SIGTERM, then SIGKILL after `timeout`); False if none ran."""
        info = self.info()
        if info is None:
            return False
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(info.pid):
            if time.monotonic() > deadline:
                os.kill(info.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        return True

    def client(self) -> AdminClient | None:
        """An admin client for the running host, or None when none runs."""
        info = self.info()
        return AdminClient(info, token=self.paths.token()) if info else None

    def started_client(self) -> AdminClient:
        """An admin client for the host, started first if needed."""
        return AdminClient(self.ensure_running(), token=self.paths.token())

    def _start(self) -> HostInfo:
        # The host's own --detach step spawns it in a new session and exits at once, so the
        # host is nobody's child here: no zombie, no wait owed, whoever started it may exit.
        command = [
            sys.executable,
            "-m",
            "reconciler.adapters.local.host",
            "--detach",
            f"--state-dir={self.paths.root.parent}",
            f"--idle-timeout={self.idle_timeout}",
            f"--max-workers={self.max_workers}",
        ]
        launched = subprocess.run(  # noqa: S603  # our own module, by absolute interpreter
            command, capture_output=True, text=True, check=False, timeout=START_TIMEOUT
        )
        if launched.returncode != 0:
            raise PermanentError(f"the local cloud host did not start: {launched.stderr.strip()}")
        pid = int(launched.stdout.strip())
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            info = self.info()
            if info is not None and info.pid == pid:
                return info
            if not _alive(pid):
                break
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        raise PermanentError(f"the local cloud host did not start; see {self.paths.log_file}")


class AdminClient:
    """The admin API, with its failures turned into the ports' two errors."""

    def __init__(self, info: HostInfo, *, token: str) -> None:
        self._http = httpx.Client(
            base_url=f"http://127.0.0.1:{info.admin_port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(60.0, connect=5.0),
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def health(self) -> HostHealth:
        """What the host says about itself."""
        return HostHealth.model_validate_json(self._call("GET", "/v1/health").content)

    def list(self) -> list[LiveDeployment]:
        """Every served deployment."""
        response = self._call("GET", "/v1/deployments")
        return [LiveDeployment.model_validate(item) for item in response.json()]

    def get(self, name: str) -> LiveDeployment | None:
        """One served deployment, or None."""
        return _live_or_none(self._call("GET", f"/v1/deployments/{name}", missing_ok=True))

    def put(self, registration: Registration) -> LiveDeployment:
        """Register a version; the host switches to it only once it is ready."""
        response = self._call(
            "PUT",
            f"/v1/deployments/{registration.name}",
            content=registration.model_dump_json(),
        )
        return LiveDeployment.model_validate_json(response.content)

    def patch(self, name: str, changes: Changes) -> LiveDeployment | None:
        """Edit a live deployment out of band."""
        response = self._call(
            "PATCH",
            f"/v1/deployments/{name}",
            content=changes.model_dump_json(exclude_none=True),
            missing_ok=True,
        )
        return _live_or_none(response)

    def delete(self, name: str) -> bool:
        """Stop serving `name`; False when it was not served."""
        response = self._call("DELETE", f"/v1/deployments/{name}", missing_ok=True)
        return response.status_code == HTTPStatus.NO_CONTENT

    def _call(
        self, method: str, path: str, *, missing_ok: bool = False, content: str | None = None
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, content=content)
        except httpx.TransportError as exc:
            raise TransientError(f"local cloud host unreachable: {exc}", retry_after=5) from exc
        if response.is_success or (missing_ok and response.status_code == HTTPStatus.NOT_FOUND):
            return response
        message = _error_text(response)
        if response.is_server_error:
            raise TransientError(f"local cloud host failed: {message}", retry_after=10)
        raise PermanentError(f"local cloud refused {method} {path}: {message}")


def _live_or_none(response: httpx.Response) -> LiveDeployment | None:
    if response.status_code == HTTPStatus.NOT_FOUND:
        return None
    return LiveDeployment.model_validate_json(response.content)


def _error_text(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError):
        return str(response.json().get("error", response.text))
    return response.text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (we started it and never waited) counts as dead.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:  # noqa: PTH123
        return stat.read().split(")")[-1].split()[0] != "Z"
    return True
