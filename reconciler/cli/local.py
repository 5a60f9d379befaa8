"""`reconciler local status|start|stop`: the local cloud host, for people."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.adapters.local.cloud import LocalCloud
from reconciler.cli.app import main
from reconciler.cli.common import operational_errors, output_option, print_table, state_dir_option


@main.group()
def local() -> None:
    """The local cloud: every `provider: local` deployment, served on this machine."""


@local.command("status")
@state_dir_option
@output_option
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
    with client, operational_errors():
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
    print_table(("NAME", "ENDPOINT", "REVISION"), rows)


@local.command("start")
@state_dir_option
def local_start(state_dir: Path) -> None:
    """Start the local cloud host (engines start it on demand; this is for people)."""
    with operational_errors():
        info = LocalCloud(state_dir).ensure_running()
    click.echo(f"local cloud: running (pid {info.pid})")


@local.command("stop")
@state_dir_option
def local_stop(state_dir: Path) -> None:
    """Stop the local cloud host cleanly; its deployments come back when it starts again."""
    stopped = LocalCloud(state_dir).stop()
    click.echo("local cloud: stopped" if stopped else "local cloud: not running")
