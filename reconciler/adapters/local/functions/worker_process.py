"""One worker process running one function: start it, speak its pipe protocol, stop it.

Used by `workers.FunctionPool`, which decides when to start, reuse and stop workers. The values
and errors the pool's callers see are defined here and re-exported by `workers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from reconciler.adapters.local import version_folder
from reconciler.adapters.local.functions.worker_output import STREAMS, OutputProtocol, OutputSink

RUNTIMES = Path(__file__).parent / "runtimes"
PYTHON_WORKER = RUNTIMES / "python_worker.py"
NODE_WORKER = RUNTIMES / "node_worker.mjs"

# A reply line larger than this breaks the protocol (Lambda itself caps responses at 6 MB).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
# How long a stopped worker's output pipes may stay open, held by a process that left its group.
CLOSE_GRACE_SECONDS = 2.0
HOST_VARIABLES = ("PATH", "HOME", "LANG")
PYTHON_PACKAGES_VARIABLE = "RECONCILER_PYTHON_PACKAGES"
"""Where a Python worker finds the function's dependencies (after the code, on `sys.path`)."""


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """What the pool needs to run one version of one deployment's function."""

    deployment: str
    version: str
    runtime: str
    handler: str
    code_dir: Path
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    memory_mb: int = 128
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """The handler's JSON return value, or the error it raised (Lambda's error shape)."""

    payload: object
    error: dict[str, object] | None = None


class InitError(Exception):
    """The handler could not be loaded; the message says why, on one line."""


class FunctionTimeout(Exception):  # noqa: N818  # named by the host's interface
    """A request passed the function's timeout; its worker was killed and removed."""


class WorkerCrashed(Exception):  # noqa: N818  # named by the host's interface
    """A worker died or broke the protocol during a request; it was removed."""


def worker_environment(config: FunctionConfig, host: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a worker: never the host's own, which holds the daemon's secrets."""
    env = {name: host[name] for name in HOST_VARIABLES if name in host}
    env.update(config.environment)
    # Set last, as Lambda reserves these: a manifest cannot override them.
    env.update(
        TZ="UTC",
        AWS_LAMBDA_FUNCTION_NAME=config.deployment,
        AWS_LAMBDA_FUNCTION_VERSION=config.version,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(config.memory_mb),
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        LAMBDA_TASK_ROOT=str(config.code_dir),
        _HANDLER=config.handler,
    )
    packages = version_folder.python_packages(config.code_dir)
    if packages is not None:
        env[PYTHON_PACKAGES_VARIABLE] = str(packages)
    return env


def worker_command(config: FunctionConfig, *, path: str) -> list[str]:
    """The command line that starts a worker for the config's runtime, found on `path`."""
    if config.runtime.startswith("python"):
        # -I keeps the host's site-packages and PYTHON* variables out; -u flushes every print.
        return [sys.executable, "-I", "-u", str(PYTHON_WORKER)]
    if config.runtime.startswith("nodejs"):
        node = shutil.which("node", path=path)
        if node is None:
            raise InitError(f"runtime {config.runtime} needs Node.js, and `node` is not on PATH")
        return [node, str(NODE_WORKER)]
    raise InitError(f"runtime {config.runtime!r} is not supported by the local cloud")


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class _Pipes:
    """The host's ends of a worker's four pipes: commands in, replies out, stdout, stderr."""

    commands: asyncio.WriteTransport
    replies: asyncio.StreamReader
    readers: tuple[asyncio.ReadTransport, ...]
    outputs: tuple[OutputProtocol, ...]
    sink: OutputSink

    @classmethod
    async def open(cls, sink: OutputSink) -> tuple[_Pipes, tuple[int, int, int, int]]:
        """Create the pipes; return the host's ends and the child's fds, for the caller to close."""
        loop = asyncio.get_running_loop()
        commands_r, commands_w = os.pipe()
        replies_r, replies_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        commands, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(commands_w, "wb", 0)
        )
        replies = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES, loop=loop)
        reply_reader, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(replies, loop=loop), os.fdopen(replies_r, "rb", 0)
        )
        readers, outputs = [reply_reader], []
        for stream, fd in zip(STREAMS, (stdout_r, stderr_r), strict=True):
            reader, output = await loop.connect_read_pipe(
                functools.partial(OutputProtocol, sink, stream), os.fdopen(fd, "rb", 0)
            )
            readers.append(reader)
            outputs.append(output)
        pipes = cls(commands, replies, tuple(readers), tuple(outputs), sink)
        return pipes, (commands_r, replies_w, stdout_w, stderr_w)

    async def close(self) -> None:
        """Close the host's ends once the output is read, or after a grace period."""
        if not self.commands.is_closing():  # it closes itself when the worker's end does
            self.commands.abort()  # nothing left to say to a worker that is gone
        # A process that left the worker's group may hold the output open: do not wait forever.
        finished = [output.finished for output in self.outputs]
        await asyncio.wait(finished, timeout=CLOSE_GRACE_SECONDS)
        for reader in self.readers:
            reader.close()
        await asyncio.sleep(0)  # closed transports release their pipes on the next loop pass


