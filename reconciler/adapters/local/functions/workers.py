"""The worker pool of one function version: Lambda's scaling model on this machine.

Used by the local cloud's host: `invoke` runs a request on a warm worker, or cold-starts one
while fewer than `max_workers` exist, or waits for one to be free. One request per worker at a
time; idle workers are reaped; a timed-out or crashed worker is killed and replaced on demand.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import structlog

from reconciler.adapters.local.functions.worker_process import (
    FunctionConfig,
    FunctionTimeout,
    InitError,
    InvocationResult,
    WorkerCrashed,
    WorkerProcess,
)

__all__ = [
    "FunctionConfig",
    "FunctionPool",
    "FunctionTimeout",
    "InitError",
    "InvocationResult",
    "PoolClosed",
    "PoolStats",
    "WorkerCrashed",
]

# Lambda gives a function's init phase 10 s; a longer timeout gives it as long as a request.
INIT_TIMEOUT_SECONDS = 10.0


class PoolClosed(Exception):  # noqa: N818  # named like its siblings in the host's interface
    """The pool was drained or closed: it takes no new invocations."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of one pool."""

    workers: int  # live worker processes, loading, idle or busy
    busy: int  # workers loading or running a request
    cold_starts: int  # workers started and loaded since the pool was created
    invocations: int  # requests handed to a worker since the pool was created


