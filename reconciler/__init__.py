"""reconciler: a GitOps reconciler daemon for serverless APIs.

Importing the package has no side effects; the CLI (`reconciler.cli`) is the entry point.
"""

__version__ = "0.1.0"
