"""Fixtures shared across folders.

Pytest also puts this folder on the import path, so kits like `loopkit` and `builders` import
from any test module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loopkit import GitRepo

from reconciler.adapters.local.cloud import LocalCloud


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """A fresh Git repository of manifests."""
    return GitRepo(tmp_path / "repo")


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh state dir; its local cloud, if one was started, is stopped afterwards."""
    state = tmp_path / "state"
    yield state
    LocalCloud(state).stop()
