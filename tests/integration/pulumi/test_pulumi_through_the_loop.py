"""`provider: aws` and `azure` manifests through the whole loop, with a scripted Pulumi CLI.

Real Git, real store, PulumiEngine with the AWS programs; the CLI is scripted because there is
none on this machine. Status, history, drift and rollback must behave exactly as they do for
the local cloud.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from loopkit import GitRepo, make_app
from scripted_pulumi import ScriptedCommand, step
from structlog.testing import capture_logs

from reconciler.adapters.pulumi.aws import AwsPrograms
from reconciler.adapters.pulumi.azure import AzurePrograms
from reconciler.adapters.pulumi.engine import PulumiEngine
from reconciler.domain.status import DriftState, Phase
from reconciler.domain.values import Provider

MANIFEST = """\
apiVersion: reconciler/v1
kind: RestApi
metadata: {{name: orders}}
spec:
  provider: {provider}
  {where}
  function:
    runtime: python3.12
    handler: app.handler
    source: ../functions/orders
    environment: {{GREETING: {greeting}, API_KEY: {{secretRef: ORDERS_KEY}}}}
  routes: ["GET /orders"]
  stage: prod
"""

ENDPOINT = "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/prod"
FUNCTION = "aws:lambda/function:Function"


WHERE = {"aws": "region: eu-west-1", "azure": "location: westeurope"}


def commit(repo: GitRepo, greeting: str, provider: str = "aws") -> str:
    manifest = MANIFEST.format(greeting=greeting, provider=provider, where=WHERE[provider])
    repo.write("manifests/orders.yaml", manifest)
    repo.write("functions/orders/app.py", "def handler(event, context):\n    return 'ok'\n")
    return repo.commit(f"orders says {greeting}")


@pytest.fixture
def script() -> ScriptedCommand:
    command = ScriptedCommand()
    command.up_outputs["orders"] = {"endpoint": ENDPOINT}
    command.preview_steps["orders"] = [step("create", FUNCTION, "orders")]
    return command


@pytest.fixture(params=["aws", "azure"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app(  # fixtures
    repo: GitRepo,
    state_dir: Path,
    script: ScriptedCommand,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("ORDERS_KEY", "the-secret-value")
    wired = make_app(repo, state_dir)
    builder = AwsPrograms() if provider == "aws" else AzurePrograms()
    engine = PulumiEngine(
        builder, state_dir=state_dir, command=script, env={"PULUMI_CONFIG_PASSPHRASE": "pw"}
    )
    wired.services.engines = {**wired.services.engines, Provider(provider): engine}
    yield wired
    wired.close()


def test_a_cloud_manifest_is_applied_recorded_and_reverted_like_a_local_one(
    repo: GitRepo, app, script: ScriptedCommand, state_dir: Path, provider: str
):
    first = commit(repo, "hello", provider)
    app.reconciler.tick()
    record = app.store.load("orders")
    assert (record.phase, record.endpoint, record.applied_revision.sha) == (
        Phase.READY,
        ENDPOINT,
        first,
    )
    assert script.subcommands().index("preview") < script.subcommands().index("up")

    second = commit(repo, "bonjour", provider)
    app.reconciler.tick()
    repo.git("revert", "--no-edit", second)
    revert = repo.head()
    app.reconciler.tick()

    latest = app.store.history("orders")[0]
    assert (latest.outcome, latest.revision.sha) == ("rolled-back", revert)
    assert (latest.reverted.sha, latest.restored.sha) == (second, first)
    assert [entry.outcome for entry in app.store.history("orders")] == [
        "rolled-back",
        "applied",
        "applied",
    ]
    # The secret went to the program as a value, never to the CLI or the state dir's files.
    for call in script.calls:
        assert "the-secret-value" not in " ".join(call.args)
    for path in state_dir.rglob("*"):
        if path.is_file() and path.suffix != ".zip":
            assert b"the-secret-value" not in path.read_bytes(), path


def test_drift_found_by_a_refresh_is_reported_once(
    repo: GitRepo, app, script: ScriptedCommand, provider: str
):
    commit(repo, "hello", provider)
    app.reconciler.tick()
    script.refresh_steps["orders"] = [
        step(
            "update",
            FUNCTION,
            "orders",
            old={"inputs": {"timeout": 10}, "outputs": {"timeout": 10}},
            new={"inputs": {"timeout": 60}, "outputs": {"timeout": 60}},
            diffs=["timeout"],
            detailed={"timeout": ("update", False)},
        )
    ]
    with capture_logs() as logs:
        app.drift.check()
        app.drift.check()
    (detected,) = [entry for entry in logs if entry["event"] == "drift_detected"]
    assert detected["findings"] == [
        {"resource": f"{FUNCTION}::orders", "path": "timeout", "desired": 10, "live": 60}
    ]
    assert app.store.load("orders").drift is DriftState.DRIFTED

    script.refresh_steps["orders"] = []
    app.drift.check()
    assert app.store.load("orders").drift is DriftState.NONE


def test_a_missing_pulumi_cli_stalls_the_deployment_with_the_install_command(
    repo: GitRepo, state_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(only_git))  # git is there; pulumi is not (nor is it here)
    monkeypatch.setenv("ORDERS_KEY", "x")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "pw")
    commit(repo, "hello")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        record = app.store.load("orders")
    assert record.phase is Phase.STALLED
    assert "the Pulumi CLI is not installed" in record.message
