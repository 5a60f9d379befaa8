"""`reconciler validate` and `reconciler schema`: the manifest format, checked and described."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli.app import main
from reconciler.manifest import files, schema

DEFAULT_MANIFESTS = Path("manifests")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="`json` prints a list of {file, line, column, field, message}.",
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Repository root that function sources must stay inside [default: the Git repository].",
)
def validate(paths: tuple[Path, ...], output: str, root: Path | None) -> None:
    """Check manifest files, or every YAML file under folders (default: manifests/)."""
    if not paths:
        if not DEFAULT_MANIFESTS.is_dir():
            raise click.UsageError("no manifests/ folder here; name the files or folders to check")
        paths = (DEFAULT_MANIFESTS,)
    found = files.manifest_files(paths)
    if not found:
        where = ", ".join(str(path) for path in paths)
        click.echo(f"no manifest files (*.yaml, *.yml) under {where}", err=True)
        sys.exit(1)
    result = files.validate(found, root=root or files.find_root(paths[0]))
    errors = sorted(result.errors, key=lambda e: (e.file, e.line, e.column))
    if output == "json":
        click.echo(json.dumps([error.to_dict() for error in errors], indent=2))
    else:
        for error in errors:
            click.echo(str(error))
    valid = len(result.manifests)
    summary = (
        f"{len(errors)} error(s) in {len(found)} file(s)"
        if errors
        else f"{valid} manifest(s) in {len(found)} file(s) are valid"
    )
    click.echo(summary, err=True)
    sys.exit(1 if errors else 0)


@main.command("schema")
def print_schema() -> None:
    """Print the JSON Schema of a manifest, for editors and docs."""
    click.echo(json.dumps(schema.json_schema(), indent=2))
