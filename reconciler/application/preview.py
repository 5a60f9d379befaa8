"""`reconciler plan`: what merging one revision over another would change, read from Git only.

For a PR check in CI: no engine, no cloud, no credentials. Each deployment's manifest and
function source are compared between the two revisions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from reconciler.application.desired import DesiredReader, Snapshot, Wanted
from reconciler.domain.values import Revision


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """What would happen to one deployment."""

    name: str
    action: str
    """`create`, `update`, `destroy`, `keep` (removed without prune) or `reject`."""
    changes: tuple[str, ...]
    """Changed spec fields, and `function.source (code)` when the function code changed."""

    def as_json(self) -> dict[str, Any]:
        """The JSON shape `reconciler plan -o json` prints."""
        return {"name": self.name, "action": self.action, "changes": list(self.changes)}


def plan(reader: DesiredReader, *, base: Revision, head: Revision) -> list[PlannedChange]:
    """Every deployment whose manifest or source differs between `base` and `head`."""
    before, after = reader.read_at(base), reader.read_at(head)
    planned: list[PlannedChange] = []
    for name in sorted(before.wanted.keys() | after.wanted.keys()):
        old, new = before.wanted.get(name), after.wanted.get(name)
        if new is None:
            assert old is not None  # noqa: S101  # the name came from one of the two
            prune = old.spec.policy.prune
            planned.append(PlannedChange(name, "destroy" if prune else "keep", ()))
        elif old is None:
            planned.append(PlannedChange(name, "create", ()))
        elif old.fingerprint != new.fingerprint:
            planned.append(PlannedChange(name, "update", _changed_fields(old, new)))
    planned.extend(_rejections(after))
    return planned


def _rejections(snapshot: Snapshot) -> list[PlannedChange]:
    return [
        PlannedChange(file, "reject", tuple(str(error) for error in errors))
        for file, errors in sorted(snapshot.rejected.items())
    ]


def _changed_fields(old: Wanted, new: Wanted) -> tuple[str, ...]:
    changed = sorted(_diff(asdict(old.spec), asdict(new.spec), prefix=""))
    if old.source_tree != new.source_tree:
        changed.append("function.source (code)")
    return tuple(changed)


def _diff(old: object, new: object, *, prefix: str) -> set[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        found: set[str] = set()
        for key in old.keys() | new.keys():
            path = f"{prefix}.{key}" if prefix else str(key)
            found |= _diff(old.get(key), new.get(key), prefix=path)
        return found
    return set() if old == new else {prefix}
