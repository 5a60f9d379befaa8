"""A function's third-party dependencies, installed into its staged package before it is zipped.

Used by the AWS and Azure programs. Lambda and a run-from-package Function App run exactly what
the zip holds and build nothing, so a source's `requirements.txt` or `package.json` is installed
here, for the platform the function runs on:

- Python: `pip install --target`, wheels only, for the runtime's Python version and a manylinux
  platform of the target CPU, so what lands in the zip is what the cloud can import, whatever
  machine the daemon runs on. No `.pyc` files: the zip stays the same for the same wheels.
- Node.js: `npm install --omit=dev` in the staging folder, with install scripts off (a
  dependency's `postinstall` never runs inside the daemon, next to its cloud credentials) and
  `file:` dependencies copied rather than linked.

pip and npm read their usual configuration (indexes, registries, proxies, credentials) from the
daemon's environment and config files.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from reconciler.domain.values import Runtime
from reconciler.ports import PermanentError, TransientError

INSTALL_TIMEOUT_SECONDS = 600.0
RETRY_AFTER_SECONDS = 60.0
MANYLINUX = "manylinux2014"
"""glibc 2.17 wheels: what Lambda's and Azure's Linux images can load (and newer ones accept)."""
OUTPUT_LINES = 15
"""How much of a failed installer's output an error message carries."""
_PERMANENT = re.compile(
    r"No matching distribution|Could not find a version|ResolutionImpossible|Invalid requirement"
    r"|Could not open requirements file|Cannot install .* because|npm error code (?:E404|ETARGET"
    r"|ERESOLVE|EJSONPARSE|EUNSUPPORTEDPROTOCOL|ENOENT|EINVALIDTAGNAME|EINVALIDPACKAGENAME)",
    re.IGNORECASE,
)
"""Installer output that no retry can change: the inputs are wrong until a commit fixes them."""
_UNREACHABLE = re.compile(
    r"NewConnectionError|Connection refused|Connection reset|Read timed out|Max retries exceeded"
    r"|Temporary failure in name resolution|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN"
    r"|ENETUNREACH|ENOTFOUND|socket hang up",
    re.IGNORECASE,
)
"""Signs the index or registry was out of reach: pip then also says no version was found."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a package runs on, and where its Python dependencies go inside it."""

    runtime: Runtime
    machine: str = "x86_64"
    """The CPU as manylinux names it: `x86_64` or `aarch64`."""
    python_path: str = "."
    """The folder, relative to the package root, that the runtime puts on `sys.path`."""


Installer = Callable[[Path, "Target"], None]
"""What the programs call to install a staged source's dependencies: `install` by default."""


def install(staging: Path, target: Target) -> None:
    """Install the dependencies the staged source declares, into the staged source.

    Does nothing when it declares none. Raises `PermanentError` when they cannot be resolved
    (an unknown package, no wheel for the target, an invalid `package.json`) and
    `TransientError` when the installer fails otherwise (the index unreachable, a timeout).
    """
    if target.runtime.language == "python":
        _install_python(staging, target)
    else:
        _install_node(staging)


def _install_python(staging: Path, target: Target) -> None:
    requirements = staging / "requirements.txt"
    if not requirements.is_file() or not _names_packages(requirements, staging=staging):
        return
    version = target.runtime.value.removeprefix("python")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--requirement",
        str(requirements),
        "--target",
        str((staging / target.python_path).resolve()),
        "--platform",
        f"{MANYLINUX}_{target.machine}",
        "--implementation",
        "cp",
        "--python-version",
        version,
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ]
    _run(command, staging=staging, installer="pip")


def _install_node(staging: Path) -> None:
    manifest = staging / "package.json"
    if not manifest.is_file() or not _declares_dependencies(manifest):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise PermanentError(
            f"{manifest.name} declares dependencies, and npm (Node.js) is not on the daemon's"
            " PATH to install them"
        )
    command = [
        npm,
        "install",
        "--omit=dev",
        "--ignore-scripts",
        "--install-links",
        "--no-audit",
        "--no-fund",
        "--update-notifier=false",
        "--loglevel=error",
    ]
    _run(command, staging=staging, installer="npm")


