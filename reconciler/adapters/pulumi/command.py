"""The Pulumi CLI: `WatchdogCommand` (runs with a deadline), the version check, the CLI's env.

Used by `PulumiEngine`. The SDK's `PulumiCommand.run` has no timeout and keeps no handle on the
child (pulumi/pulumi#9103), so a hung provider would hang the daemon. This subclass starts each
CLI in its own session, so the daemon's own signals never reach it and one `killpg` stops it and
every provider plugin it started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from reconciler.ports import PermanentError

MINIMUM_VERSION = VersionInfo(3, 181, 0)
"""Inline programs for refresh, drift checks and destroy need `--client`, added in 3.181."""

INSTALL_HINT = (
    "install it with `curl -fsSL https://get.pulumi.com | sh` (version 3.181 or newer) "
    "or put it on PATH"
)

PASSPHRASE_VAR = "PULUMI_CONFIG_PASSPHRASE"  # noqa: S105  # the variable's name, not a secret

_VERSION = re.compile(r"v?(\d+\.\d+\.\d+\S*)")


class CliNotFoundError(Exception):
    """The `pulumi` executable is not where it was looked for."""


class CliTooOldError(Exception):
    """The CLI is older than `MINIMUM_VERSION`."""

    def __init__(self, found: str) -> None:
        super().__init__(f"Pulumi CLI {found} is older than {MINIMUM_VERSION}")
        self.found = found


class OperationTimedOutError(Exception):
    """A CLI run passed its deadline and its process group was stopped."""

    def __init__(self, args: list[str], timeout: float) -> None:
        subcommand = next((arg for arg in args if not arg.startswith("-")), "pulumi")
        super().__init__(f"pulumi {subcommand} ran longer than {timeout:g}s")
        self.timeout = timeout


class _Env(dict[str, str]):
    """CLI variables whose repr hides the passphrase: the SDK prints a workspace's env_vars."""

    def __repr__(self) -> str:
        return repr({k: "***" if k == PASSPHRASE_VAR else v for k, v in self.items()})


def cli_environment(
    *,
    backend_url: str,
    secrets_provider: str | None,
    passphrase_env: str,
    environ: Mapping[str, str],
) -> Mapping[str, str]:
    """What every CLI run gets in its environment; raise if the passphrase it needs is unset."""
    env = _Env(PULUMI_BACKEND_URL=backend_url, PULUMI_SKIP_UPDATE_CHECK="true")
    # Pulumi Cloud keeps the keys itself; DIY backends default to a passphrase.
    cloud = backend_url.startswith(("https://", "http://"))
    if secrets_provider in {None, "passphrase"} and not cloud:
        if passphrase_env not in environ:  # An empty passphrase is a valid one.
            raise PermanentError(
                f"the Pulumi state is encrypted with a passphrase: set {passphrase_env} in the "
                "daemon's environment (or configure another secrets provider)"
            )
        env[PASSPHRASE_VAR] = environ[passphrase_env]
    return env


def check_version(version: VersionInfo | None) -> None:
    """Raise `CliTooOldError` unless `version` is known and at least `MINIMUM_VERSION`."""
    if version is None or version < MINIMUM_VERSION:
        raise CliTooOldError(str(version) if version is not None else "of unknown version")


class WatchdogCommand(PulumiCommand):
    """`PulumiCommand` whose runs stop after `timeout` seconds: SIGINT, then SIGKILL after `grace`.

    Construction finds the CLI (`root/bin/pulumi`, else `pulumi` on PATH) and reads its version;
    it raises `CliNotFoundError` or `CliTooOldError`.
    """

    def __init__(self, *, root: str | None = None, timeout: float, grace: float = 10.0) -> None:
        # The base __init__ is skipped on purpose: it runs `pulumi version` with no timeout and
        # raises a bare FileNotFoundError; this one does the same check with both handled.
        found = Path(root, "bin", "pulumi") if root else shutil.which("pulumi")
        if found is None or not Path(found).is_file():
            raise CliNotFoundError(str(found or "pulumi"))
        self.command = str(found)
        self.timeout = timeout
        self.grace = grace
        self.version = _read_version(self.command)
        check_version(self.version)

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Callable[[str], Any] | None = None,
        on_error: Callable[[str], Any] | None = None,
    ) -> CommandResult:
        """Run `pulumi *args` like the SDK does, within the deadline; raise on failure."""
        separator = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:separator]:
            # Fail instead of prompting: nobody answers a daemon's prompts.
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        # The bundled language hosts sit next to the binary; they must win over any on PATH.
        env["PATH"] = os.pathsep.join([str(Path(self.command).parent), env.get("PATH", "")])
        stdout: list[str] = []
        stderr: list[str] = []
        try:
            process = subprocess.Popen(  # noqa: S603  # our own CLI, args built by the SDK
                [self.command, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise CliNotFoundError(self.command) from exc
        readers = [
            _reader(process.stdout, on_output, stdout),
            _reader(process.stderr, on_error, stderr),
        ]
        try:
            process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._stop(process)
            raise OperationTimedOutError(args, self.timeout) from None
        finally:
            for reader in readers:
                # A plugin left behind could hold the pipes open; never wait on it forever.
                reader.join(self.grace)
        result = CommandResult(
            stdout="\n".join(stdout), stderr="\n".join(stderr), code=process.returncode
        )
        if result.code != 0:
            raise create_command_error(result)
        return result

    def _stop(self, process: subprocess.Popen[str]) -> None:
        """SIGINT the group (Pulumi then saves what it can), SIGKILL it after the grace period."""
        _signal_group(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self.grace)
        # Killed even when the CLI left on SIGINT: its provider plugins share the group.
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # The group is already gone.
        os.killpg(pgid, signum)


def _reader(
    stream: IO[str] | None, callback: Callable[[str], Any] | None, lines: list[str]
) -> threading.Thread:
    def consume() -> None:
        assert stream is not None  # noqa: S101  # Popen was asked for both pipes
        for line in iter(stream.readline, ""):
            stripped = line.rstrip()
            if callback is not None:
                callback(stripped)
            lines.append(stripped)
        stream.close()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread


def _read_version(command: str) -> VersionInfo | None:
    env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    try:
        output = subprocess.run(  # noqa: S603  # our own CLI
            [command, "version"], capture_output=True, text=True, env=env, timeout=60, check=True
        ).stdout
    except FileNotFoundError as exc:
        raise CliNotFoundError(command) from exc
    except (subprocess.SubprocessError, OSError):
        # A CLI that cannot even say its version is as good as an unknown one.
        return None
    match = _VERSION.search(output.strip())
    try:
        return VersionInfo.parse(match.group(1)) if match else None
    except ValueError:
        return None
