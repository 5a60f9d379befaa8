"""A plan: the typed changes an engine would make to bring live state to the desired spec."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChangeAction(StrEnum):
    """What an engine would do to one resource."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Change:
    """One resource to change, with the property paths that differ (empty for create/delete)."""

    resource: str
    action: ChangeAction
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """Every change an apply would make; empty when live already matches."""

    changes: tuple[Change, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when an apply would change nothing."""
        return not self.changes

    @property
    def is_destructive(self) -> bool:
        """True when a resource would be replaced or deleted."""
        destructive = {ChangeAction.REPLACE, ChangeAction.DELETE}
        return any(change.action in destructive for change in self.changes)
