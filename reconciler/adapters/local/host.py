"""The local cloud host: one long-lived process serving every local deployment on loopback.

Started detached by `LocalCloud.ensure_running()` as `python -m reconciler.adapters.local.host`.
It keeps its registrations in `registry.json` (secrets encrypted), so it serves the same
deployments after a restart, and it serves them whether or not a reconciler daemon is running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import zlib
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from reconciler import __version__, logs
from reconciler.adapters.local.admin import RegistrationError, build_app
from reconciler.adapters.local.functions.workers import FunctionConfig, FunctionPool, InitError
from reconciler.adapters.local.gateway import serving
from reconciler.adapters.local.gateway.routing import RouteTable
from reconciler.adapters.local.paths import LocalPaths, write_json
from reconciler.adapters.local.registration import (
    Changes,
    HostHealth,
    LiveDeployment,
    Registration,
)
from reconciler.adapters.local.served import Served, Version
from reconciler.adapters.local.vault import Vault

log = structlog.get_logger(__name__)

LOOPBACK = "127.0.0.1"
PORT_RANGE = (20000, 12000)  # first port, how many: where deployments without a port live


class Host:
    """Every deployment this machine serves, and the admin API that changes them."""

    def __init__(
        self, paths: LocalPaths, *, max_workers: int = 4, idle_timeout: float = 300.0
    ) -> None:
        self.paths = paths
        self.max_workers = max_workers
        self.idle_timeout = idle_timeout
        self.vault = Vault(paths.key_file)
        self.started_at = datetime.now(UTC).isoformat()
        self._served: dict[str, Served] = {}
        self._by_port: dict[int, Served] = {}
        self._changes = asyncio.Lock()  # One registration change at a time.
        self._background: set[asyncio.Task[object]] = set()
        self._data = web.AppRunner(self._data_app(), handle_signals=False, access_log=None)
        self._admin: web.AppRunner | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, *, admin_port: int = 0) -> int:
        """Listen for admin calls, restore saved registrations; return the admin port."""
        await self._data.setup()
        admin = web.AppRunner(build_app(self, token=self.paths.token()), access_log=None)
        await admin.setup()
        sock = _bind(admin_port)
        await web.SockSite(admin, sock).start()
        self._admin = admin
        await self._restore()
        self._spawn(self._reap_forever())
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Close every connection, stop every worker, stop listening."""
        for task in self._background:
            task.cancel()
        for served in list(self._served.values()):
            await self._close(served)
        await self._data.cleanup()
        if self._admin is not None:
            await self._admin.cleanup()

    # --- queries --------------------------------------------------------------------------

    def health(self) -> HostHealth:
        """Pid, version, start time and how many deployments are served."""
        return HostHealth(
            pid=os.getpid(),
            version=__version__,
            started_at=self.started_at,
            deployments=len(self._served),
        )

    def live(self, name: str) -> LiveDeployment | None:
        """What is served for `name`, or None."""
        served = self._served.get(name)
        return served.live(self.vault.digests(served.secrets)) if served else None

    def list_live(self) -> list[LiveDeployment]:
        """Every served deployment, by name."""
        return [
            served.live(self.vault.digests(served.secrets))
            for _, served in sorted(self._served.items())
        ]

    # --- changes --------------------------------------------------------------------------

    async def register(self, registration: Registration) -> LiveDeployment:
        """Serve a new version; the previous one keeps serving unless this one is ready."""
        async with self._changes:
            served = await self._switch(registration, warm=True)
            self._save()
        log.info(
            "deployment_registered",
            deployment=registration.name,
            revision=registration.revision,
            version=registration.version,
            port=served.port,
        )
        return served.live(self.vault.digests(served.secrets))

    async def change(self, name: str, changes: Changes) -> LiveDeployment | None:
        """Apply an out-of-band edit (environment, routes, CORS) to the live version."""
        served = self._served.get(name)
        if served is None:
            return None
        current = served.active.registration
        function = current.function
        gateway = current.gateway
        if changes.environment is not None:
            function = function.model_copy(update={"environment": changes.environment})
        if changes.routes is not None:
            gateway = gateway.model_copy(update={"routes": changes.routes})
        if changes.cors is not None:
            gateway = gateway.model_copy(update={"cors": changes.cors})
        edited = current.model_copy(
            update={"function": function, "gateway": gateway, "secrets": served.secrets}
        )
        log.warning("deployment_changed_out_of_band", deployment=name)
        return await self.register(edited)

    async def unregister(self, name: str) -> bool:
        """Stop serving `name` and free its port."""
        async with self._changes:
            served = self._served.pop(name, None)
            if served is None:
                return False
            self._by_port.pop(served.port, None)
            await self._close(served)
            self._save()
        log.info("deployment_unregistered", deployment=name)
        return True

    # --- internals ------------------------------------------------------------------------

    def _data_app(self) -> web.Application:
        app = web.Application(client_max_size=serving.MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", serving.make_handler(self._by_port.get))
        return app

    async def _switch(self, registration: Registration, *, warm: bool) -> Served:
        current = self._served.get(registration.name)
        port = registration.port or (current.port if current else 0)
        version = self._version(registration)
        if warm:
            try:
                await version.pool.warm_up()
            except InitError as exc:
                await version.pool.close()
                raise RegistrationError(422, f"function cannot start: {exc}") from exc
        if current is not None and current.port == port:
            old = current.active
            current.active = version
            current.secrets = dict(registration.secrets)
            self._spawn(old.pool.drain())
            return current
        try:
            sock = _bind(port) if port else _bind_stable(registration.name)
        except OSError as exc:
            await version.pool.close()
            taken = f"port {port} is not free" if port else "no free port"
            raise RegistrationError(409, f"{taken}: {exc.strerror}") from exc
        site = web.SockSite(self._data, sock)
        await site.start()
        served = Served(
            name=registration.name,
            port=int(sock.getsockname()[1]),
            site=site,
            active=version,
            registered_at=datetime.now(UTC).isoformat(),
            secrets=dict(registration.secrets),
        )
        self._served[served.name] = served
        self._by_port[served.port] = served
        if current is not None:
            # The port changed: the new site serves already; retire the old one.
            self._by_port.pop(current.port, None)
            await self._close(current)
        return served

    def _version(self, registration: Registration) -> Version:
        function = registration.function
        config = FunctionConfig(
            deployment=registration.name,
            version=registration.version,
            runtime=function.runtime,
            handler=function.handler,
            code_dir=Path(function.code_dir),
            environment={**function.environment, **registration.secrets},
            memory_mb=function.memory_mb,
            timeout_seconds=float(function.timeout_seconds),
        )
        cors = registration.gateway.cors
        return Version(
            registration=registration,
            pool=FunctionPool(config, max_workers=self.max_workers, idle_timeout=self.idle_timeout),
            routes=RouteTable(
                registration.gateway.routes if registration.kind == "RestApi" else ["$default"]
            ),
            cors=cors.value() if cors else None,
        )

    async def _close(self, served: Served) -> None:
        for connection in list(served.connections.values()):
            await connection.socket.close(code=1001, message=b"Going away")
        await served.site.stop()
        await served.active.pool.close()

    def _save(self) -> None:
        document: dict[str, Any] = {"deployments": {}}
        for name, served in sorted(self._served.items()):
            registration = served.active.registration
            document["deployments"][name] = {
                "registration": registration.model_dump(mode="json", exclude={"secrets"}),
                "port": served.port,
                "sealedSecrets": self.vault.seal(served.secrets) if served.secrets else None,
            }
        write_json(self.paths.registry, document)

    async def _restore(self) -> None:
        try:
            document = json.loads(self.paths.registry.read_text())
        except FileNotFoundError:
            return
        for name, saved in document.get("deployments", {}).items():
            sealed = saved.get("sealedSecrets")
            registration = Registration.model_validate(
                {
                    **saved["registration"],
                    "port": saved["port"],
                    "secrets": self.vault.open(sealed) if sealed else {},
                }
            )
            try:
                # Lazily: a restart with a thousand deployments must not start a thousand workers.
                await self._switch(registration, warm=False)
            except RegistrationError as exc:
                log.warning("deployment_not_restored", deployment=name, error=exc.message)
        log.info("host_restored", deployments=len(self._served))

    async def _reap_forever(self) -> None:
        interval = max(0.5, min(self.idle_timeout / 2, 30.0))
        while True:
            await asyncio.sleep(interval)
            for served in list(self._served.values()):
                await served.active.pool.reap_idle()

    def _spawn(self, coroutine: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _bind_stable(name: str) -> socket.socket:
    """Bind the first free port of the local range, starting where `name` hashes to.

    The range sits below Linux's ephemeral ports (32768 and up), so the port a deployment got
    is still free after a restart instead of taken by some outgoing connection meanwhile.
    """
    first, size = PORT_RANGE
    start = zlib.crc32(name.encode()) % size
    for offset in range(size):
        try:
            return _bind(first + (start + offset) % size)
        except OSError:
            continue
    raise OSError(errno.EADDRINUSE, f"no free port in {first}-{first + size - 1}")


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Rebind a port whose old connections linger in TIME_WAIT after a restart.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)  # noqa: FBT003  # the socket API's own positional flag
    return sock


# --- the process ------------------------------------------------------------------------------


async def _serve(paths: LocalPaths, *, admin_port: int, max_workers: int, idle: float) -> None:
    host = Host(paths, max_workers=max_workers, idle_timeout=idle)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = await host.start(admin_port=admin_port)
    info = {
        "pid": os.getpid(),
        "adminPort": port,
        "startedAt": host.started_at,
        "version": __version__,
    }
    write_json(paths.host_info, info)
    paths.pid_file.write_text(f"{os.getpid()}\n")
    log.info("host_started", pid=os.getpid(), admin_port=port)
    try:
        await stop.wait()
    finally:
        log.info("host_stopping")
        await host.stop()
        for path in (paths.host_info, paths.pid_file):
            path.unlink(missing_ok=True)
        log.info("host_stopped")


def main(argv: list[str] | None = None) -> int:
    """Run the host in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="reconciler-local-host")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--idle-timeout", type=float, default=300.0)
    parser.add_argument("--detach", action="store_true", help="start in the background")
    args = parser.parse_args(argv)
    paths = LocalPaths.under(Path(args.state_dir))
    if args.detach:
        return _detach(paths, [arg for arg in (argv or sys.argv[1:]) if arg != "--detach"])
    logs.configure(json=True, stream=sys.stdout)
    with open(paths.host_lock, "a") as lock:  # noqa: PTH123  # flock needs the raw file object
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            locked = True
        else:
            locked = False
        if locked:
            log.error("host_already_running", state_dir=str(paths.root))
            return 3
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                _serve(
                    paths,
                    admin_port=args.admin_port,
                    max_workers=args.max_workers,
                    idle=args.idle_timeout,
                )
            )
    return 0


def _detach(paths: LocalPaths, arguments: list[str]) -> int:
    """Start the host in its own session, print its pid and return without waiting for it."""
    with paths.log_file.open("ab") as log_file:
        process = subprocess.Popen(  # noqa: S603  # our own module, by absolute interpreter
            [sys.executable, "-m", "reconciler.adapters.local.host", *arguments],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    print(process.pid)  # noqa: T201  # the launcher's one line of output, read by LocalCloud
    return 0


if __name__ == "__main__":
    sys.exit(main())
