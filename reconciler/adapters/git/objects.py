"""Reading commits, trees and blobs straight from a repository's object database.

Used by `GitSource`. Every read goes through GitPython's long-lived `git cat-file --batch`, one
request per object, so walking a few trees or reading many small blobs spawns no process. That
pipe serves one request at a time, hence the lock.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from git import Repo
from git.objects import Commit

from reconciler.domain.values import Revision
from reconciler.ports import CommitInfo, PermanentError

_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
TREE_MODE = 0o040000
GITLINK_MODE = 0o160000
SYMLINK_MODE = 0o120000

# One entry of a tree: its mode and object id, by name.
Entries = dict[str, tuple[int, str]]


def normalise(path: str) -> str | None:
    """`path` as git writes it (`a/b`, root is `""`), or None if it leaves the repository."""
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


@dataclass(frozen=True, slots=True)
class Listed:
    """One line of `git ls-tree -z` output (with `-l`, blobs know their size)."""

    mode: int
    kind: str
    oid: str
    path: str
    size: int | None = None


def parse_ls_tree(output: bytes) -> list[Listed]:
    """The entries of `git ls-tree -z [-l]` output, in git's order (a folder before its files)."""
    listed = []
    for record in output.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, oid, *size = meta.decode().split()
        length = int(size[0]) if size and size[0] != "-" else None
        path = name.decode("utf-8", "surrogateescape")
        listed.append(Listed(int(mode, 8), kind, oid, path, length))
    return listed


class MissingObjectError(Exception):
    """No object of the expected type has that id in this repository."""


class ObjectReader:
    """Reads objects of one repository; safe to share between threads."""

    def __init__(self, repo: Repo, *, cached_trees: int = 4096) -> None:
        self._repo = repo
        self._lock = threading.Lock()
        # Parsed trees by id. Objects never change, so entries never go stale; the bound keeps
        # memory flat. Without it, every export re-parsed the big `functions/` tree: a first
        # tick over N deployments cost O(N^2).
        self._trees: OrderedDict[str, Entries] = OrderedDict()
        self._cached_trees = cached_trees

    def read(self, oid: str, kind: str) -> bytes:
        """The content of object `oid`, which must be of type `kind` (`blob`, `tree`, ...)."""
        if not _OBJECT_ID.fullmatch(oid):
            raise MissingObjectError(f"{oid!r} is not an object id")
        with self._lock:
            try:
                _, found, _, data = self._repo.git.get_object_data(oid)
            except ValueError as exc:  # cat-file answered "missing"
                raise MissingObjectError(f"no object {oid} in the repository") from exc
        found = os.fsdecode(found)  # GitPython hands the type back as bytes, typed as str
        if found != kind:
            raise MissingObjectError(f"{oid} is a {found}, not a {kind}")
        return data

    def size(self, oid: str) -> int:
        """The size of object `oid` in bytes, without reading it."""
        with self._lock:
            return self._repo.git.get_object_header(oid)[2]

    def root_tree(self, revision: Revision) -> str:
        """The id of the tree of commit `revision`."""
        try:
            header = self.read(revision.sha, "commit").split(b"\n", 1)[0]
        except MissingObjectError as exc:
            raise PermanentError(f"commit {revision.short} is not in the repository") from exc
        return header.removeprefix(b"tree ").decode()

    def entries(self, tree: str) -> Entries:
        """The entries of `tree`, parsed once while it stays among the recently used."""
        with self._lock:
            cached = self._trees.get(tree)
            if cached is not None:
                self._trees.move_to_end(tree)
                return cached
        parsed = _parse_tree(self.read(tree, "tree"), id_length=len(tree) // 2)
        with self._lock:
            self._trees[tree] = parsed
            if len(self._trees) > self._cached_trees:
                self._trees.popitem(last=False)
        return parsed

    def entry(self, root: str, path: str) -> tuple[int, str] | None:
        """Mode and id of `path` (normalised) below tree `root`, or None if absent."""
        found: tuple[int, str] | None = (TREE_MODE, root)
        for part in path.split("/") if path else ():
            if found is None or found[0] != TREE_MODE:
                return None
            found = self.entries(found[1]).get(part)
        return found

    def walk(self, tree: str, prefix: str = "") -> list[Listed]:
        """Every entry below `tree`, as `git ls-tree -r -t` lists them: a folder before its files.

        Read through the long-lived `cat-file`, so exporting a function costs no process.
        """
        listed: list[Listed] = []
        for name, (mode, oid) in self.entries(tree).items():
            path = f"{prefix}{name}"
            kind = "tree" if mode == TREE_MODE else "commit" if mode == GITLINK_MODE else "blob"
            listed.append(Listed(mode, kind, oid, path))
            if mode == TREE_MODE:
                listed.extend(self.walk(oid, f"{path}/"))
        return listed

    def tree_ids(self, revision: Revision, paths: Collection[str]) -> dict[str, str | None]:
        """The tree id of each folder in `paths` at `revision`, keyed as given."""
        root = self.root_tree(revision)
        ids: dict[str, str | None] = {}
        for path in paths:
            clean = normalise(path)
            found = None if clean is None else self.entry(root, clean)
            ids[path] = found[1] if found and found[0] == TREE_MODE else None
        return ids

    def commit_info(self, revision: Revision) -> CommitInfo:
        """What commit `revision` says about itself."""
        try:
            self.read(revision.sha, "commit")
        except MissingObjectError as exc:
            raise PermanentError(f"commit {revision.short} is not in the repository") from exc
        with self._lock:
            commit = Commit(self._repo, bytes.fromhex(revision.sha))
            message = commit.message
            return CommitInfo(
                revision=revision,
                parents=tuple(Revision(parent.hexsha) for parent in commit.parents),
                author=f"{commit.author.name} <{commit.author.email}>",
                committed_at=datetime.fromtimestamp(commit.committed_date, tz=UTC),
                message=message if isinstance(message, str) else message.decode(errors="replace"),
            )


def _parse_tree(data: bytes, *, id_length: int) -> Entries:
    # Each entry is `<octal mode> <name>\0<raw id>`. Names are only looked up, never written,
    # so they are taken as they are (unlike GitPython's parser, which refuses some).
    entries: Entries = {}
    offset = 0
    while offset < len(data):
        space = data.index(b" ", offset)
        end = data.index(b"\0", space)
        name = data[space + 1 : end].decode("utf-8", "surrogateescape")
        entries[name] = (int(data[offset:space], 8), data[end + 1 : end + 1 + id_length].hex())
        offset = end + 1 + id_length
    return entries


def is_executable(mode: int) -> bool:
    """Whether a tree entry's mode is git's executable file mode."""
    return stat.S_ISREG(mode) and bool(mode & 0o111)
