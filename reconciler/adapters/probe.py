"""The health probe: GET a URL until it answers the expected status or time runs out."""

from __future__ import annotations

import time

import httpx


class HttpProbe:
    """Asks freshly applied REST APIs whether they serve, with httpx."""

    def __init__(self, *, interval: float = 0.5) -> None:
        self._interval = interval

    def check(self, url: str, *, expect_status: int, timeout: float) -> str | None:
        """None once `url` answers `expect_status`; otherwise the last thing that went wrong."""
        deadline = time.monotonic() + timeout
        problem = "no answer"
        with httpx.Client(timeout=min(10.0, timeout), follow_redirects=False) as client:
            while True:
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                else:
                    if status == expect_status:
                        return None
                    problem = f"answered {status}, expected {expect_status}"
                if time.monotonic() + self._interval > deadline:
                    return problem
                time.sleep(self._interval)