class WorkerProcess:
    """A started worker: one process group, its protocol pipes and its output streams."""

    def __init__(
        self,
        *,
        config: FunctionConfig,
        process: asyncio.subprocess.Process,
        pipes: _Pipes,
    ) -> None:
        self.pid = process.pid
        self.idle_since = time.monotonic()
        self.stop_reason: str | None = None
        self._config = config
        self._pipes = pipes
        self._exited = asyncio.create_task(process.wait())

    @classmethod
    async def spawn(
        cls, config: FunctionConfig, *, log: structlog.typing.FilteringBoundLogger
    ) -> WorkerProcess:
        """Start a worker process for `config` (its handler is not loaded yet)."""
        env = worker_environment(config, os.environ)
        command = worker_command(config, path=env.get("PATH", os.defpath))
        if not config.code_dir.is_dir():
            raise InitError(f"code folder {config.code_dir} does not exist")
        sink = OutputSink(deployment=config.deployment, version=config.version, log=log)
        pipes, child_fds = await _Pipes.open(sink)
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                # pass_fds keeps fd numbers, so the worker is told which ones it got.
                str(child_fds[0]),
                str(child_fds[1]),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=child_fds[2],
                stderr=child_fds[3],
                pass_fds=child_fds[:2],
                cwd=config.code_dir,
                env=env,
                start_new_session=True,  # its own process group, so a kill takes its children too
            )
        except OSError as exc:
            await pipes.close()
            raise InitError(f"cannot start a {config.runtime} worker: {exc}") from exc
        finally:
            for fd in child_fds:
                os.close(fd)
        return cls(config=config, process=process, pipes=pipes)

    @property
    def alive(self) -> bool:
        """Whether the process still runs, as far as the host has seen."""
        return not self._exited.done() and not self._pipes.replies.at_eof()

    @property
    def request_id(self) -> str | None:
        """The request this worker is handling, if any."""
        return self._pipes.sink.request_id

    async def initialise(self) -> None:
        """Load the handler; raise InitError if it cannot be loaded."""
        handler = self._config.handler
        self._send(b'{"type":"init"}')
        try:
            message = await self._receive()
        except WorkerCrashed as exc:
            raise InitError(f"worker exited while loading handler {handler!r}: {exc}") from exc
        if message.get("type") == "ready":
            return
        error = message.get("error")
        if message.get("type") == "init_error" and isinstance(error, dict):
            reason = f"{error.get('errorMessage')} ({error.get('errorType')})"
            raise InitError(_one_line(f"cannot load handler {handler!r}: {reason}"))
        raise InitError(f"worker answered init with {message.get('type')!r}")

    async def invoke(
        self, event_json: str, *, request_id: str, deadline_ms: int
    ) -> InvocationResult:
        """Run one request; raise WorkerCrashed if the worker dies or breaks the protocol."""
        self._pipes.sink.begin(request_id)
        head = json.dumps({"type": "invoke", "requestId": request_id, "deadlineMs": deadline_ms})
        self._send(f'{head[:-1]},"event":{event_json}}}'.encode())
        message = await self._receive()
        kind, error = message.get("type"), message.get("error")
        if message.get("requestId") != request_id:
            raise self._crashed(f"it answered {message.get('requestId')!r} to {request_id!r}")
        if kind == "result":
            return InvocationResult(payload=message.get("payload"))
        if kind == "error" and isinstance(error, dict):
            return InvocationResult(payload=None, error=error)
        raise self._crashed(f"it answered a request with {kind!r}")

    async def settle(self) -> None:
        """Wait for the finished request's last output lines, then detach it from the worker."""
        await self._pipes.sink.settle()

    def kill(self, reason: str) -> None:
        """Kill the whole process group now; the first reason given is kept."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if not self._exited.done():
            self._kill_group()

    async def wait_closed(self) -> int:
        """Wait for the process to exit, then release its pipes; return its exit code."""
        code = await asyncio.shield(self._exited)
        # Children the function left behind die with it, as they would with a Lambda sandbox.
        self._kill_group()
        await self._pipes.close()
        return code

    def _kill_group(self) -> None:
        # The group may be gone already: every process in it exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _send(self, line: bytes) -> None:
        # Writes to a worker that died are dropped by the transport; _receive notices the death.
        self._pipes.commands.write(line + b"\n")

    async def _receive(self) -> dict[str, object]:
        read = asyncio.ensure_future(self._pipes.replies.readline())
        try:
            # A process the worker started may hold the reply pipe open: watch the exit too.
            await asyncio.wait({read, self._exited}, return_when=asyncio.FIRST_COMPLETED)
            if not read.done():
                # A reply written just before exiting may still be in the pipe: once the
                # stragglers are gone too, the pipe ends promptly with it or without.
                self._kill_group()
                await asyncio.wait({read}, timeout=1.0)
        finally:
            if not read.done():
                read.cancel()
        if not read.done():
            raise self._crashed(self._exit_description())
        try:
            line = read.result()
        except ValueError:
            raise self._crashed(f"it sent a message over {MAX_MESSAGE_BYTES} bytes") from None
        if not line:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exited), timeout=1.0)
            raise self._crashed(self._exit_description())
        try:
            message = json.loads(line)
        except ValueError:
            raise self._crashed("it sent a line that is not JSON") from None
        if not isinstance(message, dict):
            raise self._crashed("it sent a message that is not a JSON object")
        return message

    def _exit_description(self) -> str:
        if not self._exited.done():
            return "it closed its reply pipe"
        code = self._exited.result()
        if code < 0:
            return f"it was killed by signal {-code}"
        return f"it exited with code {code}"

    def _crashed(self, why: str) -> WorkerCrashed:
        return WorkerCrashed(f"worker {self.pid} of {self._config.deployment}: {why}")
