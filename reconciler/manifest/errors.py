"""A manifest error, located at `file:line:col` and named by its field path."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class ManifestError:
    """One thing wrong with one manifest, pointing at the offending value."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def to_dict(self) -> dict[str, object]:
        """The error as a JSON-ready mapping."""
        return asdict(self)
