"""Fixtures for the `GitSource` tests: git isolated from the machine, sources always closed."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gitkit import Repo, git

from reconciler.adapters.git.source import GitSource


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No global or system git config, no inherited repository or credentials."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_SSH_COMMAND",
        "GIT_CONFIG_COUNT",
        "RECONCILER_GIT_TOKEN",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def work(tmp_path: Path) -> Repo:
    """A working copy on `main` with two manifests and a function folder."""
    repo = Repo(tmp_path / "work")
    repo.commit(
        {
            "manifests/a.yaml": "name: a\n",
            "manifests/team/b.yml": "name: b\n",
            "functions/a/app.py": "print('a')\n",
        },
        "first",
    )
    return repo


@pytest.fixture
def origin(tmp_path: Path, work: Repo) -> Repo:
    """A bare repository holding `work`'s history, as a Git server would."""
    bare = Repo(tmp_path / "origin.git", bare=True)
    git(work.root, "push", "--quiet", str(bare.root), "main")
    return bare


@pytest.fixture
def make_source(tmp_path: Path) -> Iterator[Callable[..., GitSource]]:
    """Builds sources on a per-test cache folder, and closes every one after the test."""
    sources: list[GitSource] = []

    def make(repo: str | Path, **options: Any) -> GitSource:
        options.setdefault("cache_dir", tmp_path / "cache")
        source = GitSource(str(repo), **options)
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.close()
