"""A function's third-party dependencies, installed into its staged package before it is zipped.

Used by the AWS and Azure programs: Lambda and a run-from-package Function App run exactly what
the zip holds and build nothing, so a source's `requirements.txt` or `package.json` is installed
here, for the platform the function runs on. Used by the local cloud too, for this machine.

- Python: `pip install --target`, wheels only, for the runtime's Python version and a manylinux
  platform of the target CPU, so what lands in the zip is what the cloud can import, whatever
  machine the daemon runs on. No `.pyc` files: the zip stays the same for the same wheels. The
  requirements file is read first (`requirements_file`): nothing in it may make pip build.
- Node.js: `npm install --omit=dev` in the staging folder, with install scripts off (a
  dependency's `postinstall` never runs inside the daemon, next to its cloud credentials) and
  `file:` dependencies copied rather than linked.

pip and npm read their usual configuration (indexes, registries, proxies, credentials) from the
daemon's environment and config files.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.adapters.dependencies import requirements_file
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
    machine: str | None = "x86_64"
    """The CPU as manylinux names it (`x86_64`, `aarch64`); None: this machine and the daemon's
    own Python, which is what the local cloud's workers run on."""
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
    if not requirements.is_file() or not requirements_file.names_packages(requirements, staging):
        return
    destination = (staging / target.python_path).resolve()
    command = [sys.executable, "-m", "pip", "install", "--requirement", str(requirements)]
    command += ["--target", str(destination)]
    if target.machine is not None:
        version = target.runtime.value.removeprefix("python")
        command += ["--platform", f"{MANYLINUX}_{target.machine}", "--implementation", "cp"]
        command += ["--python-version", version]
    command += [
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ]
    _run(command, staging=staging, installer="pip")


def _install_node(staging: Path) -> None:
    if not declares_node_dependencies(staging):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise PermanentError(
            "package.json declares dependencies, and npm (Node.js) is not on the daemon's"
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


def declares_node_dependencies(folder: Path) -> bool:
    """Whether `folder` has a package.json with dependencies for npm to install."""
    manifest = folder / "package.json"
    return manifest.is_file() and bool(package_json(manifest.read_bytes()).get("dependencies"))


def package_json(data: bytes) -> dict[str, Any]:
    """A package.json's object; `PermanentError` unless it and its dependencies are objects."""
    try:
        package = json.loads(data)
    except ValueError as exc:
        raise PermanentError(f"package.json is not valid JSON: {exc}") from exc
    if not isinstance(package, dict) or not isinstance(package.get("dependencies", {}), dict):
        raise PermanentError("package.json must hold a JSON object, its dependencies an object")
    return package


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
