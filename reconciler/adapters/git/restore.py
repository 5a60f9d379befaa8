"""Building a restore commit with plumbing only, then moving a local branch to it.

Used by `GitSource.restore`. A throwaway index (`GIT_INDEX_FILE`) starts as the branch tip's
tree; every entry under the restored paths is dropped and the entries of the same paths at the
target commit are added, all in one `update-index` call, however many files that is. No working
tree, user index or config is touched until the branch moves.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Protocol

from reconciler.adapters.git.command import GitFailedError, classify, run_git
from reconciler.adapters.git.objects import parse_ls_tree
from reconciler.ports import PermanentError

DEFAULT_NAME = "reconciler"
DEFAULT_EMAIL = "reconciler@localhost"


class Runner(Protocol):
    """Runs `git *args` in the repository, raising `GitFailedError`; returns stdout."""

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = ..., stdin: Path | None = ...
    ) -> bytes:
        """Run one command with extra `env` and, optionally, a file as its stdin."""
        ...


def restored_tree(run: Runner, *, tip: str, to: str, paths: Collection[str]) -> str:
    """The id of `tip`'s tree with each of `paths` (normalised; `""` is all) as it is at `to`."""
    with tempfile.TemporaryDirectory(prefix="reconciler-restore-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch, "index"))}
        run("read-tree", tip, env=env)
        pathspec = [] if "" in paths else ["--", *sorted(paths)]
        old = parse_ls_tree(run("ls-tree", "-r", "-z", "--full-tree", tip, *pathspec))
        new = parse_ls_tree(run("ls-tree", "-r", "-z", "--full-tree", to, *pathspec))
        # Mode 0 removes an entry; removals first, so a file can become a folder and back.
        null = "0" * len(tip)
        lines = [f"0 {null}\t{entry.path}" for entry in old]
        lines += [f"{entry.mode:o} {entry.oid}\t{entry.path}" for entry in new]
        info = Path(scratch, "index-info")
        info.write_bytes(
            b"".join(line.encode("utf-8", "surrogateescape") + b"\0" for line in lines)
        )
        run("update-index", "-z", "--index-info", env=env, stdin=info)
        return run("write-tree", env=env).decode().strip()


def commit_tree(run: Runner, *, tree: str, parent: str, message: str) -> str:
    """A new commit of `tree` on `parent` with `message` verbatim; returns its id."""
    identity = author_env(run)
    with tempfile.TemporaryDirectory(prefix="reconciler-commit-") as scratch:
        message_file = Path(scratch, "message")
        message_file.write_text(message, encoding="utf-8")
        out = run("commit-tree", tree, "-p", parent, "-F", str(message_file), env=identity)
    return out.decode().strip()


def author_env(run: Runner) -> Mapping[str, str]:
    """Author and committer from git config when set, else reconciler's own, as env vars."""
    try:
        out = run("config", "--get-regexp", r"^user\.(name|email)$").decode()
    except GitFailedError:  # exit 1: neither is set
        out = ""
    config = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    name = config.get("user.name", DEFAULT_NAME)
    email = config.get("user.email", DEFAULT_EMAIL)
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def worktree_of(repository: Path, branch: str) -> Path | None:
    """The working tree that has `branch` checked out, if any (a bare repository has none)."""
    listing = _run_or_raise(
        ["worktree", "list", "--porcelain"], cwd=repository, doing="cannot list worktrees"
    )
    worktree: Path | None = None
    for line in listing.decode("utf-8", "surrogateescape").splitlines():
        if line.startswith("worktree "):
            worktree = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}":
            return worktree
    return None


def require_clean(worktree: Path) -> None:
    """Refuse when tracked files in `worktree` differ from its index or HEAD."""
    status = _run_or_raise(
        ["--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=no"],
        cwd=worktree,
        doing=f"cannot read the status of {worktree}",
    )
    if status:
        raise PermanentError(
            f"the working tree of {worktree} has uncommitted changes; commit or stash them first"
        )


def move_branch(
    repository: Path, branch: str, *, new: str, tip: str, worktree: Path | None
) -> None:
    """Move local `branch` from `tip` to `new`, updating its files when it is checked out."""
    if worktree is not None:
        # Updates the files too, as a pull would; refuses if the branch moved meanwhile.
        _run_or_raise(
            ["merge", "--ff-only", "--quiet", new],
            cwd=worktree,
            doing=f"cannot fast-forward {branch!r} in {worktree}",
        )
    else:
        # A compare-and-swap: a commit made since `tip` was read makes this fail.
        _run_or_raise(
            ["update-ref", "-m", "reconciler: restore", f"refs/heads/{branch}", new, tip],
            cwd=repository,
            doing=f"cannot move {branch!r} in {repository}",
        )


def _run_or_raise(args: list[str], *, cwd: Path, doing: str) -> bytes:
    try:
        return run_git(args, cwd=cwd)
    except GitFailedError as exc:
        raise classify(exc, doing=doing, transient_by_default=False) from exc
