"""Real repositories for the `GitSource` tests: built with the git command, in tmp folders."""

from __future__ import annotations

import base64
import http.server
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from reconciler.domain.values import Revision

MARKER_TOKEN = "tok-3f9c1e7d-never-leak"  # noqa: S105 (a marker to search for, not a secret)


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` and return its stdout, stripped; fail the test on error."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


class Repo:
    """A repository in a folder: a working copy, or bare with a scratch clone to commit from."""

    def __init__(self, root: Path, *, bare: bool = False, branch: str = "main") -> None:
        self.root = root
        self.bare = bare
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "--quiet", f"--initial-branch={branch}", *(["--bare"] if bare else []))
        if not bare:
            identify(root)

    @property
    def url(self) -> str:
        """The repository as a `file://` URL."""
        return self.root.as_uri()

    def write(self, files: dict[str, str | bytes | None]) -> None:
        """Write (None: delete) files in the working copy; `@link:` text makes a symlink."""
        for name, content in files.items():
            path = self.root / name
            if content is None:
                git(self.root, "rm", "-r", "--quiet", "--", name)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink() or path.exists():
                path.unlink()
            if isinstance(content, str) and content.startswith("@link:"):
                path.symlink_to(content.removeprefix("@link:"))
            else:
                path.write_bytes(content.encode() if isinstance(content, str) else content)

    def commit(self, files: dict[str, str | bytes | None], message: str = "change") -> Revision:
        """Commit `files` on top of the current branch and return the new commit."""
        self.write(files)
        git(self.root, "add", "--all")
        git(self.root, "commit", "--quiet", "--allow-empty", "-m", message)
        return self.head()

    def head(self, ref: str = "HEAD") -> Revision:
        """The commit `ref` points at."""
        return Revision(git(self.root, "rev-parse", ref))

    def show(self, revision: Revision | str, path: str) -> str:
        """A file's content at `revision`."""
        return git(self.root, "show", f"{revision}:{path}")


def identify(root: Path) -> None:
    """Give a repository its own author, so commits never depend on the machine's config."""
    git(root, "config", "user.name", "Test Author")
    git(root, "config", "user.email", "author@example.com")


def push_commit(origin: Path, tmp: Path, files: dict[str, str | bytes | None]) -> Revision:
    """Commit `files` to `origin`'s default branch from a throwaway clone, as a colleague would."""
    clone = tmp / f"colleague-{len(list(tmp.glob('colleague-*')))}"
    git(tmp, "clone", "--quiet", str(origin), str(clone))
    identify(clone)
    work = Repo.__new__(Repo)
    work.root, work.bare = clone, False
    revision = work.commit(files, "colleague's change")
    git(clone, "push", "--quiet", "origin", "HEAD")
    return revision


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


class _AuthHandler(http.server.SimpleHTTPRequestHandler):
    expected = ""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def dumb_http_server(bare: Path, *, token: str) -> Iterator[str]:
    """Serve `bare` over git's dumb HTTP protocol, only to `x-access-token:<token>`."""
    git(bare, "update-server-info")

    class Handler(_AuthHandler):
        expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Handler, directory=str(bare.parent))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{bare.name}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def files_under(folder: Path) -> dict[str, str]:
    """Every entry below `folder`: file text, `@link:target` or `dir`, by relative path."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[name] = f"@link:{path.readlink()}"
        elif path.is_dir():
            found[name] = "dir"
        else:
            found[name] = path.read_text()
    return found
