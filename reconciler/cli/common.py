"""What the commands share: the state-dir and source options, output and error handling."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.config import SourceSettings, default_state_dir
from reconciler.ports import PermanentError, TransientError

F = TypeVar("F", bound=Callable[..., Any])

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_state_dir,
    show_default="$RECONCILER_STATE_DIR or ~/.local/state/reconciler",
    help="Where reconciler keeps its store, Git cache and local cloud.",
)

output_option = click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def source_options(command: F) -> F:
    """`--repo`, `--branch`, `--path`: which repository, branch and folder hold the manifests."""
    options = [
        click.option("--repo", default=".", show_default=True, help="Local path or remote URL."),
        click.option("--branch", default=None, help="Branch to follow [default: the default one]."),
        click.option("--path", "manifest_path", default="manifests/", show_default=True),
        click.option(
            "--ssh-key",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Private key for ssh remotes (https tokens come from $RECONCILER_GIT_TOKEN).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def source_settings(
    repo: str, branch: str | None, manifest_path: str, ssh_key: Path | None
) -> SourceSettings:
    """The source options as settings."""
    return SourceSettings(repo=repo, branch=branch, path=manifest_path, ssh_key=ssh_key)


@contextlib.contextmanager
def operational_errors() -> Iterator[None]:
    """Turn the ports' errors into one line on stderr and exit code 1, no traceback."""
    try:
        yield
    except (TransientError, PermanentError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def print_json(document: object) -> None:
    """Pretty JSON on stdout."""
    click.echo(json.dumps(document, indent=2, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Aligned columns, headers first; None shows as `-`."""
    cells = [list(headers)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
