"""The command group every subcommand hangs off."""

from __future__ import annotations

import sys

import click

from reconciler import __version__, logs


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def main() -> None:
    """GitOps reconciler for serverless REST and WebSocket APIs."""
    # Commands print their results on stdout; what they log goes to stderr, warnings only.
    # `reconciler run` sets its own logging up.
    logs.configure(level="warning", stream=sys.stderr)
