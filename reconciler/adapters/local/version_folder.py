"""A version's folder on the local cloud: its code, and its dependencies beside it.

Used by `LocalEngine.apply`, and by the workers to find Python dependencies. `<version>/code` is
the function source exactly as exported: its digest is what plan and drift compare.
`<version>/python` and `<version>/node_modules` hold what the source's `requirements.txt` or
`package.json` declares, installed for this machine: the Python worker puts `python` on
`sys.path` after the code, and Node.js finds `node_modules` from the code's parent folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from reconciler.adapters.dependencies import Installer, Target, declares_node_dependencies
from reconciler.adapters.local import snapshot
from reconciler.domain.values import Runtime

CODE = "code"
PYTHON_PACKAGES = "python"
NODE_MODULES = "node_modules"


def build(  # noqa: PLR0913  # a version is all of these facts
    versions: Path,
    version: str,
    *,
    source: Path,
    digest: str,
    runtime: Runtime,
    install: Installer,
) -> Path:
    """The version's code folder, built once; a half-built folder never counts."""
    target = versions / version
    if snapshot.tree_digest(target / CODE) == digest:
        return target / CODE
    versions.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=versions))
    try:
        shutil.copytree(source, staging / CODE, symlinks=True)
        _add_dependencies(staging, runtime=runtime, install=install)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target / CODE


def python_packages(code_dir: Path) -> Path | None:
    """The folder of the Python dependencies of the code in `code_dir`, if it has one."""
    folder = code_dir.parent / PYTHON_PACKAGES
    return folder if code_dir.name == CODE and folder.is_dir() else None


def _add_dependencies(staging: Path, *, runtime: Runtime, install: Installer) -> None:
    code = staging / CODE
    if runtime.language == "python":
        install(code, Target(runtime, machine=None, python_path=f"../{PYTHON_PACKAGES}"))
        return
    if (code / NODE_MODULES).exists() or not declares_node_dependencies(code):
        return  # vendored in the source and used as it is, or nothing to install
    # npm writes node_modules and package-lock.json where it runs: a scratch copy, so the code
    # folder stays byte for byte the source.
    scratch = staging / ".npm"
    shutil.copytree(code, scratch, symlinks=True)
    install(scratch, Target(runtime, machine=None))
    if (scratch / NODE_MODULES).is_dir():
        (scratch / NODE_MODULES).rename(staging / NODE_MODULES)
    shutil.rmtree(scratch)
