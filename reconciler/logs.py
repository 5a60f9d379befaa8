"""Structured logging for every reconciler process: JSON lines, or a console view on a terminal.

`configure()` is called once by an entry point (the CLI, the local cloud host), never at import.
Secrets never reach a line: the redaction processor masks values of keys that look secret.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from reconciler.domain.drift import SECRET_MASK

_CHATTY_LIBRARIES = ("apscheduler", "httpx", "httpcore", "git", "aiohttp.access")
_SECRET_KEY = re.compile(r"secret|password|passphrase|token|authorization|api_?key", re.IGNORECASE)


def redact_secrets(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask the value of every field whose name says it holds a secret."""
    for key, value in event_dict.items():
        if value is not None and _SECRET_KEY.search(key):
            event_dict[key] = SECRET_MASK
    return event_dict


def configure(
    *, json: bool | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Send structlog and stdlib logging to `stream` (default stderr) as JSON or console lines."""
    stream = stream or sys.stderr
    as_json = json if json is not None else not stream.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.dict_tracebacks if as_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries log through the stdlib: give them the same shape.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # These narrate every job run and HTTP call at info; our own lines already say what matters.
    chatty = logging.DEBUG if level.lower() == "debug" else logging.WARNING
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(chatty)
