"""What Git asks for at one revision: valid specs with their fingerprints, and rejected files.

Read through the `Source` port and parsed with `reconciler.manifest`. Work is scoped to what
changed: parsed files are cached by blob id and source tree ids are looked up again only for
folders a commit touched, so a tick over a large repository costs what the commit changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from reconciler.domain.planning import Desired
from reconciler.domain.values import DeploymentSpec, Fingerprint, Provider, Revision
from reconciler.manifest import loader
from reconciler.manifest.errors import ManifestError
from reconciler.ports import ManifestFile, Source

ProgramVersions = Callable[[Provider], str]


@dataclass(frozen=True, slots=True)
class Wanted:
    """One valid manifest document at one revision."""

    spec: DeploymentSpec
    manifest_path: str
    source_tree: str
    fingerprint: Fingerprint

    @property
    def desired(self) -> Desired:
        """The planning view of this manifest."""
        return Desired(spec=self.spec, fingerprint=self.fingerprint)


@dataclass(slots=True)
class Snapshot:
    """Everything the manifests say at one revision."""

    revision: Revision
    wanted: dict[str, Wanted] = field(default_factory=dict)
    """Valid deployments by name."""
    rejected: dict[str, list[ManifestError]] = field(default_factory=dict)
    """Errors by manifest path; every other file still counts."""
    source_trees: dict[str, str | None] = field(default_factory=dict)
    """Tree id of every function source folder, kept for the next revision."""


class DesiredReader:
    """Reads snapshots, reusing what the previous one already knew."""

    def __init__(self, source: Source, *, program_versions: ProgramVersions) -> None:
        self._source = source
        self._program_versions = program_versions
        self._parsed: dict[tuple[str, str], loader.LoadResult] = {}
        self._fingerprints: dict[tuple[str, str, str, str], Fingerprint] = {}
        self._last: Snapshot | None = None

    def read(self, revision: Revision) -> Snapshot:
        """The snapshot at `revision`; the one before it narrows the work to what changed."""
        last = self._last
        if last is not None and last.revision == revision:
            return last
        files = self._source.manifests_at(revision)
        blobs = {file.path: file.blob_id for file in files}
        snapshot = Snapshot(revision)
        parsed = self._parse(files, snapshot)
        duplicates = list(loader.duplicate_names(parsed))
        for manifest, error in duplicates:
            snapshot.rejected.setdefault(manifest.file, []).append(error)
        taken = {id(manifest) for manifest, _ in duplicates}
        valid = [manifest for manifest in parsed if id(manifest) not in taken]
        self._look_up_trees(valid, snapshot, last=last)
        fingerprints: dict[tuple[str, str, str, str], Fingerprint] = {}
        for manifest in valid:
            self._want(manifest, snapshot, blob=blobs[manifest.file], fingerprints=fingerprints)
        self._fingerprints = fingerprints
        self._last = snapshot
        return snapshot

    def read_at(self, revision: Revision) -> Snapshot:
        """A snapshot of an older revision (for rollbacks), without disturbing the cache order."""
        last = self._last
        try:
            self._last = None
            return self.read(revision)
        finally:
            self._last = last

    def _parse(
        self, files: Iterable[ManifestFile], snapshot: Snapshot
    ) -> list[loader.LoadedManifest]:
        parsed: list[loader.LoadedManifest] = []
        fresh: dict[tuple[str, str], loader.LoadResult] = {}
        for file in files:
            key = (file.path, file.blob_id)
            result = self._parsed.get(key) or self._parse_file(file)
            fresh[key] = result
            parsed.extend(result.manifests)
            if result.errors:
                snapshot.rejected.setdefault(file.path, []).extend(result.errors)
        # Keep only what the latest revision has: the cache never outgrows the repository.
        self._parsed = fresh
        return parsed

    def _parse_file(self, file: ManifestFile) -> loader.LoadResult:
        location = PurePosixPath(file.path)
        too_large = loader.size_error(file.size)
        if too_large:
            return loader.LoadResult(errors=[ManifestError(file.path, 1, 1, "", too_large)])
        return loader.parse_bytes(
            self._source.read(file.blob_id), file=file.path, location=location
        )

    def _look_up_trees(
        self, manifests: list[loader.LoadedManifest], snapshot: Snapshot, *, last: Snapshot | None
    ) -> None:
        folders = {manifest.spec.function.source for manifest in manifests}
        if last is None:
            stale = folders
        else:
            touched = _folders_of(self._source.changed_paths(last.revision, snapshot.revision))
            stale = {
                folder for folder in folders if folder not in last.source_trees or folder in touched
            }
        known = {} if last is None else last.source_trees
        snapshot.source_trees = {folder: known.get(folder) for folder in folders - stale}
        if stale:
            snapshot.source_trees.update(self._source.tree_ids(snapshot.revision, stale))

    def _want(
        self,
        manifest: loader.LoadedManifest,
        snapshot: Snapshot,
        *,
        blob: str,
        fingerprints: dict[tuple[str, str, str, str], Fingerprint],
    ) -> None:
        spec = manifest.spec
        tree = snapshot.source_trees.get(spec.function.source)
        if tree is None:
            error = manifest.error(
                ("spec", "function", "source"),
                f"folder {spec.function.source} does not exist at {snapshot.revision.short}",
            )
            snapshot.rejected.setdefault(manifest.file, []).append(error)
            return
        # Same file content, same source tree: the same fingerprint as last time, not recomputed.
        key = (manifest.file, blob, spec.name, tree)
        fingerprint = self._fingerprints.get(key) or Fingerprint.compute(
            spec, source_tree=tree, program_version=self._program_versions(spec.provider)
        )
        fingerprints[key] = fingerprint
        snapshot.wanted[spec.name] = Wanted(
            spec=spec, manifest_path=manifest.file, source_tree=tree, fingerprint=fingerprint
        )


def _folders_of(paths: frozenset[str]) -> set[str]:
    """Every folder that holds one of `paths`, at any depth: a set lookup per source folder."""
    folders: set[str] = set()
    for path in paths:
        parent = PurePosixPath(path).parent
        while str(parent) != "." and str(parent) not in folders:
            folders.add(str(parent))
            parent = parent.parent
    return folders
