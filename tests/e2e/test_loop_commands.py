"""The loop's commands as users and scripts run them: a real repository, the CLI in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from loopkit import GitRepo

from reconciler.adapters.local.cloud import LocalCloud


def reconciler(*args: str, repo: GitRepo, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--state-dir", str(state_dir)],
        cwd=repo.root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_run_once_applies_and_status_history_report_it(repo: GitRepo, state_dir: Path):
    repo.deployment("hello", version="v1")
    first = repo.commit("hello")
    run = reconciler("run", "--once", "--log-format", "json", repo=repo, state_dir=state_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    serving = [line for line in lines if line["event"] == "serving"]
    assert serving[0]["deployment"] == "hello"
    assert httpx.get(serving[0]["endpoint"] + "/hello", timeout=30).json()["version"] == "v1"

    status = json.loads(
        reconciler("status", "hello", "-o", "json", repo=repo, state_dir=state_dir).stdout
    )
    assert {
        k: status[k] for k in ("name", "kind", "provider", "phase", "appliedRevision", "drift")
    } == {
        "name": "hello",
        "kind": "RestApi",
        "provider": "local",
        "phase": "Ready",
        "appliedRevision": first,
        "drift": "None",
    }
    history = json.loads(
        reconciler("history", "hello", "-o", "json", repo=repo, state_dir=state_dir).stdout
    )
    assert [(h["outcome"], h["revision"]) for h in history] == [("applied", first)]


def test_run_once_exits_1_when_something_is_not_ready(repo: GitRepo, state_dir: Path):
    repo.deployment("local-one")
    repo.deployment("azure-one", provider="azure")
    repo.commit("mixed")
    run = reconciler("run", "--once", repo=repo, state_dir=state_dir)
    assert run.returncode == 1
    text = reconciler("status", repo=repo, state_dir=state_dir).stdout
    status = {
        row["name"]: row
        for row in json.loads(
            reconciler("status", "-o", "json", repo=repo, state_dir=state_dir).stdout
        )
    }
    assert (status["local-one"]["phase"], status["azure-one"]["phase"]) == ("Ready", "Stalled")
    assert f"azure-one: {status['azure-one']['message']}" in text


def test_plan_shows_what_a_merge_would_change_without_applying(repo: GitRepo, state_dir: Path):
    repo.deployment("stay")
    repo.deployment("change")
    base = repo.commit("base")
    repo.deployment("change", version="v2", greeting="bye")
    repo.deployment("new")
    head = repo.commit("head")
    run = reconciler(
        "plan", "--base", base, "--head", head, "-o", "json", repo=repo, state_dir=state_dir
    )
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    by_name = {item["name"]: item for item in plan["deployments"]}
    assert set(by_name) == {"change", "new"}
    assert by_name["new"]["action"] == "create"
    assert by_name["change"]["action"] == "update"
    assert "function.environment" in by_name["change"]["changes"]
    assert "function.source (code)" in by_name["change"]["changes"]
    assert LocalCloud(state_dir).info() is None  # nothing was applied, no host was started


def test_rollback_command_writes_a_commit_that_restores_the_previous_revision(
    repo: GitRepo, state_dir: Path
):
    repo.deployment("hello", version="v1")
    repo.commit("v1")
    assert reconciler("run", "--once", repo=repo, state_dir=state_dir).returncode == 0
    repo.deployment("hello", version="v2")
    repo.commit("v2")
    assert reconciler("run", "--once", repo=repo, state_dir=state_dir).returncode == 0

    rolled = reconciler("rollback", "hello", repo=repo, state_dir=state_dir)
    assert rolled.returncode == 0, rolled.stderr
    commit = rolled.stdout.strip()
    assert repo.head() == commit
    assert '"version": "v1"' in (repo.root / "functions/hello/app.py").read_text()
    assert reconciler("run", "--once", repo=repo, state_dir=state_dir).returncode == 0
    status = json.loads(
        reconciler("status", "hello", "-o", "json", repo=repo, state_dir=state_dir).stdout
    )
    assert httpx.get(status["endpoint"] + "/hello", timeout=30).json()["version"] == "v1"
    assert status["appliedRevision"] == commit


def test_drift_exits_2_when_something_drifted_and_0_once_healed(repo: GitRepo, state_dir: Path):
    repo.deployment("hello")
    repo.commit("hello")
    assert reconciler("run", "--once", repo=repo, state_dir=state_dir).returncode == 0
    assert reconciler("drift", repo=repo, state_dir=state_dir).returncode == 0
    LocalCloud(state_dir).stop()
    drifted = reconciler("drift", "-o", "json", repo=repo, state_dir=state_dir)
    assert drifted.returncode == 2
    (finding,) = json.loads(drifted.stdout)[0]["findings"]
    assert finding["live"] == "local cloud host not running"
    healed = reconciler("drift", "--heal", repo=repo, state_dir=state_dir)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "hello: None (healed)" in healed.stdout


def test_the_daemon_deploys_each_new_commit_and_stops_cleanly_on_sigterm(
    repo: GitRepo, state_dir: Path, tmp_path: Path
):
    """`reconciler run`: a merged commit is served within a few ticks; SIGTERM exits 0."""
    repo.deployment("live", version="v1")
    repo.commit("v1")
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log_file:
        daemon = subprocess.Popen(  # our own CLI
            [
                sys.executable,
                "-m",
                "reconciler",
                "run",
                "--interval",
                "1s",
                "--log-format",
                "json",
                "--state-dir",
                str(state_dir),
            ],
            cwd=repo.root,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        serving = wait_for_line(log_path, "serving")
        assert httpx.get(serving["endpoint"] + "/hello", timeout=30).json()["version"] == "v1"

        repo.deployment("live", version="v2")
        repo.commit("v2")
        assert wait_until(
            lambda: httpx.get(serving["endpoint"] + "/hello", timeout=30).json()["version"] == "v2"
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    assert code == 0
    events = [json.loads(line)["event"] for line in log_path.read_text().splitlines()]
    assert events[-1] == "daemon_stopped"
    assert "job_error" not in events


def wait_for_line(path: Path, event: str, *, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["event"] == event:
                return entry
        time.sleep(0.1)
    raise AssertionError(f"no {event!r} line in {path.read_text()}")


def wait_until(condition, *, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
