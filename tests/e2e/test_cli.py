"""The `reconciler` command line, run as users and scripts run it: in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "repo"


def reconciler(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_example_manifests_are_valid():
    """`reconciler validate` with no argument checks manifests/ and exits 0."""
    run = reconciler("validate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == ""
    assert run.stderr.strip() == "5 manifest(s) in 5 file(s) are valid"


def test_broken_manifests_exit_1_with_one_located_line_per_error():
    run = reconciler("validate", "--root", str(FIXTURES), str(FIXTURES / "manifests" / "broken"))
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert len(lines) == 19
    assert f"{FIXTURES}/manifests/broken/bad-route.yaml:13:7: spec.routes[1]: " in run.stdout
    assert all(line.startswith(str(FIXTURES / "manifests" / "broken")) for line in lines)
    assert run.stderr.strip() == "19 error(s) in 18 file(s)"


def test_json_output_lists_file_line_column_field_message():
    broken = FIXTURES / "manifests" / "broken" / "bad-name.yaml"
    run = reconciler("validate", "-o", "json", "--root", str(FIXTURES), str(broken))
    assert run.returncode == 1
    assert json.loads(run.stdout) == [
        {
            "file": str(broken),
            "line": 4,
            "column": 9,
            "field": "metadata.name",
            "message": "must be a lowercase DNS label: a-z, 0-9 and '-', "
            "starting with a letter, at most 40 characters",
        }
    ]


def test_json_output_is_an_empty_list_when_all_is_valid():
    run = reconciler("validate", "-o", "json", "manifests/")
    assert (run.returncode, json.loads(run.stdout)) == (0, [])


def test_relative_paths_are_reported_as_given(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "bad.yml").write_text("kind: Nope\n")
    run = reconciler("validate", "m", cwd=tmp_path)
    assert run.stdout.splitlines() == [
        "m/bad.yml:1:7: kind: unknown kind 'Nope' (expected RestApi or WebSocketApi)"
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(("validate", "nowhere/"), "does not exist", id="missing-path"),
        pytest.param(("validate", "-o", "xml"), "'xml' is not one of", id="bad-output"),
        pytest.param(("deploy",), "No such command 'deploy'", id="unknown-command"),
    ],
)
def test_misuse_exits_2_with_a_one_line_cause(args: tuple[str, ...], words: str):
    run = reconciler(*args)
    assert run.returncode == 2
    assert words in run.stderr
    assert "Traceback" not in run.stderr


def test_validate_without_a_manifests_folder_says_what_to_do(tmp_path: Path):
    run = reconciler("validate", cwd=tmp_path)
    assert run.returncode == 2
    assert "no manifests/ folder here; name the files or folders to check" in run.stderr


def test_folder_without_manifests_is_an_error(tmp_path: Path):
    run = reconciler("validate", str(tmp_path))
    assert run.returncode == 1
    assert run.stderr.startswith("no manifest files (*.yaml, *.yml) under")


def test_schema_prints_json_schema():
    run = reconciler("schema")
    assert run.returncode == 0
    assert json.loads(run.stdout)["title"] == "reconciler manifest (reconciler/v1)"


def test_version():
    run = reconciler("--version")
    assert run.stdout.strip() == "reconciler, version 0.1.0"
