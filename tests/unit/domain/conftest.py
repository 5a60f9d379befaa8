"""Fixtures shared by the domain tests: a fixed, timezone-aware `now`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


@pytest.fixture
def now() -> datetime:
    """The moment every domain test happens at; the domain never reads a clock."""
    return datetime(2025, 11, 26, 7, 0, tzinfo=UTC)
