"""A worker's stdout and stderr, turned into one `function_log` event per line.

Used by `worker_process`: each stream is read by an `OutputProtocol`, and an `OutputSink` per
worker tags every line with the request in flight and notices the mark a worker writes at the end
of each invocation, so lines printed by a request are attributed to it before the next begins.
"""

from __future__ import annotations

import asyncio

import structlog

MAX_LINE_BYTES = 8 * 1024
# Written by both worker scripts after each invocation, followed by the request id.
FLUSH_MARK = b"\0reconciler:flushed:"
# Bytes kept from the end of an over-long line: enough to hold the mark and a request id.
_TAIL_BYTES = 1024
STREAMS = ("stdout", "stderr")
# How long a finished request waits for its last output lines before the worker is reused.
FLUSH_GRACE_SECONDS = 1.0


class OutputSink:
    """Logs a worker's output lines and tracks the end marks of the request in flight."""

    def __init__(
        self, *, deployment: str, version: str, log: structlog.typing.FilteringBoundLogger
    ) -> None:
        self.request_id: str | None = None
        self._deployment = deployment
        self._version = version
        self._log = log
        self._marks: dict[str, asyncio.Future[None]] = {}
        self._closed: set[str] = set()

    def begin(self, request_id: str) -> None:
        """Attribute the lines that follow to `request_id` until its marks arrive."""
        loop = asyncio.get_running_loop()
        self.request_id = request_id
        self._marks = {stream: loop.create_future() for stream in STREAMS}
        for stream in self._closed:
            self._marks[stream].set_result(None)

    async def settle(self) -> None:
        """Wait until both streams passed the end mark, then detach the request."""
        if self._marks:
            # A function may close or redirect its stdout; then the mark never comes.
            await asyncio.wait(self._marks.values(), timeout=FLUSH_GRACE_SECONDS)
        self.request_id = None
        self._marks = {}

    def line(self, stream: str, raw: bytes) -> None:
        """Log one complete line, or resolve the end mark it carries."""
        at = raw.rfind(FLUSH_MARK)
        if at < 0:
            self._emit(stream, raw)
            return
        if at > 0:  # the function printed this much without a newline before the mark
            self._emit(stream, raw[:at])
        if raw[at + len(FLUSH_MARK) :].decode(errors="replace") == self.request_id:
            self._resolve(stream)

    def closed(self, stream: str) -> None:
        """Note that a stream reached its end: no mark will come on it any more."""
        self._closed.add(stream)
        self._resolve(stream)

    def _emit(self, stream: str, raw: bytes) -> None:
        self._log.info(
            "function_log",
            deployment=self._deployment,
            version=self._version,
            request_id=self.request_id,
            stream=stream,
            line=raw[:MAX_LINE_BYTES].decode(errors="replace").removesuffix("\r"),
        )

    def _resolve(self, stream: str) -> None:
        mark = self._marks.get(stream)
        if mark is not None and not mark.done():
            mark.set_result(None)


class OutputProtocol(asyncio.Protocol):
    """Reads one stream of a worker and hands its lines to the sink."""

    def __init__(self, sink: OutputSink, stream: str) -> None:
        self._sink = sink
        self._stream = stream
        self._buffer = bytearray()
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        """Split complete lines off the buffer; bound what is kept of an unfinished one."""
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            self._sink.line(self._stream, bytes(self._buffer[:end]))
            del self._buffer[: end + 1]
        if len(self._buffer) > MAX_LINE_BYTES + _TAIL_BYTES:
            # Keep the head, which is logged, and the tail, where an end mark would be.
            del self._buffer[MAX_LINE_BYTES:-_TAIL_BYTES]

    def connection_lost(self, exc: Exception | None) -> None:
        """Log the last unfinished line and tell the sink the stream is over."""
        del exc  # a read error ends the stream just as EOF does
        if self._buffer:
            self._sink.line(self._stream, bytes(self._buffer))
            self._buffer.clear()
        self._sink.closed(self._stream)
        if not self.finished.done():
            self.finished.set_result(None)
