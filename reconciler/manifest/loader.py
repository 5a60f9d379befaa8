"""Read manifest text into specs, or into errors located at `file:line:col`.

Used by `reconciler validate` on files and by the reconcile loop on blobs read from Git; it does
no I/O itself. A file may hold several documents, and each fails or passes on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

from reconciler.domain.values import DeploymentSpec
from reconciler.manifest import convert, rules, schema
from reconciler.manifest.errors import ManifestError
from reconciler.manifest.yamlnodes import Document, FieldPath, Mark, YamlError, load_documents

MAX_FILE_BYTES = 1024 * 1024

# Friendlier words for pydantic's most common error types.
_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": f"unknown field (not part of {schema.API_VERSION})",
}


@dataclass(frozen=True, slots=True)
class LoadedManifest:
    """One valid manifest document and where its fields sit in the text."""

    file: str
    location: PurePosixPath
    spec: DeploymentSpec
    document: Document = field(repr=False)

    def error(self, path: FieldPath, message: str) -> ManifestError:
        """An error about the value at `path` in this manifest."""
        return _error(self.file, self.document.value_mark(path), path, message)


@dataclass(slots=True)
class LoadResult:
    """What reading one or more manifest files produced."""

    manifests: list[LoadedManifest] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        """Add another result's manifests and errors to this one."""
        self.manifests.extend(other.manifests)
        self.errors.extend(other.errors)


def parse_bytes(data: bytes, *, file: str, location: PurePosixPath) -> LoadResult:
    """Check size and encoding, then parse; `location` is the file's path in the repository."""
    too_large = size_error(len(data))
    if too_large:
        return _failed(file, Mark(1, 1), too_large)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _failed(file, Mark(1, 1), f"file is not UTF-8 (byte {exc.start})")
    return parse_text(text, file=file, location=location)


def parse_text(text: str, *, file: str, location: PurePosixPath) -> LoadResult:
    """Parse every document in `text` into a spec or into located errors."""
    try:
        documents = load_documents(text)
    except YamlError as exc:
        return _failed(file, exc.mark, exc.message)
    result = LoadResult()
    for document in documents:
        loaded, errors = _parse_document(document, file=file, location=location)
        result.errors.extend(errors)
        if loaded is not None:
            result.manifests.append(loaded)
    return result


def size_error(size: int) -> str | None:
    """Why a file of `size` bytes is refused, or None when it is small enough."""
    if size <= MAX_FILE_BYTES:
        return None
    return f"file is {size / (1024 * 1024):.1f} MiB; a manifest may be at most 1 MiB"


def duplicate_names(
    manifests: Iterable[LoadedManifest],
) -> Iterator[tuple[LoadedManifest, ManifestError]]:
    """Every manifest whose name an earlier one already took, with the error that says so."""
    first: dict[str, LoadedManifest] = {}
    for manifest in manifests:
        name = manifest.spec.name
        if name in first:
            other = first[name]
            where = f"{other.file}:{other.document.value_mark(('metadata', 'name')).line}"
            message = f"name {name!r} is already used by {where}"
            yield manifest, manifest.error(("metadata", "name"), message)
        else:
            first[name] = manifest


def _parse_document(
    document: Document, *, file: str, location: PurePosixPath
) -> tuple[LoadedManifest | None, list[ManifestError]]:
    data = document.data
    if not isinstance(data, dict):
        return None, [_error(file, document.start, (), "a manifest must be a YAML mapping")]
    model_type = _model_for(data, document=document, file=file)
    if isinstance(model_type, ManifestError):
        return None, [model_type]
    try:
        manifest = model_type.model_validate(data)
    except pydantic.ValidationError as exc:
        return None, [
            _from_pydantic(detail, document=document, file=file) for detail in exc.errors()
        ]
    violations = list(rules.violations(manifest))
    source = rules.resolve_source(location, manifest.spec.function.source)
    if source is None:
        message = f"{manifest.spec.function.source!r} resolves outside the repository"
        violations.append((("spec", "function", "source"), message))
    if violations or source is None:
        return None, [_error(file, document.value_mark(p), p, m) for p, m in violations]
    spec = convert.to_spec(manifest, source=source)
    return LoadedManifest(file=file, location=location, spec=spec, document=document), []


def _model_for(
    data: dict[Any, Any], *, document: Document, file: str
) -> type[schema.Manifest] | ManifestError:
    kinds = " or ".join(schema.MODELS)
    if "kind" not in data:
        return _error(file, document.start, ("kind",), f"required field is missing ({kinds})")
    model_type = schema.MODELS.get(data["kind"]) if isinstance(data["kind"], str) else None
    if model_type is None:
        mark = document.value_mark(("kind",))
        return _error(file, mark, ("kind",), f"unknown kind {data['kind']!r} (expected {kinds})")
    return model_type


def _from_pydantic(detail: ErrorDetails, *, document: Document, file: str) -> ManifestError:
    # Tags of our own discriminated unions (`<string>`, `<secretRef>`) are not fields.
    loc: FieldPath = tuple(
        part for part in detail["loc"] if not (isinstance(part, str) and part.startswith("<"))
    )
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        mark = document.key_mark(loc)
    elif detail["type"] == "extra_forbidden":
        mark = document.key_mark(loc)
    else:
        mark = document.value_mark(loc)
    return _error(file, mark, loc, _message(detail))


def _message(detail: ErrorDetails) -> str:
    if detail["type"] == "string_pattern_mismatch":
        pattern = str((detail.get("ctx") or {}).get("pattern"))
        return schema.PATTERN_HINTS.get(pattern, detail["msg"])
    return _MESSAGES.get(detail["type"]) or detail["msg"].removeprefix("Value error, ")


def _error(file: str, mark: Mark, path: FieldPath, message: str) -> ManifestError:
    return ManifestError(file, mark.line, mark.column, format_path(path), message)


def _failed(file: str, mark: Mark, message: str) -> LoadResult:
    return LoadResult(errors=[_error(file, mark, (), message)])


def format_path(path: Sequence[str | int]) -> str:
    """`("spec", "routes", 2)` as `spec.routes[2]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
