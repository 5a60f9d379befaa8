"""Running one git command, and turning its failure into a `TransientError` or `PermanentError`.

Used by `GitSource` and its helpers for everything but object reads. Commands run through
GitPython (which forces English messages, so the table below can match them) with
`GIT_TERMINAL_PROMPT=0`, so git fails instead of waiting for a password nobody will type.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from git.cmd import Git
from git.exc import GitCommandNotFound

from reconciler.adapters.git.credentials import redact
from reconciler.ports import PermanentError, TransientError

BASE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    # Paths we pass are paths, never patterns: `fn*` must not match `fn1/` and `fn2/`.
    "GIT_LITERAL_PATHSPECS": "1",
}


class GitFailedError(Exception):
    """A git command exited non-zero; callers turn it into a port error with `classify`."""

    def __init__(self, status: int, output: str) -> None:
        # Redacted here too: this error is the `__cause__` of the port error, shown with --debug.
        super().__init__(redact(output))
        self.status = status
        self.output = output


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: Path | None = None,
    timeout: float | None = None,
) -> bytes:
    """Run `git *args` in `cwd` and return its stdout; raise `GitFailedError` on failure."""
    with contextlib.ExitStack() as stack:
        stream: BinaryIO | None = stack.enter_context(stdin.open("rb")) if stdin else None
        try:
            status, out, err = Git(cwd).execute(
                ["git", *args],
                istream=stream,
                with_extended_output=True,
                stdout_as_string=False,
                with_exceptions=False,
                kill_after_timeout=timeout,
                strip_newline_in_stdout=False,
                env={**BASE_ENV, **(env or {})},
            )
        except GitCommandNotFound as exc:
            raise PermanentError("git is not installed or not on PATH") from exc
    if status != 0:
        # Push reports rejected refs on stdout (`--porcelain`): keep both for `classify`.
        raise GitFailedError(status, f"{err}\n{out.decode(errors='replace')}".strip())
    return out


@dataclass(frozen=True, slots=True)
class _Reason:
    text: str
    patterns: tuple[str, ...]
    transient: bool
    retry_after: float = 30.0


def _transient(text: str, *patterns: str, retry_after: float = 30.0) -> _Reason:
    return _Reason(text, patterns, transient=True, retry_after=retry_after)


def _permanent(text: str, *patterns: str) -> _Reason:
    return _Reason(text, patterns, transient=False)


# Checked in order, first match wins, against the lowercased output of the failed command.
# `{hint}` becomes a pointer to the credential the source was given.
_REASONS = (
    _transient("timed out", "timeout: the command"),
    _permanent("the server's TLS certificate is not trusted", "certificate"),
    _permanent("authentication failed; {hint}", "authentication failed", "returned error: 401"),
    _permanent(
        "the server asks for credentials; {hint}",
        *("could not read username", "could not read password", "terminal prompts disabled"),
    ),
    _permanent("access denied (HTTP 403); {hint}", "returned error: 403"),
    _permanent("the ssh key was refused; {hint}", "permission denied (publickey"),
    _permanent("unknown ssh host key: add it to known_hosts", "host key verification failed"),
    _transient("rate limited by the server", "returned error: 429", retry_after=120.0),
    _transient("the server failed (HTTP 5xx)", "returned error: 5", retry_after=60.0),
    _transient(
        "the host name does not resolve",
        *("could not resolve host", "could not resolve hostname", "temporary failure in name"),
    ),
    _transient(
        "cannot connect to the server",
        *("connection refused", "failed to connect", "couldn't connect", "no route to host"),
    ),
    _transient("the network is unreachable", "network is unreachable", "timed out"),
    _transient(
        "the connection was lost",
        *("connection reset", "hung up unexpectedly", "early eof", "rpc failed", "ssl", "gnutls"),
    ),
    _permanent("the branch does not exist there", "couldn't find remote ref"),
    _permanent("that is not a valid branch name", "invalid refspec", "invalid ref"),
    _permanent(
        "the repository does not exist or is not visible; {hint}",
        *("repository not found", "does not appear to be a git repository"),
        *("not a git repository", "returned error: 404", "not found"),
    ),
    _transient(
        "the branch moved meanwhile; retry",
        *("(stale info)", "(fetch first)", "non-fast-forward", "not possible to fast-forward"),
        "but expected",
        retry_after=5.0,
    ),
    _transient("the repository is busy", "cannot lock ref", "index.lock", "unable to create"),
    _permanent(
        "untracked files in the working tree are in the way; move them and retry",
        "would be overwritten",
    ),
    _permanent("the remote refused it", "hook declined", "protected branch", "[remote rejected]"),
    _permanent(
        "a commit is missing from the repository",
        *("bad object", "bad revision", "unknown revision", "invalid object name", "not a valid"),
    ),
)


def classify(
    failure: GitFailedError,
    *,
    doing: str,
    hint: str = "check the repository URL and credentials",
    transient_by_default: bool = True,
    secrets: Sequence[str] = (),
) -> TransientError | PermanentError:
    """The port error for a failed command: `"<doing>: <reason>"`, one line, credential-free."""
    output = failure.output.lower()
    for reason in _REASONS:
        if any(pattern in output for pattern in reason.patterns):
            message = f"{doing}: {reason.text.format(hint=hint)}"
            if reason.transient:
                return TransientError(redact(message, *secrets), retry_after=reason.retry_after)
            return PermanentError(redact(message, *secrets))
    lines = [line.strip() for line in failure.output.splitlines() if line.strip()]
    detail = lines[-1] if lines else f"git exited with status {failure.status}"
    for prefix in ("fatal: ", "error: "):
        detail = detail.removeprefix(prefix)
    message = redact(f"{doing}: {detail}", *secrets)
    return TransientError(message) if transient_by_default else PermanentError(message)
