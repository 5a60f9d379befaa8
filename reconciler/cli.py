"""The `reconciler` command line: a contract for users and scripts.

Exit codes: 0 success, 1 the input is invalid, 2 the command was used wrongly.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from reconciler import __version__
from reconciler.adapters.local.cloud import LocalCloud
from reconciler.manifest import files, schema
from reconciler.ports import PermanentError, TransientError

DEFAULT_MANIFESTS = Path("manifests")
DEFAULT_STATE_DIR = Path(".state")

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
    envvar="RECONCILER_STATE_DIR",
    help="Where reconciler keeps its state (env RECONCILER_STATE_DIR).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def main() -> None:
    """GitOps reconciler for serverless REST and WebSocket APIs."""


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


@main.group()
def local() -> None:
    """The local cloud: every `provider: local` deployment, served on this machine."""


@local.command("status")
@state_dir_option
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def local_status(state_dir: Path, output: str) -> None:
    """List what the local cloud serves: name, endpoint, revision, and the host's pid."""
    cloud = LocalCloud(state_dir)
    info = cloud.info()
    client = cloud.client()
    if info is None or client is None:
        if output == "json":
            click.echo(json.dumps({"running": False, "deployments": []}))
        else:
            click.echo("local cloud: not running")
        return
    with client, _operational_errors():
        served = client.list()
    if output == "json":
        document = {
            "running": True,
            "pid": info.pid,
            "adminPort": info.admin_port,
            "startedAt": info.started_at,
            "deployments": [
                {
                    "name": live.name,
                    "kind": live.kind,
                    "endpoint": live.endpoint,
                    "revision": live.revision,
                    "version": live.version,
                }
                for live in served
            ],
        }
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"local cloud: running (pid {info.pid}, since {info.started_at})")
    rows = [(live.name, live.endpoint, live.revision[:12]) for live in served]
    widths = [
        max(len(row[i]) for row in [("NAME", "ENDPOINT", "REVISION"), *rows]) for i in range(3)
    ]
    for row in [("NAME", "ENDPOINT", "REVISION"), *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


@local.command("start")
@state_dir_option
def local_start(state_dir: Path) -> None:
    """Start the local cloud host (engines start it on demand; this is for people)."""
    with _operational_errors():
        info = LocalCloud(state_dir).ensure_running()
    click.echo(f"local cloud: running (pid {info.pid})")


@local.command("stop")
@state_dir_option
def local_stop(state_dir: Path) -> None:
    """Stop the local cloud host cleanly; its deployments come back when it starts again."""
    stopped = LocalCloud(state_dir).stop()
    click.echo("local cloud: stopped" if stopped else "local cloud: not running")


@contextlib.contextmanager
def _operational_errors() -> Iterator[None]:
    """Turn the ports' errors into one line on stderr and exit code 1."""
    try:
        yield
    except (TransientError, PermanentError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
