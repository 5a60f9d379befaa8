"""Validate manifest files on disk: the folder walk and the checks that need the file system.

Used by `reconciler validate`. The reconcile loop reads manifests from Git instead and runs the
same parser (`loader`) on the blobs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from reconciler.domain.values import Runtime
from reconciler.manifest import loader
from reconciler.manifest.errors import ManifestError

MANIFEST_SUFFIXES = (".yaml", ".yml")

_MODULE_SUFFIXES = {"python": (".py", "/__init__.py"), "node": (".js", ".mjs", ".cjs")}


def find_root(path: Path) -> Path:
    """The Git repository holding `path`, or the folder itself when it is in none."""
    start = path.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start if start.is_dir() else start.parent


def manifest_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and every YAML file under the folders named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    child
                    for child in path.rglob("*")
                    if child.suffix in MANIFEST_SUFFIXES and child.is_file()
                )
            )
        else:
            found.append(path)
    return found


def validate(paths: Iterable[Path], *, root: Path) -> loader.LoadResult:
    """Read, parse and check every manifest under `paths`; `root` is the repository."""
    root = root.resolve()
    parsed = loader.LoadResult()
    for path in manifest_files(paths):
        parsed.extend(_read(path, root=root))
    result = loader.LoadResult(errors=parsed.errors)
    for manifest in parsed.manifests:
        errors = _check_source(manifest, root=root)
        result.errors.extend(errors)
        if not errors:
            result.manifests.append(manifest)
    duplicates = list(loader.duplicate_names(result.manifests))
    result.errors.extend(error for _, error in duplicates)
    taken = {id(manifest) for manifest, _ in duplicates}
    result.manifests = [m for m in result.manifests if id(m) not in taken]
    return result


def _read(path: Path, *, root: Path) -> loader.LoadResult:
    file = str(path)
    try:
        location = PurePosixPath(path.resolve().relative_to(root).as_posix())
    except ValueError:
        return _unreadable(file, f"is outside the repository {root}")
    try:
        # Refuse before reading: a huge file must not cost its size in memory.
        too_large = loader.size_error(path.stat().st_size)
        if too_large:
            return _unreadable(file, too_large)
        data = path.read_bytes()
    except OSError as exc:
        return _unreadable(file, f"cannot read: {exc.strerror or exc}")
    return loader.parse_bytes(data, file=file, location=location)


def _check_source(manifest: loader.LoadedManifest, *, root: Path) -> list[ManifestError]:
    function = manifest.spec.function
    source_path = ("spec", "function", "source")
    folder = root / function.source
    if not folder.exists():
        return [manifest.error(source_path, f"folder {function.source} does not exist")]
    if not folder.resolve().is_relative_to(root):
        return [manifest.error(source_path, f"{function.source} links outside the repository")]
    if not folder.is_dir():
        return [manifest.error(source_path, f"{function.source} is not a folder")]
    for child in folder.rglob("*"):
        if child.is_symlink() and not child.resolve().is_relative_to(root):
            inside = child.relative_to(root).as_posix()
            return [manifest.error(source_path, f"{inside} links outside the repository")]
    module = function.handler.rsplit(".", 1)[0]
    if Runtime(function.runtime).language == "python":
        module = module.replace(".", "/")
    candidates = [f"{module}{suffix}" for suffix in _MODULE_SUFFIXES[function.runtime.language]]
    if any((folder / candidate).is_file() for candidate in candidates):
        return []
    looked = ", ".join(candidates)
    return [
        manifest.error(
            ("spec", "function", "handler"),
            f"handler module not found in {function.source} (looked for {looked})",
        )
    ]


def _unreadable(file: str, message: str) -> loader.LoadResult:
    return loader.LoadResult(errors=[ManifestError(file, 1, 1, "", message)])
