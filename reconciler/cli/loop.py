"""`reconciler run`, `drift`, `plan`, `rollback`: the commands that talk to Git and engines."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click

from reconciler import bootstrap, daemon, logs
from reconciler.application import preview
from reconciler.application.services import LoopSettings
from reconciler.cli.app import main
from reconciler.cli.common import (
    operational_errors,
    output_option,
    print_json,
    print_table,
    source_options,
    source_settings,
    state_dir_option,
)
from reconciler.config import Settings, parse_duration
from reconciler.domain.errors import NothingToRollBackError
from reconciler.domain.values import Revision


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _settings(  # noqa: PLR0913  # the source options, passed through as they came
    repo: str,
    branch: str | None,
    manifest_path: str,
    ssh_key: Path | None,
    state_dir: Path,
    *,
    loop: LoopSettings | None = None,
    interval: timedelta = timedelta(seconds=60),
) -> Settings:
    return Settings(
        source=source_settings(repo, branch, manifest_path, ssh_key),
        state_dir=state_dir,
        interval=interval,
        loop=loop or LoopSettings(),
    )


@main.command()
@source_options
@state_dir_option
@click.option("--interval", default="60s", show_default=True, callback=_duration)
@click.option("--drift-interval", default="10m", show_default=True, callback=_duration)
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--once", is_flag=True, help="One tick and one drift pass; exit 0 if all is Ready.")
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]), default="auto")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info"
)
def run(  # noqa: PLR0913  # one parameter per documented option
    *,
    repo: str,
    branch: str | None,
    manifest_path: str,
    ssh_key: Path | None,
    state_dir: Path,
    interval: timedelta,
    drift_interval: timedelta,
    concurrency: int,
    once: bool,
    log_format: str,
    log_level: str,
) -> None:
    """Watch the repository and make what is live match it (the daemon)."""
    as_json = {"auto": None, "json": True, "console": False}[log_format]
    logs.configure(json=as_json, level=log_level, stream=sys.stdout)
    loop = LoopSettings(concurrency=concurrency, drift_interval=drift_interval)
    settings = _settings(
        repo, branch, manifest_path, ssh_key, state_dir, loop=loop, interval=interval
    )
    with operational_errors(), bootstrap.build(settings) as app:
        code = daemon.once(app) if once else daemon.run(app, interval=interval)
    sys.exit(code)


@main.command()
@click.argument("name", required=False)
@source_options
@state_dir_option
@output_option
@click.option("--heal", is_flag=True, help="Apply again whatever drifted.")
def drift(  # noqa: PLR0913  # one parameter per documented option
    *,
    name: str | None,
    repo: str,
    branch: str | None,
    manifest_path: str,
    ssh_key: Path | None,
    state_dir: Path,
    output: str,
    heal: bool,
) -> None:
    """Check for drift now; exit 0 when nothing drifted, 2 when something did."""
    settings = _settings(repo, branch, manifest_path, ssh_key, state_dir)
    with operational_errors(), bootstrap.build(settings) as app:
        results = app.drift.check(names=[name] if name else None, heal=heal)
    rows = [
        {
            "name": result.name,
            "drift": result.state.value,
            "healed": result.healed,
            "findings": [
                {"resource": f.resource, "path": f.path, "desired": f.desired, "live": f.live}
                for f in result.findings
            ],
        }
        for result in results
    ]
    if output == "json":
        print_json(rows)
    else:
        for result in results:
            healed = " (healed)" if result.healed else ""
            click.echo(f"{result.name}: {result.state.value}{healed}")
            for f in result.findings:
                click.echo(f"  {f.path}: want {f.desired!r}, live {f.live!r}")
    sys.exit(2 if any(result.findings for result in results) else 0)


@main.command()
@source_options
@state_dir_option
@output_option
@click.option("--base", help="Revision merged into [default: the parent of head].")
@click.option("--head", help="Revision to merge [default: the tip of the branch].")
def plan(  # noqa: PLR0913  # one parameter per documented option
    *,
    repo: str,
    branch: str | None,
    manifest_path: str,
    ssh_key: Path | None,
    state_dir: Path,
    output: str,
    base: str | None,
    head: str | None,
) -> None:
    """Show what merging head over base would change, per deployment, without applying."""
    settings = _settings(repo, branch, manifest_path, ssh_key, state_dir)
    with operational_errors(), bootstrap.build(settings) as app:
        head_revision = app.source.resolve(head) if head else app.source.current_revision()
        if base:
            base_revision = app.source.resolve(base)
        else:
            parents = app.source.commit(head_revision).parents
            base_revision = parents[0] if parents else head_revision
        changes = preview.plan(app.services.reader, base=base_revision, head=head_revision)
    if output == "json":
        print_json(
            {
                "base": base_revision.sha,
                "head": head_revision.sha,
                "deployments": [c.as_json() for c in changes],
            }
        )
        return
    click.echo(
        f"plan {base_revision.short}..{head_revision.short}: {len(changes)} deployment(s) change"
    )
    print_table(
        ("NAME", "ACTION", "CHANGES"),
        [(c.name, c.action, ", ".join(c.changes) or None) for c in changes],
    )


@main.command()
@click.argument("name")
@click.option("--to", "to", help="Revision to restore [default: the previous applied one].")
@source_options
@state_dir_option
def rollback(  # noqa: PLR0913  # one parameter per documented option
    *,
    name: str,
    to: str | None,
    repo: str,
    branch: str | None,
    manifest_path: str,
    ssh_key: Path | None,
    state_dir: Path,
) -> None:
    """Commit the manifest and function source of NAME as of a past revision; print the commit."""
    settings = _settings(repo, branch, manifest_path, ssh_key, state_dir)
    with operational_errors(), bootstrap.build(settings) as app:
        record = app.store.load(name)
        if record is None or record.applied_spec is None or record.manifest_path is None:
            raise click.ClickException(f"{name} has never been applied; nothing to roll back")
        try:
            target = app.source.resolve(to) if to else record.previous_applied().revision
        except NothingToRollBackError as exc:
            raise click.ClickException(str(exc)) from exc
        then = app.services.reader.read_at(target).wanted.get(name)
        if then is None:
            raise click.ClickException(f"{name} has no valid manifest at {target.short}")
        paths = sorted(
            {
                record.manifest_path,
                record.applied_spec.function.source,
                then.manifest_path,
                then.spec.function.source,
            }
        )
        commit = app.source.restore(
            paths, to=target, message=_rollback_message(name, target, paths)
        )
    click.echo(commit.sha)


def _rollback_message(name: str, target: Revision, paths: list[str]) -> str:
    restored = "\n".join(f"- {path}" for path in paths)
    return (
        f"Roll back {name} to {target.short}\n\n"
        f"Restores, as of {target.sha}:\n{restored}\n\n"
        f"Written by `reconciler rollback {name}`."
    )
