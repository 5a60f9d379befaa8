"""A Git repository of manifests to drive the loop with, and an app on a temporary state dir."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from reconciler import bootstrap
from reconciler.application.services import LoopSettings
from reconciler.config import Settings, SourceSettings
from reconciler.domain.planning import RetryPolicy

APP_PY = """\
import os


def handler(event, context):
    if event["rawPath"].endswith("/health") and os.environ.get("HEALTHY", "yes") != "yes":
        return {{"statusCode": 500, "body": "sick"}}
    return {{"version": "{version}", "greeting": os.environ.get("GREETING")}}
"""

MANIFEST = """\
apiVersion: reconciler/v1
kind: RestApi
metadata: {{name: {name}}}
spec:
  provider: {provider}
  {region}
  function:
    runtime: python3.11
    handler: app.handler
    source: ../functions/{name}
    environment: {{GREETING: {greeting}, HEALTHY: "{healthy}"}}
  routes: ["GET /hello", "GET /health"]
  healthCheck: {{path: /health}}
  policy: {{prune: {prune}, drift: {drift}, autoRollback: true}}
"""


class GitRepo:
    """A real repository in a temporary folder, driven with the real git command."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.git("config", "user.name", "Test Author")
        self.git("config", "user.email", "author@example.com")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
        done = subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, check=True, env=env
        )
        return done.stdout.strip()

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def remove(self, path: str) -> None:
        self.git("rm", "-r", "--quiet", path)

    def commit(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def deployment(  # noqa: PLR0913  # a manifest is all of these choices
        self,
        name: str,
        *,
        version: str = "v1",
        greeting: str = "hello",
        provider: str = "local",
        prune: bool = False,
        drift: str = "report",
        healthy: bool = True,
    ) -> None:
        """Write a manifest and its function source (not committed)."""
        region = {"aws": "region: eu-west-1", "azure": "location: westeurope"}.get(provider, "")
        self.write(
            f"manifests/{name}.yaml",
            MANIFEST.format(
                name=name,
                provider=provider,
                region=region,
                greeting=greeting,
                prune=str(prune).lower(),
                drift=drift,
                healthy="yes" if healthy else "no",
            ),
        )
        self.write(f"functions/{name}/app.py", APP_PY.format(version=version))


def make_app(repo: GitRepo, state_dir: Path, **loop: object) -> bootstrap.App:
    """The real wiring (git source, SQLite store, local cloud) on a temporary state dir."""
    settings = Settings(
        source=SourceSettings(repo=str(repo.root)),
        state_dir=state_dir,
        loop=LoopSettings(
            health_timeout=5.0,
            retry=RetryPolicy(max_failures=2),
            **loop,  # type: ignore[arg-type]
        ),
    )
    return bootstrap.build(settings)


@dataclass
class Served:
    status: int
    body: dict


def call(endpoint: str, path: str = "/hello") -> Served:
    response = httpx.get(endpoint + path, timeout=30)
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text}
    return Served(response.status_code, body)
