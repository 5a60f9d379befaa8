"""The one table that turns Automation API failures into `TransientError` or `PermanentError`.

Used by `PulumiEngine` around every CLI call. Messages keep to the relevant line (the first
error diagnostic, the first line of stderr): a `CommandError`'s own text is the CLI's whole
output, which is long and may echo values nobody should see in a log line.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import structlog
from pulumi.automation.errors import (
    CommandError,
    CompilationError,
    ConcurrentUpdateError,
    InlineSourceRuntimeError,
    InvalidVersionError,
)
from pulumi.automation.errors import RuntimeError as ProgramRuntimeError

from reconciler.adapters.pulumi.command import (
    INSTALL_HINT,
    MINIMUM_VERSION,
    CliNotFoundError,
    CliTooOldError,
    OperationTimedOutError,
)
from reconciler.adapters.pulumi.translate import EventLog
from reconciler.ports import PermanentError, TransientError

log = structlog.get_logger(__name__)

T = TypeVar("T")

LOCK_RETRY_AFTER = 60.0
"""Another update holds the stack: give it a minute rather than hammer the backend."""

# Cloud throttling and network failures, as providers and the CLI word them.
_NETWORK = re.compile(
    r"throttl|requestlimitexceeded|toomanyrequests|rate exceeded|connection reset|"
    r"connection refused|i/o timeout|tls handshake timeout|no such host|"
    r"temporary failure in name resolution|serviceunavailable|503 service unavailable",
    re.IGNORECASE,
)
_INLINE_PREFIX = "python inline source runtime error: "
# `pulumi/pulumi pkg/backend/diy/lock.go`: "  <url>: created by <user>@<host> (pid <n>) at <time>".
_LOCK_HOLDER = re.compile(r"created by (?P<user>.*)@(?P<host>\S+) \(pid (?P<pid>\d+)\)")
_MARKUP = re.compile(r"\x1b\[[0-9;]*m|<\{%[^%]*%\}>")


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who a DIY backend lock file says holds the stack."""

    user: str
    host: str
    pid: int


def lock_holders(error: BaseException) -> tuple[LockHolder, ...]:
    """The holders a DIY lock error lists; empty for Pulumi Cloud, which names nobody."""
    return tuple(
        LockHolder(match["user"], match["host"], int(match["pid"]))
        for match in _LOCK_HOLDER.finditer(_streams(error)[1])
    )


def is_stale(holders: Sequence[LockHolder], *, hostname: str | None = None) -> bool:
    """True when every lock was left by a process of this host that no longer runs."""
    here = hostname or socket.gethostname()
    return bool(holders) and all(h.host == here and not _alive(h.pid) for h in holders)


@dataclass(frozen=True, slots=True)
class _Row:
    matches: Callable[[BaseException, str], bool]
    error: Callable[[BaseException, str, str], TransientError | PermanentError]


def _text(exc: BaseException, diagnostics: str) -> str:
    stdout, stderr = _streams(exc)
    return f"{diagnostics}\n{stderr}\n{stdout}"


# Checked in order, first match wins. Each row is one parameter of the error-table test.
_TABLE: tuple[_Row, ...] = (
    _Row(
        lambda exc, _: isinstance(exc, OperationTimedOutError),
        lambda exc, doing, _: TransientError(
            f"{doing}: {exc}; timed out; the stack may have pending operations, "
            "the next attempt refreshes them",
            retry_after=LOCK_RETRY_AFTER,
        ),
    ),
    _Row(
        lambda exc, _: (
            isinstance(exc, CliNotFoundError)
            or (isinstance(exc, FileNotFoundError) and str(exc.filename).endswith("pulumi"))
        ),
        lambda _exc, _doing, _: PermanentError(f"the Pulumi CLI is not installed: {INSTALL_HINT}"),
    ),
    _Row(
        lambda exc, _: isinstance(exc, CliTooOldError),
        lambda exc, _doing, _: PermanentError(
            f"the Pulumi CLI found is {getattr(exc, 'found', '?')}; version {MINIMUM_VERSION} "
            f"or newer is needed: {INSTALL_HINT}"
        ),
    ),
    _Row(
        lambda exc, _: isinstance(exc, InvalidVersionError),
        lambda exc, doing, _: PermanentError(f"{doing}: {_first_line(str(exc))}"),
    ),
    _Row(
        lambda exc, _: isinstance(exc, ConcurrentUpdateError),
        lambda exc, doing, _: TransientError(
            f"{doing}: the stack is locked by another update{_holders(exc)}; retrying later "
            "(if no update runs, `pulumi cancel` removes the lock)",
            retry_after=LOCK_RETRY_AFTER,
        ),
    ),
    _Row(
        lambda exc, _: isinstance(
            exc, InlineSourceRuntimeError | ProgramRuntimeError | CompilationError
        ),
        lambda exc, doing, diagnostics: PermanentError(
            f"{doing}: the program failed: {_program_message(exc, diagnostics)}"
        ),
    ),
    _Row(
        lambda exc, diagnostics: (
            isinstance(exc, CommandError) and _NETWORK.search(_text(exc, diagnostics)) is not None
        ),
        lambda exc, doing, diagnostics: TransientError(
            f"{doing}: {_matching_line(_text(exc, diagnostics))}"
        ),
    ),
    _Row(
        lambda exc, _: isinstance(exc, CommandError),
        lambda exc, doing, diagnostics: PermanentError(f"{doing}: {_detail(exc, diagnostics)}"),
    ),
    _Row(
        # The SDK's own RuntimeError: the CLI exited 0 without the summary every preview ends with.
        lambda exc, _: type(exc) is RuntimeError and "summary event" in str(exc),
        lambda _exc, doing, _: PermanentError(f"{doing}: the Pulumi CLI sent no summary"),
    ),
    _Row(
        lambda exc, _: isinstance(exc, OSError),
        lambda exc, doing, _: PermanentError(f"{doing}: {exc}"),
    ),
)


