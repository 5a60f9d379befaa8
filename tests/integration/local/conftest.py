"""Fixtures for driving real worker pools: one event loop per test, every pool closed after it."""

import asyncio
import shutil
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from reconciler.adapters.local.functions.workers import FunctionConfig, FunctionPool

_NODE = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")


@pytest.fixture(params=[pytest.param("python"), pytest.param("node", marks=_NODE)])
def lang(request: pytest.FixtureRequest) -> str:
    """Runs a test once per runtime family."""
    return str(request.param)


@pytest.fixture
def run() -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    """Runs coroutines on one event loop that lives as long as the test."""
    with asyncio.Runner() as runner:
        yield runner.run


@pytest.fixture
def make_pool(
    run: Callable[[Coroutine[Any, Any, Any]], Any],
) -> Iterator[Callable[..., FunctionPool]]:
    """Creates pools that are closed, with their worker processes, when the test ends."""
    pools: list[FunctionPool] = []

    def make(config: FunctionConfig, **options: Any) -> FunctionPool:
        pool = FunctionPool(config, **options)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        run(pool.close())
