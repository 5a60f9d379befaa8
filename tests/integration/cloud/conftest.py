"""A real local cloud per test module: a detached host process in a temporary state dir."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cloudkit import Cloud

from reconciler.adapters.local.cloud import LocalCloud
from reconciler.adapters.local.engine import LocalEngine


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    state_dir = tmp_path_factory.mktemp("state")
    cloud = LocalCloud(state_dir, idle_timeout=60.0, max_workers=2)
    yield Cloud(cloud=cloud, engine=LocalEngine(state_dir, cloud=cloud))
    cloud.stop()