def _names_packages(
    requirements: Path, *, staging: Path, seen: frozenset[Path] = frozenset()
) -> bool:
    """Whether the file (and what it includes) names a package; refuses what could build code.

    pip honours options written in a requirements file over its command line, so a file could
    turn `--only-binary` off (`--no-binary`), install from a path or a VCS URL, or point at
    another index, and pip would then build, which runs the package's code inside the daemon,
    next to its cloud credentials. Only requirements by name (version, extras, markers,
    `--hash`) and `-r`/`-c` includes inside the source are let through.
    """
    named = False
    path, root = requirements.resolve(), staging.resolve()
    for number, line in _logical_lines(path):
        where = f"{path.relative_to(root).as_posix()}:{number}"
        if line.startswith("-"):
            constraint, value = _include(line, where=where)
            included = (path.parent / value).resolve()
            if not included.is_relative_to(root) or not included.is_file():
                raise PermanentError(f"{where}: {value!r} is not a file of the source")
            if included in seen or included == path:
                raise PermanentError(f"{where}: {value!r} includes a file that includes it")
            nested = _names_packages(included, staging=root, seen=seen | {path})
            named = named or (nested and not constraint)
            continue
        # pip reads everything from the first token that starts with `-` as options.
        requirement, *options = re.split(r"\s+(?=-)", line)
        if any(not option.startswith("--hash") for option in options):
            raise PermanentError(f"{where}: only --hash may follow a requirement{_WHY}")
        try:
            parsed = Requirement(requirement)
        except InvalidRequirement as exc:
            raise PermanentError(f"{where}: not a requirement by name: {exc}{_WHY}") from exc
        if parsed.url is not None:
            raise PermanentError(f"{where}: a direct reference ({parsed.url}) is not allowed{_WHY}")
        named = True
    return named


_INCLUDES = {"-r": False, "--requirement": False, "-c": True, "--constraint": True}
"""The options a requirements file may hold: includes, by whether they only constrain."""
_WHY = " (pip would build it, running its code inside the daemon; use a published wheel)"


def _include(line: str, *, where: str) -> tuple[bool, str]:
    """(only constrains, file) of an `-r`/`-c` line; anything else is refused."""
    try:
        tokens = shlex.split(line)
    except ValueError as exc:  # an unbalanced quote
        raise PermanentError(f"{where}: {exc}") from exc
    match tokens:
        case [option, path] if option in _INCLUDES:  # -r file
            return _INCLUDES[option], path
        case [token] if "=" in token and token.partition("=")[0] in _INCLUDES:  # -r=file
            option, _, path = token.partition("=")
            return _INCLUDES[option], path
        case [token] if token[:2] in _INCLUDES and token[2:] and token[1] != "-":  # -rfile
            return _INCLUDES[token[:2]], token[2:]
    raise PermanentError(f"{where}: pip option {tokens[0]} is not allowed here{_WHY}")


def _logical_lines(requirements: Path) -> list[tuple[int, str]]:
    """(line number, text) of each requirement line: continuations joined, comments dropped."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    text = requirements.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        start, joined = pending or (number, "")
        if raw.endswith("\\"):
            pending = (start, joined + raw[:-1])
            continue
        pending = None
        # pip's rule: `#` starts a comment at the line's start or after whitespace.
        line = re.sub(r"(^|\s)#.*$", "", joined + raw).strip()
        if line:
            lines.append((start, line))
    if pending is not None and pending[1].strip():
        lines.append((pending[0], pending[1].strip()))
    return lines


def _declares_dependencies(manifest: Path) -> bool:
    try:
        package = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise PermanentError(f"{manifest.name} is not valid JSON: {exc}") from exc
    if not isinstance(package, dict):
        raise PermanentError(f"{manifest.name} must hold a JSON object")
    return bool(package.get("dependencies"))


def _run(command: list[str], *, staging: Path, installer: str) -> None:
    try:
        completed = subprocess.run(  # noqa: S603  # our own argv; no shell
            command,
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TransientError(
            f"{installer} did not finish installing the function's dependencies in"
            f" {INSTALL_TIMEOUT_SECONDS:.0f}s",
            retry_after=RETRY_AFTER_SECONDS,
        ) from exc
    if completed.returncode == 0:
        return
    output = f"{completed.stdout}\n{completed.stderr}"
    tail = "\n".join(output.strip().splitlines()[-OUTPUT_LINES:])
    message = f"{installer} could not install the function's dependencies:\n{tail}"
    if _PERMANENT.search(output) and not _UNREACHABLE.search(output):
        raise PermanentError(message)
    raise TransientError(message, retry_after=RETRY_AFTER_SECONDS)
