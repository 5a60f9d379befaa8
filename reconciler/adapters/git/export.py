"""Writing one folder of a commit to disk, as git stores it, for an engine to package.

Used by `GitSource.export_tree`. Contents come from the object database, never from a working
tree: an uncommitted edit can never reach a deployment. Symlinks survive only while they point
inside the exported folder, so a function package cannot pull in a file from elsewhere.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Sequence
from pathlib import Path

from reconciler.adapters.git.objects import (
    GITLINK_MODE,
    SYMLINK_MODE,
    TREE_MODE,
    Listed,
    ObjectReader,
    is_executable,
    normalise,
)
from reconciler.ports import PermanentError


def write_tree(
    reader: ObjectReader, listed: Sequence[Listed], *, folder: str, destination: Path
) -> None:
    """Write `listed` (`git ls-tree -r -t` of `folder`) into the empty folder `destination`."""
    shown = folder or "."
    # Everything that can be refused is checked before the first byte is written.
    links = _checked_links(reader, listed, shown)
    for entry in listed:
        path = destination / entry.path
        if entry.mode == TREE_MODE:
            path.mkdir()
        elif entry.mode == SYMLINK_MODE:
            path.symlink_to(links[entry.path])
        else:
            with path.open("xb") as handle:
                handle.write(reader.read(entry.oid, "blob"))
            if is_executable(entry.mode):
                mode = path.stat().st_mode
                path.chmod(mode | (mode & 0o444) >> 2)  # x wherever r, as `git checkout` does

    # A chain of inside links can still climb out (`up -> ..` then `out -> up/..`): check
    # where each one really ends up now that all of them exist.
    root = Path(os.path.realpath(destination))
    for link in links:
        if not Path(os.path.realpath(destination / link)).is_relative_to(root):
            _empty(destination)
            raise PermanentError(
                f"the symlink {posixpath.join(shown, link)} resolves outside {shown} through "
                "other symlinks; commit the file itself instead"
            )


def _checked_links(reader: ObjectReader, listed: Sequence[Listed], shown: str) -> dict[str, str]:
    """The target of every symlink, by path; refuses submodules and links that leave."""
    links: dict[str, str] = {}
    for entry in listed:
        where = posixpath.join(shown, entry.path)
        if normalise(entry.path) != entry.path:
            raise PermanentError(f"{where} is not a safe path to write")
        if entry.mode == GITLINK_MODE:
            raise PermanentError(
                f"{where} is a submodule; function sources must be committed files"
            )
        if entry.mode == SYMLINK_MODE:
            target = os.fsdecode(reader.read(entry.oid, "blob"))
            if _escapes(entry.path, target):
                raise PermanentError(
                    f"the symlink {where} points outside {shown} (to {target!r}); "
                    "commit the file itself instead"
                )
            links[entry.path] = target
    return links


def _escapes(link: str, target: str) -> bool:
    if posixpath.isabs(target):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
    return resolved == ".." or resolved.startswith("../")


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
