"""Drift findings: one property of one live resource that no longer matches what was applied."""

from __future__ import annotations

from dataclasses import dataclass

SECRET_MASK = "[secret]"  # noqa: S105  # the placeholder shown instead of a secret, not one


@dataclass(frozen=True, slots=True)
class DriftFinding:
    """A difference between the applied state and what is live.

    A finding about a secret masks both values when it is built, so no later log line, event
    or stored row can carry the secret.
    """

    resource: str
    path: str
    desired: object
    live: object
    secret: bool = False

    def __post_init__(self) -> None:
        if self.secret:
            object.__setattr__(self, "desired", SECRET_MASK)
            object.__setattr__(self, "live", SECRET_MASK)
