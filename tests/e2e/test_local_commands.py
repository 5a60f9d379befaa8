"""`reconciler local status|start|stop`, run in a subprocess as a person would."""

import json
import subprocess
import sys
from pathlib import Path


def reconciler(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_status_start_status_stop(tmp_path: Path):
    """The host starts on request, reports itself, and stops cleanly."""
    assert reconciler("local", "status", state_dir=tmp_path).stdout == "local cloud: not running\n"

    started = reconciler("local", "start", state_dir=tmp_path)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("local cloud: running (pid ")

    status = json.loads(reconciler("local", "status", "-o", "json", state_dir=tmp_path).stdout)
    assert status["running"] is True
    assert status["deployments"] == []
    assert f"(pid {status['pid']})" in started.stdout

    text = reconciler("local", "status", state_dir=tmp_path).stdout.splitlines()
    assert text[0].startswith(f"local cloud: running (pid {status['pid']}")
    assert text[1].split() == ["NAME", "ENDPOINT", "REVISION"]

    assert reconciler("local", "stop", state_dir=tmp_path).stdout == "local cloud: stopped\n"
    assert reconciler("local", "stop", state_dir=tmp_path).stdout == "local cloud: not running\n"
    not_running = json.loads(reconciler("local", "status", "-o", "json", state_dir=tmp_path).stdout)
    assert not_running == {"running": False, "deployments": []}
