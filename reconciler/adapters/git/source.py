"""`GitSource`: the daemon's view of the Git repository of manifests (the `Source` port).

A local path (working copy or bare) is read in place and never changed by reading; a remote URL
is fetched into a bare cache under `cache_dir`. Everything is read at a commit, from the object
database, so uncommitted edits in a working copy are never deployed. Wired up by the CLI.
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from git import Repo
from git.exc import InvalidGitRepositoryError, NoSuchPathError

from reconciler.adapters.git.command import GitFailedError, classify, run_git
from reconciler.adapters.git.credentials import is_remote
from reconciler.adapters.git.export import write_tree
from reconciler.adapters.git.objects import (
    TREE_MODE,
    MissingObjectError,
    ObjectReader,
    normalise,
    parse_ls_tree,
)
from reconciler.adapters.git.remote import Remote
from reconciler.adapters.git.restore import (
    commit_tree,
    move_branch,
    require_clean,
    restored_tree,
    worktree_of,
)
from reconciler.domain.values import Revision
from reconciler.ports import CommitInfo, ManifestFile, PermanentError

_MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class _Opened:
    repo: Repo
    reader: ObjectReader
    directory: Path
    branch: str


class GitSource:
    """A Git repository of manifests, read at a commit; a context manager that closes its reader.

    With an https remote, the token in `$<token_env>` is answered to git's password prompt by
    a small `GIT_ASKPASS` script, as the password of user `x-access-token` (put another user in
    the URL if the host wants one): the token is never on a command line, in a URL or on disk.
    """

    def __init__(  # noqa: PLR0913 (the documented constructor of the adapter)
        self,
        repo: str,
        *,
        branch: str | None = None,
        path: str = "manifests/",
        cache_dir: Path,
        token_env: str = "RECONCILER_GIT_TOKEN",  # noqa: S107 (a variable name)
        ssh_key: Path | None = None,
        fetch_timeout: float = 120.0,
    ) -> None:
        self._remote = (
            Remote(
                repo,
                cache_dir=cache_dir,
                token_env=token_env,
                ssh_key=ssh_key,
                timeout=fetch_timeout,
            )
            if is_remote(repo)
            else None
        )
        self._local = Path(repo).expanduser().absolute()
        manifest_path = normalise(path)
        if manifest_path is None:
            raise PermanentError(f"the manifest path {path!r} leaves the repository")
        self._path = manifest_path
        self._branch = branch
        self._opened: _Opened | None = None
        self._open_lock = threading.Lock()
        self._fresh_clone = False

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the repository's reader processes; the source reopens itself if used again."""
        with self._open_lock:
            if self._opened is not None:
                self._opened.repo.close()
                self._opened = None

    def describe(self) -> str:
        """The repository for people and logs, credentials redacted."""
        return self._remote.describe() if self._remote else str(self._local)

    @property
    def branch(self) -> str:
        """The tracked branch: as given, else the remote's default or the checked-out one."""
        return self._open().branch

    def resolve(self, spec: str) -> Revision:
        """The commit a user's revision names (a sha, short or full, a branch, a tag, `HEAD~1`)."""
        opened = self._open()
        found = self._rev_parse(opened, f"{spec}^{{commit}}")
        if found is None and self._remote is not None:
            self._remote.fetch(opened.directory, opened.branch)  # perhaps newer than the cache
            found = self._rev_parse(opened, f"{spec}^{{commit}}")
        if found is None:
            raise PermanentError(f"{spec!r} names no commit in {self.describe()}")
        return found

    # --- the Source port ----------------------------------------------------------------------

    def current_revision(self) -> Revision:
        """Fetch if remote, and return the tip of the tracked branch."""
        opened = self._open()
        if self._remote is not None and not self._fresh_clone:
            self._remote.fetch(opened.directory, opened.branch)
        self._fresh_clone = False
        return self._tip(opened)

    def manifests_at(self, revision: Revision) -> Sequence[ManifestFile]:
        """Every `*.yaml`/`*.yml` blob under the manifest path at `revision`, by path, unread."""
        opened = self._open()
        found = opened.reader.entry(opened.reader.root_tree(revision), self._path)
        if found is None:
            return []
        mode, oid = found
        if mode != TREE_MODE:
            is_manifest = stat.S_ISREG(mode) and self._path.endswith(_MANIFEST_SUFFIXES)
            return [ManifestFile(self._path, oid, opened.reader.size(oid))] if is_manifest else []
        listing = self._git(opened, "ls-tree", "-r", "-l", "-z", oid, doing="cannot list")
        prefix = f"{self._path}/" if self._path else ""
        files = [
            ManifestFile(prefix + entry.path, entry.oid, entry.size or 0)
            for entry in parse_ls_tree(listing)
            # Regular files only: a symlink's blob is its target, and gitlinks are commits.
            if stat.S_ISREG(entry.mode) and entry.path.endswith(_MANIFEST_SUFFIXES)
        ]
        return sorted(files, key=lambda file: file.path)

    def read(self, blob_id: str) -> bytes:
        """The content of one blob."""
        opened = self._open()
        try:
            return opened.reader.read(blob_id, "blob")
        except MissingObjectError as exc:
            raise PermanentError(f"{exc} ({self.describe()})") from exc

    def tree_ids(self, revision: Revision, paths: Collection[str]) -> Mapping[str, str | None]:
        """Git's tree id of each folder in `paths` at `revision`; None where there is none."""
        return self._open().reader.tree_ids(revision, paths)

    def changed_paths(self, old: Revision, new: Revision) -> frozenset[str]:
        """Repository-relative paths of files that differ; a rename counts as both paths."""
        opened = self._open()
        out = self._git(
            opened,
            *("diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-commit-id"),
            *(old.sha, new.sha),
            doing=f"cannot compare {old.short} with {new.short}",
        )
        return frozenset(
            name.decode("utf-8", "surrogateescape") for name in out.split(b"\0") if name
        )

    def commits_between(self, old: Revision | None, new: Revision) -> Sequence[CommitInfo]:
        """Commits reachable from `new` and not from `old` (at most 100), newest first."""
        opened = self._open()
        if old is None:
            return [opened.reader.commit_info(new)]
        out = self._git(
            opened,
            *("rev-list", "--max-count=100", new.sha, f"^{old.sha}", "--"),
            doing=f"cannot list the commits from {old.short} to {new.short}",
        )
        return [opened.reader.commit_info(Revision(sha)) for sha in out.decode().split()]

    def commit(self, revision: Revision) -> CommitInfo:
        """What `revision` says about itself."""
        return self._open().reader.commit_info(revision)

    def export_tree(self, revision: Revision, path: str, destination: Path) -> None:
        """Write the folder `path` at `revision` into the existing, empty `destination`."""
        opened = self._open()
        folder = normalise(path)
        found = (
            None
            if folder is None
            else opened.reader.entry(opened.reader.root_tree(revision), folder)
        )
        if folder is None or found is None or found[0] != TREE_MODE:
            raise PermanentError(f"there is no folder {path!r} at {revision.short}")
        listed = opened.reader.walk(found[1])
        write_tree(opened.reader, listed, folder=folder, destination=destination)

    def restore(self, paths: Collection[str], *, to: Revision, message: str) -> Revision:
        """Commit `paths` as they are at `to` on top of the tracked branch; push when remote."""
        wanted = [normalise(path) for path in paths]
        clean = [path for path in wanted if path is not None]
        if not clean or len(clean) != len(wanted):
            raise PermanentError(f"cannot restore {sorted(paths)!r}: paths inside the repository")
        opened = self._open()
        opened.reader.root_tree(to)  # a missing target fails here, with its own message
        if self._remote is not None:
            self._remote.fetch(opened.directory, opened.branch)
        tip = self._tip(opened)
        worktree = None if self._remote else worktree_of(opened.directory, opened.branch)
        if worktree is not None:
            require_clean(worktree)

        def run(
            *args: str, env: Mapping[str, str] | None = None, stdin: Path | None = None
        ) -> bytes:
            return run_git(args, cwd=opened.directory, env=env, stdin=stdin)

        try:
            tree = restored_tree(run, tip=tip.sha, to=to.sha, paths=clean)
            if tree == opened.reader.root_tree(tip):
                return tip  # already as asked: an empty commit would only add noise
            new = commit_tree(run, tree=tree, parent=tip.sha, message=message)
        except GitFailedError as exc:
            doing = f"cannot build the restore commit in {self.describe()}"
            raise classify(exc, doing=doing, transient_by_default=False) from exc

        if self._remote is not None:
            self._remote.push(opened.directory, new=new, tip=tip.sha, branch=opened.branch)
        else:
            move_branch(opened.directory, opened.branch, new=new, tip=tip.sha, worktree=worktree)
        return Revision(new)

    # --- helpers ------------------------------------------------------------------------------

    def _open(self) -> _Opened:
        with self._open_lock:
            if self._opened is None:
                directory = self._local
                if self._remote is not None:
                    directory, self._fresh_clone = self._remote.cache(self._branch)
                try:
                    repo = Repo(directory)
                except NoSuchPathError as exc:
                    raise PermanentError(f"{self.describe()} does not exist") from exc
                except InvalidGitRepositoryError as exc:
                    raise PermanentError(f"{self.describe()} is not a git repository") from exc
                directory = Path(repo.working_tree_dir or repo.git_dir)
                branch = self._branch or self._checked_out_branch(directory)
                self._opened = _Opened(repo, ObjectReader(repo), directory, branch)
            return self._opened

    def _checked_out_branch(self, directory: Path) -> str:
        try:
            ref = run_git(["symbolic-ref", "-q", "HEAD"], cwd=directory).decode().strip()
        except GitFailedError as exc:
            raise PermanentError(
                f"HEAD of {self.describe()} is detached; pass --branch to name the branch to follow"
            ) from exc
        return ref.removeprefix("refs/heads/")

    def _rev_parse(self, opened: _Opened, spec: str) -> Revision | None:
        args = ["rev-parse", "--verify", "-q", "--end-of-options", spec]
        try:
            return Revision(run_git(args, cwd=opened.directory).decode().strip())
        except GitFailedError:
            return None

    def _tip(self, opened: _Opened) -> Revision:
        tip = self._rev_parse(opened, f"refs/heads/{opened.branch}^{{commit}}")
        if tip is None:
            raise PermanentError(f"branch {opened.branch!r} not found in {self.describe()}")
        return tip

    def _git(self, opened: _Opened, *args: str, doing: str, cwd: Path | None = None) -> bytes:
        try:
            return run_git(args, cwd=cwd or opened.directory)
        except GitFailedError as exc:
            raise classify(exc, doing=doing, transient_by_default=False) from exc
