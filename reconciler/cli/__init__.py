"""The `reconciler` command line: a contract for users and scripts.

Exit codes: 0 success, 1 the input is invalid or something failed, 2 the command was used
wrongly (and, for `reconciler drift`, drift was found).
"""

from reconciler.cli import local as local_commands
from reconciler.cli import loop, manifests, views
from reconciler.cli.app import main

__all__ = ["local_commands", "loop", "main", "manifests", "views"]
