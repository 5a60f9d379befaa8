"""Helpers for the local cloud tests: requests from YAML, revisions, free ports, copies."""

from __future__ import annotations

import hashlib
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.adapters.local.cloud import LocalCloud
from reconciler.adapters.local.engine import PROGRAM_VERSION, LocalEngine
from reconciler.domain.values import Fingerprint, Revision
from reconciler.manifest import loader
from reconciler.ports import ApplyRequest, ApplyResult

FUNCTIONS = Path(__file__).parent.parent.parent / "fixtures" / "cloud"


def revision(label: str) -> Revision:
    """A valid commit id, the same for the same label."""
    return Revision(hashlib.sha1(label.encode(), usedforsecurity=False).hexdigest())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request_for(
    manifest: str,
    *,
    source: Path,
    label: str = "one",
    secrets: Mapping[str, str] | None = None,
) -> ApplyRequest:
    """An apply request for a manifest written as YAML, with its source folder."""
    result = loader.parse_text(manifest, file="test.yaml", location=PurePosixPath("m.yaml"))
    assert result.errors == [], result.errors
    (parsed,) = result.manifests
    spec = parsed.spec
    return ApplyRequest(
        spec=spec,
        revision=revision(label),
        fingerprint=Fingerprint.compute(spec, source_tree=label, program_version=PROGRAM_VERSION),
        source_dir=source,
        secrets=dict(secrets or {}),
    )


@dataclass
class Cloud:
    """The host, an engine on it, and a helper to deploy with."""

    cloud: LocalCloud
    engine: LocalEngine

    def deploy(self, manifest: str, *, source: Path, **kwargs: object) -> ApplyResult:
        return self.engine.apply(request_for(manifest, source=source, **kwargs))  # type: ignore[arg-type]


def copy_function(name: str, destination: Path) -> Path:
    """A private copy of a fixture function, free to edit."""
    target = destination / name
    shutil.copytree(FUNCTIONS / name, target)
    return target
