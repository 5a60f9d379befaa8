"""The GitOps loop end to end: real Git, the real local cloud, real HTTP.

Merge a change and it is served; revert it and the previous version is served and recorded as a
rollback; break a manifest and only it fails; remove one and it stays unless pruned; fail a
health check and the last good revision comes back; restart and nothing in sync is applied again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from loopkit import GitRepo, call, make_app
from structlog.testing import capture_logs

from reconciler.adapters.local.cloud import LocalCloud
from reconciler.domain.status import DriftState, Phase


def endpoint_of(app, name: str) -> str:
    record = app.store.load(name)
    assert record is not None, name
    assert record.endpoint is not None, record
    return record.endpoint


def test_merged_change_is_served_and_revert_rolls_it_back(repo: GitRepo, state_dir: Path):
    repo.deployment("hello", version="v1")
    first = repo.commit("hello v1")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        endpoint = endpoint_of(app, "hello")
        assert call(endpoint).body["version"] == "v1"

        repo.git("checkout", "--quiet", "-b", "feature")
        repo.deployment("hello", version="v2")
        repo.commit("hello v2")
        repo.git("checkout", "--quiet", "main")
        repo.git("merge", "--quiet", "--ff-only", "feature")
        second = repo.head()
        app.reconciler.tick()
        assert call(endpoint).body["version"] == "v2"

        repo.git("revert", "--no-edit", second)
        revert = repo.head()
        with capture_logs() as logs:
            app.reconciler.tick()
        assert call(endpoint).body["version"] == "v1"

        record = app.store.load("hello")
        assert record is not None
        assert (record.phase, record.applied_revision.sha) == (Phase.READY, revert)
        latest = app.store.history("hello")[0]
        assert (latest.outcome, latest.revision.sha) == ("rolled-back", revert)
        assert (latest.reverted.sha, latest.restored.sha) == (second, first)
        rollback = [entry for entry in logs if entry["event"] == "rollback"]
        assert rollback, logs
        assert (rollback[0]["reverted"], rollback[0]["restored"]) == (second, first)


def test_uncommitted_edits_never_deploy(repo: GitRepo, state_dir: Path):
    repo.deployment("hello", version="committed")
    repo.commit("hello")
    repo.deployment("hello", version="uncommitted")  # written, never committed
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        assert call(endpoint_of(app, "hello")).body["version"] == "committed"


def test_broken_manifest_is_rejected_while_the_others_apply(repo: GitRepo, state_dir: Path):
    repo.deployment("good", version="v1")
    repo.write(
        "manifests/broken.yaml",
        "apiVersion: reconciler/v1\nkind: RestApi\nmetadata:\n  name: [oops\n",
    )
    repo.commit("one good, one broken")
    with make_app(repo, state_dir) as app, capture_logs() as logs:
        app.reconciler.tick()
        assert call(endpoint_of(app, "good")).status == 200
        broken = app.store.load("manifests/broken.yaml")
        assert broken is not None
        assert (broken.phase, broken.reason) == (Phase.FAILED, "ManifestRejected")
        assert broken.message.startswith("manifests/broken.yaml:5:1: YAML syntax error")
        assert any(entry["event"] == "manifest_rejected" for entry in logs)

        repo.write("manifests/broken.yaml", "")  # fixed by emptying it
        repo.commit("fix")
        app.reconciler.tick()
        assert app.store.load("manifests/broken.yaml") is None


def test_a_deployment_whose_manifest_breaks_keeps_serving(repo: GitRepo, state_dir: Path):
    repo.deployment("steady", version="v1")
    repo.commit("steady")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        endpoint = endpoint_of(app, "steady")
        repo.write(
            "manifests/steady.yaml",
            (repo.root / "manifests/steady.yaml")
            .read_text()
            .replace("runtime: python3.11", "runtime: cobol"),
        )
        repo.commit("break it")
        app.reconciler.tick()
        record = app.store.load("steady")
        assert (record.phase, record.reason) == (Phase.FAILED, "ManifestRejected")
        assert "manifests/steady.yaml:8:14: spec.function.runtime" in record.message
        assert call(endpoint).body["version"] == "v1"


def test_removed_manifest_is_kept_unless_prune(repo: GitRepo, state_dir: Path):
    repo.deployment("kept", prune=False)
    repo.deployment("pruned", prune=True)
    repo.deployment("stays")
    repo.commit("three")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        kept, pruned = endpoint_of(app, "kept"), endpoint_of(app, "pruned")
        repo.remove("manifests/kept.yaml")
        repo.remove("manifests/pruned.yaml")
        repo.commit("remove two")
        app.reconciler.tick()
        assert call(kept).status == 200
        assert app.store.load("pruned") is None
        assert app.services.engines  # the engine is still wired
        with pytest.raises(Exception):  # noqa: B017, PT011  # the port is closed: any transport error
            call(pruned)
        assert [e.outcome for e in app.store.history("pruned")][:1] == ["destroyed"]


def test_a_tick_that_would_destroy_everything_refuses(repo: GitRepo, state_dir: Path):
    repo.deployment("only", prune=True)
    repo.commit("one")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        repo.remove("manifests/only.yaml")
        repo.commit("remove all")
        with capture_logs() as logs:
            app.reconciler.tick()
        assert app.store.load("only") is not None
        assert call(endpoint_of(app, "only")).status == 200
        assert any(entry["event"] == "destroy_refused" for entry in logs)


def test_failed_health_check_rolls_back_automatically(repo: GitRepo, state_dir: Path):
    repo.deployment("careful", version="v1")
    good = repo.commit("good")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        endpoint = endpoint_of(app, "careful")
        repo.deployment("careful", version="v2", healthy=False)
        bad = repo.commit("sick")
        with capture_logs() as logs:
            app.reconciler.tick()
        record = app.store.load("careful")
        assert record.phase is Phase.DEGRADED
        assert record.applied_revision.sha == good
        assert call(endpoint).body["version"] == "v1"
        events = [entry["event"] for entry in logs]
        assert events.index("rollback_started") < events.index("rollback")
        outcomes = [(e.outcome, e.revision.sha) for e in app.store.history("careful")[:2]]
        assert outcomes == [("rolled-back", good), ("failed", bad)]

        app.reconciler.tick()  # Same inputs: nothing is tried again.
        assert app.store.history("careful")[0].outcome == "rolled-back"

        repo.deployment("careful", version="v3")
        repo.commit("fixed")
        app.reconciler.tick()
        assert app.store.load("careful").phase is Phase.READY
        assert call(endpoint).body["version"] == "v3"


def test_drift_is_reported_once_then_healed(repo: GitRepo, state_dir: Path):
    repo.deployment("watched", drift="report")
    repo.deployment("healed", drift="heal")
    repo.commit("two")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        healed = endpoint_of(app, "healed")
        assert LocalCloud(state_dir).stop()

        with capture_logs() as logs:
            (watched,) = app.drift.check(names=["watched"])
        assert watched.state is DriftState.DRIFTED
        assert watched.findings[0].live == "local cloud host not running"
        (detected,) = [e for e in logs if e["event"] == "drift_detected"]
        assert (detected["deployment"], detected["findings"][0]["path"]) == (
            "watched",
            "deployment",
        )
        assert app.store.load("watched").drift is DriftState.DRIFTED
        assert [f.path for f in app.store.drift("watched")] == ["deployment"]

        # The heal policy applies again, which starts the host, which restores every deployment.
        (healing,) = app.drift.check(names=["healed"])
        assert (healing.healed, healing.state) == (True, DriftState.NONE)
        assert call(healed).status == 200

        with capture_logs() as again:
            app.drift.check()
            app.drift.check()
        # Watched is clean again and says so once, not on every check.
        drift_lines = [
            (e["event"], e["deployment"]) for e in again if e["event"].startswith("drift")
        ]
        assert drift_lines == [("drift_resolved", "watched")]
        assert app.store.load("watched").drift is DriftState.NONE


def test_restarted_daemon_applies_nothing_that_is_in_sync(repo: GitRepo, state_dir: Path):
    repo.deployment("one")
    repo.deployment("two")
    repo.commit("two deployments")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        before = {name: len(app.store.history(name)) for name in ("one", "two")}
    with make_app(repo, state_dir) as restarted:
        report = restarted.reconciler.tick()
        assert sorted(o.result for o in report.outcomes) == ["in-sync", "in-sync"]
        assert {name: len(restarted.store.history(name)) for name in ("one", "two")} == before
        assert restarted.reconciler.tick().idle


def test_a_provider_whose_engine_cannot_run_stalls_alone(repo: GitRepo, state_dir: Path):
    repo.deployment("local-one")
    repo.deployment("cloud-one", provider="azure")
    repo.commit("mixed")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        cloud = app.store.load("cloud-one")
        assert cloud.phase is Phase.STALLED
        # No Pulumi CLI (or passphrase) here: the cloud deployment stalls with the reason.
        assert cloud.reason == "PermanentError"
        assert "Pulumi" in cloud.message or "PULUMI_CONFIG_PASSPHRASE" in cloud.message
        assert app.store.load("local-one").phase is Phase.READY


def test_only_changed_deployments_reach_the_engine(repo: GitRepo, state_dir: Path):
    for name in ("a", "b", "c"):
        repo.deployment(name)
    repo.commit("three")
    with make_app(repo, state_dir) as app:
        app.reconciler.tick()
        repo.deployment("b", version="v2")
        repo.commit("change b")
        report = app.reconciler.tick()
        acted = sorted(o.name for o in report.outcomes if o.result == "applied")
        assert acted == ["b"]
