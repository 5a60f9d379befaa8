"""A remote repository and its bare cache: cloned once, fetched per branch, pushed to.

Used by `GitSource` for `https://`, `ssh://`, `git@host:` and `file://` repositories. The URL
is passed on each command and never written to the cache's config, and the fetch of one branch
is all a poll costs. Every network command is bounded by the fetch timeout.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from pathlib import Path

from reconciler.adapters.git.command import GitFailedError, classify, run_git
from reconciler.adapters.git.credentials import Credentials, cache_folder_name, redact
from reconciler.ports import PermanentError

# `git ls-remote --symref` names the branch HEAD points at on a line of its own.
_HEAD_SYMREF = re.compile(r"^ref: refs/heads/(\S+)\tHEAD$", re.MULTILINE)


class Remote:
    """One remote URL, the credentials to reach it, and its cache folder."""

    def __init__(
        self, url: str, *, cache_dir: Path, token_env: str, ssh_key: Path | None, timeout: float
    ) -> None:
        self._url = url
        self._cache_dir = cache_dir
        self._credentials = Credentials(
            url, cache_dir=cache_dir, token_env=token_env, ssh_key=ssh_key
        )
        self._timeout = timeout

    def describe(self) -> str:
        """The URL for people and logs, credentials redacted."""
        return redact(self._url)

    def cache(self, branch: str | None) -> tuple[Path, bool]:
        """The cache folder, cloned first if missing; and whether it was cloned just now."""
        target = self._cache_dir / cache_folder_name(self._url)
        if target.is_dir():
            return target, False
        self._cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The default branch is read once, as `git clone` does, and kept as the cache's HEAD.
        branch = branch or self._default_branch()
        # Built aside and renamed into place: a half-done clone is never taken for a cache.
        scratch = Path(tempfile.mkdtemp(prefix=".clone-", dir=self._cache_dir))
        try:
            try:
                run_git(["init", "--bare", "--quiet", str(scratch)], cwd=self._cache_dir)
                run_git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], cwd=scratch)
            except GitFailedError as exc:
                doing = f"cannot make a cache for {branch!r} of {self.describe()}"
                raise classify(exc, doing=doing, transient_by_default=False) from exc
            self.fetch(scratch, branch)
            scratch.rename(target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return target, True

    def fetch(self, cache: Path, branch: str) -> None:
        """Bring `branch` of the cache up to date with the remote (following force-pushes)."""
        # Only the tracked branch: the cache stays small however many branches the remote has.
        refspec = f"+refs/heads/{branch}:refs/heads/{branch}"
        self._run(
            ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", self._url, refspec],
            cwd=cache,
            doing=f"cannot fetch {branch!r} from {self.describe()}",
        )

    def push(self, cache: Path, *, new: str, tip: str, branch: str) -> None:
        """Move `branch` on the remote from `tip` to `new`, and the cache with it."""
        ref = f"refs/heads/{branch}"
        # A compare-and-swap on the remote tip: anything pushed meanwhile makes this fail.
        lease = f"--force-with-lease={ref}:{tip}"
        self._run(
            ["push", "--quiet", "--porcelain", lease, self._url, f"{new}:{ref}"],
            cwd=cache,
            doing=f"cannot push to {branch!r} of {self.describe()}",
        )
        # Should this fail, the next fetch brings the cache up to date all the same.
        with contextlib.suppress(GitFailedError):
            run_git(["update-ref", ref, new, tip], cwd=cache)

    def _default_branch(self) -> str:
        out = self._run(
            ["ls-remote", "--symref", self._url, "HEAD"],
            cwd=self._cache_dir,
            doing=f"cannot reach {self.describe()}",
        ).decode()
        symref = _HEAD_SYMREF.search(out)
        if symref:
            return symref.group(1)
        raise PermanentError(
            f"cannot tell the default branch of {self.describe()} (is it empty?); pass --branch"
        )

    def _run(self, args: list[str], *, cwd: Path, doing: str) -> bytes:
        env = self._credentials.env()
        token = self._credentials.token()
        try:
            return run_git(args, cwd=cwd, env=env, timeout=self._timeout)
        except GitFailedError as exc:
            raise classify(exc, doing=doing, hint=self._hint(), secrets=[token]) from exc

    def _hint(self) -> str:
        name = self._credentials.token_env
        scheme = self._url.lower().split("://", 1)[0]
        if scheme in ("https", "http"):
            return f"check the token in ${name}" if self._credentials.token() else f"set ${name}"
        if scheme == "file":
            return "check the repository URL"
        return "check the URL and that the ssh key is authorised"
