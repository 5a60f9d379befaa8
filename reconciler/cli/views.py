"""`reconciler status` and `reconciler history`: what the store knows, for people and scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.adapters.store.sqlite import SqliteStore
from reconciler.application import queries
from reconciler.cli.app import main
from reconciler.cli.common import output_option, print_json, print_table, state_dir_option


@main.command()
@click.argument("name", required=False)
@state_dir_option
@output_option
def status(name: str | None, state_dir: Path, output: str) -> None:
    """Show each deployment: phase, revisions, endpoint, drift, reason."""
    with SqliteStore(state_dir) as store:
        rows = queries.status(store)
    if name is not None:
        rows = [row for row in rows if row["name"] == name]
        if not rows:
            click.echo(f"error: no deployment named {name!r}", err=True)
            sys.exit(1)
    if output == "json":
        print_json(rows[0] if name is not None else rows)
        return
    print_table(
        ("NAME", "KIND", "PROVIDER", "PHASE", "APPLIED", "DRIFT", "ENDPOINT", "REASON"),
        [
            (
                row["name"],
                row["kind"],
                row["provider"],
                row["phase"],
                (row["appliedRevision"] or "")[:12] or None,
                row["drift"],
                row["endpoint"],
                row["reason"],
            )
            for row in rows
        ],
    )
    for row in rows:
        if row["phase"] in {"Failed", "Stalled", "Degraded"}:
            click.echo(f"{row['name']}: {row['message']}")


@main.command()
@click.argument("name")
@state_dir_option
@output_option
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def history(name: str, state_dir: Path, output: str, limit: int) -> None:
    """Show the attempts on one deployment, newest first, with rollback links."""
    with SqliteStore(state_dir) as store:
        rows = [queries.history_row(entry) for entry in store.history(name, limit=limit)]
    if output == "json":
        print_json(rows)
        return
    print_table(
        ("REVISION", "OUTCOME", "REASON", "STARTED", "MS", "ROLLBACK"),
        [
            (
                (row["revision"] or "")[:12] or None,
                row["outcome"],
                row["reason"],
                row["startedAt"][:19],
                row["durationMs"],
                _rollback(row),
            )
            for row in rows
        ],
    )


def _rollback(row: dict[str, object]) -> str | None:
    parts = []
    if row["reverted"]:
        parts.append(f"reverts {str(row['reverted'])[:12]}")
    if row["restored"]:
        parts.append(f"restores {str(row['restored'])[:12]}")
    return ", ".join(parts) or None
