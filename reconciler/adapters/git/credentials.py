"""Where a repository lives and how git authenticates to it, without a secret touching disk.

Used by `GitSource`: it tells remote URLs from local paths, names the cache folder of a remote,
builds the environment of network commands and redacts credentials from every message.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from pathlib import Path

from reconciler.ports import PermanentError

_SCHEME_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# git's scp-like syntax, `user@host:org/repo.git`: a colon before any slash.
_SCP_LIKE = re.compile(r"^[^/:]{2,}:")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")

# The token travels in this variable of the git process only; the script below names it,
# so neither the script nor any git config ever holds the value.
TOKEN_VARIABLE = "RECONCILER_GIT_ASKPASS_TOKEN"  # noqa: S105 (a variable name, not a secret)
ASKPASS_SCRIPT = f"""#!/bin/sh
# Written by reconciler: answers git's https credential prompts from the environment.
case "$1" in
  Username*) printf '%s\\n' x-access-token ;;
  *) printf '%s\\n' "${TOKEN_VARIABLE}" ;;
esac
"""


def is_remote(repo: str) -> bool:
    """Whether `repo` is a URL (`https://`, `ssh://`, `file://`, `git@host:path`), not a path."""
    return bool(_SCHEME_URL.match(repo) or _SCP_LIKE.match(repo))


def redact(text: str, *secrets: str) -> str:
    """`text` with URL userinfo and any of `secrets` replaced by `***`."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def cache_folder_name(url: str) -> str:
    """A stable cache folder name for `url`: its readable tail and a hash, credentials left out."""
    bare_url = _USERINFO.sub(r"\g<scheme>", url)
    digest = hashlib.sha256(bare_url.encode()).hexdigest()[:16]
    tail = re.sub(r"[^A-Za-z0-9._-]", "-", bare_url.rstrip("/").rsplit("/", 1)[-1].split(":")[-1])
    tail = tail.removesuffix(".git")[:40] or "repo"
    return f"{tail}-{digest}.git"


class Credentials:
    """The environment a network git command needs for one remote: a token or an ssh key."""

    def __init__(self, url: str, *, cache_dir: Path, token_env: str, ssh_key: Path | None) -> None:
        self._url = url
        self._cache_dir = cache_dir
        self._token_env = token_env
        self._ssh_key = ssh_key
        self._is_http = url.lower().startswith(("https://", "http://"))

    @property
    def token_env(self) -> str:
        """The name of the variable the token is read from, for hints in messages."""
        return self._token_env

    def token(self) -> str:
        """The token as set right now (empty when unset): read per command, so rotation works."""
        return os.environ.get(self._token_env, "") if self._is_http else ""

    def env(self) -> dict[str, str]:
        """Variables to add to a network git command's environment."""
        env: dict[str, str] = {}
        token = self.token()
        if token:
            env["GIT_ASKPASS"] = str(self._askpass())
            env[TOKEN_VARIABLE] = token
            # A credential helper would answer before GIT_ASKPASS is asked; an empty
            # `credential.helper` clears the list, appended after any caller's own entries.
            count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or "0")
            env["GIT_CONFIG_COUNT"] = str(count + 1)
            env[f"GIT_CONFIG_KEY_{count}"] = "credential.helper"
            env[f"GIT_CONFIG_VALUE_{count}"] = ""
        if self._ssh_key is not None and not self._is_http:
            if not self._ssh_key.is_file():
                raise PermanentError(f"the ssh key {self._ssh_key} does not exist")
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {shlex.quote(str(self._ssh_key))} -o IdentitiesOnly=yes -o BatchMode=yes"
            )
        return env

    def _askpass(self) -> Path:
        script = self._cache_dir / "askpass.sh"
        if not script.is_file() or script.read_text() != ASKPASS_SCRIPT:
            self._cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial = script.with_suffix(".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
            with os.fdopen(fd, "w") as handle:
                handle.write(ASKPASS_SCRIPT)
            partial.chmod(0o700)
            partial.replace(script)
        return script