def guarded(
    doing: str,
    action: Callable[[], T],
    *,
    events: EventLog | None = None,
    cancel: Callable[[], None] | None = None,
    interrupted: Callable[[], None] | None = None,
) -> T:
    """Run `action`, turning failures into port errors through the table.

    A lock left by a dead process of this host is removed with `cancel` (logged) and `action`
    retried once; any other lock is waited out. `interrupted` is called when the watchdog
    stopped the run, so the next attempt can refresh pending operations.
    """
    for attempt in (1, 2):
        try:
            return action()
        except Exception as exc:
            if attempt == 1 and cancel and isinstance(exc, ConcurrentUpdateError):
                holders = lock_holders(exc)
                if is_stale(holders):
                    guarded(f"{doing}: clearing a stale lock", cancel)
                    log.warning("pulumi_stale_lock_cleared", doing=doing, holders=_names(holders))
                    continue
            if interrupted and isinstance(exc, OperationTimedOutError):
                interrupted()
            error = translate(exc, doing=doing, diagnostics=events.errors if events else ())
            if error is None:
                raise
            raise error from exc
    raise AssertionError("unreachable: the second attempt returns or raises")


def translate(
    exc: BaseException, *, doing: str, diagnostics: Sequence[str] = ()
) -> TransientError | PermanentError | None:
    """The port error for `exc`, or None when it is no Pulumi failure (a bug: let it surface)."""
    joined = "\n".join(diagnostics)
    for row in _TABLE:
        if row.matches(exc, joined):
            return row.error(exc, doing, joined)
    return None


def _streams(exc: BaseException) -> tuple[str, str]:
    """The stdout and stderr of a `CommandError`, whose only record is `str(CommandResult)`."""
    text = str(exc)
    head, _, stderr = text.partition("\n stderr: ")
    _, _, stdout = head.partition("\n stdout: ")
    return stdout, stderr


def _clean(line: str) -> str:
    return _MARKUP.sub("", line).strip()


def _first_line(text: str) -> str:
    return next((_clean(line) for line in text.splitlines() if _clean(line)), "")


def _program_message(exc: BaseException, diagnostics: str) -> str:
    """The program's own words: its exception, else the first `error:` line the CLI printed."""
    lines = [_clean(line) for line in (*diagnostics.splitlines(), *_streams(exc)[0].splitlines())]
    for line in lines:
        _, found, rest = line.partition(_INLINE_PREFIX)
        if found:
            return rest
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return errors[0] if errors else _detail(exc, diagnostics)


def _detail(exc: BaseException, diagnostics: str) -> str:
    """The first error diagnostic, else the first `error:` line of stderr, else its first line."""
    if diagnostics.strip():
        return _first_line(diagnostics)
    stderr = _streams(exc)[1]
    errors = [line for line in stderr.splitlines() if _clean(line).startswith("error:")]
    first = _first_line(errors[0]) if errors else _first_line(stderr)
    return first.removeprefix("error: ") or "the Pulumi CLI failed with no message"


def _matching_line(text: str) -> str:
    line = next(line for line in text.splitlines() if _NETWORK.search(line))
    return _clean(line).removeprefix("error: ")[:300]


def _names(holders: Sequence[LockHolder]) -> list[str]:
    return [f"{holder.user}@{holder.host} pid {holder.pid}" for holder in holders]


def _holders(exc: BaseException) -> str:
    found = lock_holders(exc)
    return f" ({', '.join(_names(found))})" if found else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Someone else's live process.
    try:
        # A zombie answers kill(0) yet runs nothing: containers without an init never reap.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
