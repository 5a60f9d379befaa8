"""The function's code package: a zip whose bytes depend only on the source's paths and bytes.

Used by the AWS and Azure programs through `build_package`: a staged copy of the source, added
to (dependencies, the Azure shim), then zipped by `build_zip`; Lambda gets its hash as
`source_code_hash`. Equal files, equal zip: no mtimes, owners, umask or walk order reach it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from reconciler.ports import PermanentError

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
"""The earliest time a zip entry can hold; every entry gets it."""
COMPRESS_LEVEL = 6
"""zlib's default level, fixed so an environment default cannot change the bytes."""
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc",)
Prepared = TypeVar("Prepared")
"""What a package's `prepare` step returns to its caller."""
_UNIX = 3  # the "made by" system of every entry, so the bytes are the same on any host


@dataclass(frozen=True, slots=True)
class PackageInfo:
    """A built package and the hashes a provider compares."""

    path: Path
    sha256_base64: str
    """Base64 of the zip's SHA-256: what Lambda's `source_code_hash` expects."""
    sha256_hex: str
    size: int


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    path: Path
    executable: bool


def build_package(
    source: Path, destination: Path, *, prepare: Callable[[Path], Prepared]
) -> tuple[PackageInfo, Prepared]:
    """Zip a copy of `source` to which `prepare` has added (dependencies, a shim).

    Returns the package and what `prepare` returned. The copy is staged beside `destination`
    and removed afterwards; links are copied as links, so `build_zip` still refuses any that
    leave the source.
    """
    staging = destination.with_suffix(".package")
    shutil.rmtree(staging, ignore_errors=True)
    skipped = (*SKIPPED_DIRS, *(f"*{suffix}" for suffix in SKIPPED_SUFFIXES))
    shutil.copytree(source, staging, symlinks=True, ignore=shutil.ignore_patterns(*skipped))
    try:
        prepared = prepare(staging)
        return build_zip(staging, destination), prepared
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_zip(source: Path, destination: Path) -> PackageInfo:
    """Zip the files under `source` into `destination`, deterministically; return its hashes.

    Directories get no entries of their own; symlinks are stored as what they point to.
    Raises `PermanentError` when the source is empty or a link dangles, loops or leaves it.
    """
    root = source.resolve()
    entries = sorted(_entries(root, root, ancestors=frozenset({root})), key=lambda e: e.name)
    if not entries:
        raise PermanentError(f"function source {source} has no files to package")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=ZIP_DATE_TIME)
            info.create_system = _UNIX
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = EXECUTABLE_MODE if entry.executable else FILE_MODE
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, entry.path.read_bytes(), compresslevel=COMPRESS_LEVEL)
    data = buffer.getvalue()
    _write_atomically(destination, data)
    digest = hashlib.sha256(data).digest()
    return PackageInfo(
        path=destination,
        sha256_base64=base64.b64encode(digest).decode("ascii"),
        sha256_hex=digest.hex(),
        size=len(data),
    )


def _entries(root: Path, folder: Path, *, ancestors: frozenset[Path]) -> list[_Entry]:
    found: list[_Entry] = []
    for child in folder.iterdir():
        target = _resolve_inside(root, child)
        if target.is_dir():
            if child.name in SKIPPED_DIRS:
                continue
            # A link back to a folder being walked would never end.
            if target in ancestors:
                raise PermanentError(f"symlink {child} loops back to {target}")
            found.extend(_entries(root, child, ancestors=ancestors | {target}))
        elif target.is_file() and not child.name.endswith(SKIPPED_SUFFIXES):
            name = child.relative_to(root).as_posix()
            executable = bool(target.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
            found.append(_Entry(name=name, path=child, executable=executable))
    return found


def _resolve_inside(root: Path, path: Path) -> Path:
    if not path.is_symlink():
        return path.resolve()
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop, on Python before 3.13
        raise PermanentError(f"symlink {path} cannot be followed: {exc}") from exc
    # The exporter checked this already; checked again because a zip leaking a host file is
    # worse than a second stat.
    if not target.is_relative_to(root):
        raise PermanentError(f"symlink {path} points outside the function source")
    return target


def _write_atomically(destination: Path, data: bytes) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    partial = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        # Readers (a Pulumi run of another region's stack) see the old zip or the new, never half.
        partial.replace(destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
