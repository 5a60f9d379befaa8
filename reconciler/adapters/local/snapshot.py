"""What a deployment looks like as comparable fields, and how two such views differ.

`LocalEngine.plan` compares the desired registration with what is live; `detect_drift` compares
the recorded applied state with what is live. Both use these paths, named as in the manifest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.adapters.local.registration import Function, Gateway

_SKIPPED_DIRS = frozenset({"__pycache__", ".git"})


@dataclass(frozen=True, slots=True)
class Field:
    """One comparable value, and whether it stands for a secret (shown masked)."""

    value: object
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Difference:
    """A path whose value differs between two snapshots (None: absent on that side)."""

    path: str
    desired: object
    live: object
    secret: bool


Snapshot = dict[str, Field]


def snapshot(
    function: Function,
    gateway: Gateway,
    *,
    port: int | None,
    secret_digests: Mapping[str, str],
    code_digest: str | None,
) -> Snapshot:
    """The fields of a deployment that matter, by manifest path; `port=None` is not compared."""
    fields: Snapshot = {
        "function.runtime": Field(function.runtime),
        "function.handler": Field(function.handler),
        "function.memoryMb": Field(function.memory_mb),
        "function.timeoutSeconds": Field(function.timeout_seconds),
        "function.code": Field(code_digest[:12] if code_digest else "missing"),
        "routes": Field(tuple(gateway.routes)),
        "routeSelectionExpression": Field(gateway.route_selection_expression),
        "stage": Field(gateway.stage),
        "cors": Field(gateway.cors.model_dump() if gateway.cors else None),
    }
    if port is not None:
        fields["local.port"] = Field(port)
    for name, value in function.environment.items():
        fields[f"function.environment.{name}"] = Field(value)
    for name, digest in secret_digests.items():
        fields[f"function.environment.{name}"] = Field(digest, secret=True)
    return fields


def resource_of(path: str) -> str:
    """Which part of a deployment a path belongs to: the function or its gateway."""
    return "function" if path.startswith("function.") else "gateway"


def differences(desired: Snapshot, live: Snapshot) -> list[Difference]:
    """Every path whose value differs, in path order."""
    found: list[Difference] = []
    for path in sorted(desired.keys() | live.keys()):
        want, have = desired.get(path), live.get(path)
        if want is not None and have is not None and want.value == have.value:
            continue
        found.append(
            Difference(
                path=path,
                desired=want.value if want else None,
                live=have.value if have else None,
                secret=bool((want and want.secret) or (have and have.secret)),
            )
        )
    return found


def tree_digest(folder: Path) -> str | None:
    """A digest of every file's path and bytes below `folder`; None when it does not exist.

    Bytecode caches are skipped: the Python runtime writes them next to the code it imports.
    """
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            digest.update(f"{relative}\0{os.access(path, os.X_OK):d}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