class FunctionPool:
    """Runs one function version's requests on up to `max_workers` worker processes."""

    def __init__(
        self,
        config: FunctionConfig,
        *,
        max_workers: int = 4,
        idle_timeout: float = 300.0,
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self._config = config
        self._max_workers = max_workers
        self._idle_timeout = idle_timeout
        self._log: structlog.typing.FilteringBoundLogger = log or structlog.get_logger(__name__)
        self._fields = {"deployment": config.deployment, "version": config.version}
        self._workers: set[WorkerProcess] = set()
        self._idle: list[WorkerProcess] = []  # the most recently used last, so it is reused first
        self._busy: set[WorkerProcess] = set()
        self._watchers: dict[WorkerProcess, asyncio.Task[None]] = {}
        self._starting = 0  # cold starts under way whose process does not exist yet
        self._pending = 0  # invoke() and warm_up() calls not finished
        self._accepting = True
        self._closed = False
        self._changed = asyncio.Event()
        self._cold_starts = 0
        self._invocations = 0

    @property
    def stats(self) -> PoolStats:
        """How many workers exist and are busy, and the counters since creation."""
        return PoolStats(
            workers=len(self._workers),
            busy=len(self._busy),
            cold_starts=self._cold_starts,
            invocations=self._invocations,
        )

    async def warm_up(self) -> None:
        """Make sure a worker is loaded, starting one if none is; raise InitError if it cannot."""
        self._admit()
        try:
            if not self._workers:
                self._release(await self._acquire())
        finally:
            self._finish()

    async def invoke(self, event: dict[str, object], *, request_id: str) -> InvocationResult:
        """Run one request; raise FunctionTimeout, WorkerCrashed, InitError or PoolClosed."""
        event_json = json.dumps(event)  # a bad event is the caller's error: fail before any work
        self._admit()
        try:
            worker = await self._acquire()
            return await self._run(worker, event_json, request_id=request_id)
        finally:
            self._finish()

    async def reap_idle(self, *, now: float | None = None) -> int:
        """Stop the workers idle for longer than `idle_timeout`; return how many."""
        now = time.monotonic() if now is None else now
        stale = [w for w in self._idle if now - w.idle_since > self._idle_timeout]
        for worker in stale:
            self._stop(worker, "idle")
        await self._wait_stopped(stale)
        return len(stale)

    async def drain(self) -> None:
        """Refuse new invocations, let the accepted ones finish, then stop every worker."""
        self._accepting = False
        while self._pending:
            await self._changed.wait()
        await self._stop_all("drained")

    async def close(self) -> None:
        """Kill every worker now; requests in flight or waiting fail with PoolClosed."""
        self._accepting = False
        self._closed = True
        self._notify()
        await self._stop_all("closed")

    # --- internals ------------------------------------------------------------------------

    def _admit(self) -> None:
        if not self._accepting:
            raise PoolClosed(f"the pool of {self._config.deployment} takes no new invocations")
        self._pending += 1

    def _finish(self) -> None:
        self._pending -= 1
        self._notify()

    def _notify(self) -> None:
        # Wake every waiter to look again at the pool; clearing at once does not un-wake them.
        self._changed.set()
        self._changed.clear()

    async def _acquire(self) -> WorkerProcess:
        while True:
            if self._closed:
                raise PoolClosed(f"the pool of {self._config.deployment} is closed")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    self._busy.add(worker)
                    return worker
                # It died while idle and its watcher has not caught up yet.
                self._stop(worker, "exited")
            if len(self._workers) + self._starting < self._max_workers:
                return await self._cold_start()
            await self._changed.wait()

    async def _cold_start(self) -> WorkerProcess:
        self._starting += 1
        try:
            worker = await WorkerProcess.spawn(self._config, log=self._log)
        except InitError as exc:
            self._log.warning("function_init_failed", **self._fields, error=str(exc))
            raise
        finally:
            self._starting -= 1
            self._notify()
        self._workers.add(worker)
        self._busy.add(worker)
        self._watchers[worker] = asyncio.create_task(self._watch(worker))
        started = time.monotonic()
        loaded = False
        try:
            await self._load(worker)
            loaded = True
        except InitError as exc:
            if not self._closed:
                self._log.warning("function_init_failed", **self._fields, error=str(exc))
                raise
        finally:
            if not loaded:
                self._stop(worker, "init_failed")
        if self._closed:
            raise PoolClosed(f"the pool of {self._config.deployment} closed during a cold start")
        self._cold_starts += 1
        init_ms = round((time.monotonic() - started) * 1000)
        self._log.info("worker_started", **self._fields, pid=worker.pid, init_ms=init_ms)
        return worker

    async def _load(self, worker: WorkerProcess) -> None:
        if self._closed:
            raise InitError("the pool closed before the handler was loaded")
        limit = max(INIT_TIMEOUT_SECONDS, self._config.timeout_seconds)
        try:
            async with asyncio.timeout(limit):
                await worker.initialise()
        except TimeoutError:
            handler = self._config.handler
            raise InitError(f"handler {handler!r} did not load within {limit:g} s") from None

    async def _run(
        self, worker: WorkerProcess, event_json: str, *, request_id: str
    ) -> InvocationResult:
        self._invocations += 1
        timeout = self._config.timeout_seconds
        deadline_ms = int((time.time() + timeout) * 1000)
        done = False
        try:
            async with asyncio.timeout(timeout):
                result = await worker.invoke(
                    event_json, request_id=request_id, deadline_ms=deadline_ms
                )
            await worker.settle()
            done = True
        except TimeoutError:
            self._stop(worker, "timeout")
            self._log.warning(
                "function_timeout", **self._fields, request_id=request_id, pid=worker.pid
            )
            name = self._config.deployment
            raise FunctionTimeout(
                f"request {request_id} to {name} passed its {timeout:g} s timeout"
            ) from None
        except WorkerCrashed as exc:
            self._stop(worker, "crashed")
            if self._closed:
                raise PoolClosed(f"the pool of {self._config.deployment} was closed") from exc
            self._log.warning(
                "worker_crashed", **self._fields, request_id=request_id, error=str(exc)
            )
            raise
        finally:
            if done:
                self._release(worker)
            else:
                # Cancelled mid-request, the worker's state is unknown: it cannot serve again.
                self._stop(worker, "abandoned")
        return result

    def _release(self, worker: WorkerProcess) -> None:
        self._busy.discard(worker)
        if worker in self._workers:
            worker.idle_since = time.monotonic()
            self._idle.append(worker)
        self._notify()

    def _stop(self, worker: WorkerProcess, reason: str) -> None:
        # Forget it at once, so its slot is free; its watcher reports when it is gone.
        self._forget(worker)
        worker.kill(reason)

    def _forget(self, worker: WorkerProcess) -> None:
        self._workers.discard(worker)
        self._busy.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        self._notify()

    async def _watch(self, worker: WorkerProcess) -> None:
        try:
            code = await worker.wait_closed()
        finally:
            # A worker may also die while idle (a Node.js rejection after its reply, say).
            self._forget(worker)
            self._watchers.pop(worker, None)
        reason = worker.stop_reason or "exited"
        level = self._log.info if reason in {"idle", "drained", "closed"} else self._log.warning
        level("worker_stopped", **self._fields, pid=worker.pid, reason=reason, returncode=code)

    async def _wait_stopped(self, workers: list[WorkerProcess]) -> None:
        watchers = [self._watchers[w] for w in workers if w in self._watchers]
        if watchers:
            await asyncio.wait(watchers)

    async def _stop_all(self, reason: str) -> None:
        # Loop: a cold start that was spawning when we began shows up a moment later.
        while self._workers or self._watchers or self._starting:
            for worker in list(self._workers):
                self._stop(worker, reason)
            if self._watchers:
                await asyncio.wait(list(self._watchers.values()))
            elif self._starting:
                await self._changed.wait()
