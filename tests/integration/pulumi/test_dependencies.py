"""Installing a function's dependencies into its package: real pip and real npm, no network.

pip reads wheels this test writes into a local wheelhouse (`PIP_NO_INDEX`, `PIP_FIND_LINKS`);
npm installs `file:` packages. The handler then runs on the installed code, in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from wheels import write_wheel

from reconciler.adapters import dependencies
from reconciler.adapters.dependencies import Target, install
from reconciler.adapters.pulumi.packaging import build_zip
from reconciler.domain.values import Runtime
from reconciler.ports import PermanentError, TransientError

AZURE_SITE_PACKAGES = ".python_packages/lib/site-packages"
HANDLER = """\
import greeting_lib


def handler(event, context):
    return {"statusCode": 200, "body": greeting_lib.greet(event["name"])}
"""
NODE_HANDLER = """\
const { greet } = require("greeting-lib");
exports.handler = async (event) => ({ statusCode: 200, body: greet(event.name) });
"""


@pytest.fixture
def wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What pip sees: this folder only: no index, no user or site configuration."""
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def python_source(tmp_path: Path, requirements: str) -> Path:
    staging = tmp_path / "staging"
    staging.mkdir(parents=True)
    (staging / "app.py").write_text(HANDLER)
    (staging / "requirements.txt").write_text(requirements)
    return staging


def run_handler(staging: Path, *, python_path: Path) -> str:
    """Call app.handler in a fresh interpreter that sees the package and nothing we installed."""
    script = "import json, app; print(json.dumps(app.handler({'name': 'Ada'}, None)))"
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[:0] = {[str(staging), str(python_path)]!r}; {script}",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=staging,
    )
    return json.loads(completed.stdout)["body"]


def test_python_requirements_and_their_dependencies_land_where_the_runtime_looks(
    tmp_path: Path, wheelhouse: Path
) -> None:
    write_wheel(
        wheelhouse,
        "greeting_lib",
        "from punctuation import mark\n\ndef greet(name):\n    return 'Hello, ' + name + mark()\n",
        requires=("punctuation",),
    )
    write_wheel(wheelhouse, "punctuation", "def mark():\n    return '!'\n")
    staging = python_source(tmp_path, "# what the handler needs\ngreeting-lib==1.0\n")

    install(staging, Target(Runtime.PYTHON_3_12, python_path=AZURE_SITE_PACKAGES))

    site = staging / AZURE_SITE_PACKAGES
    assert sorted(path.name for path in site.glob("*.py")) == ["greeting_lib.py", "punctuation.py"]
    assert not list(staging.rglob("*.pyc")), "compiled files would make the zip differ"
    assert run_handler(staging, python_path=site) == "Hello, Ada!"


def test_lambda_packages_take_dependencies_at_their_root(tmp_path: Path, wheelhouse: Path) -> None:
    write_wheel(wheelhouse, "greeting_lib", "def greet(name):\n    return 'Hi ' + name\n")
    staging = python_source(tmp_path, "greeting-lib\n")

    install(staging, Target(Runtime.PYTHON_3_11, machine="aarch64"))

    assert (staging / "greeting_lib.py").is_file()
    assert run_handler(staging, python_path=staging) == "Hi Ada"


def test_the_same_wheels_make_the_same_zip(tmp_path: Path, wheelhouse: Path) -> None:
    write_wheel(wheelhouse, "greeting_lib", "def greet(name):\n    return name\n")
    digests = set()
    for attempt in ("first", "second"):
        staging = python_source(tmp_path / attempt, "greeting-lib\n")
        install(staging, Target(Runtime.PYTHON_3_11))
        digests.add(build_zip(staging, tmp_path / f"{attempt}.zip").sha256_hex)
    assert len(digests) == 1


def test_a_wheel_for_another_platform_is_refused_for_good(tmp_path: Path, wheelhouse: Path) -> None:
    # Installable on Windows only: the target is Linux, whatever machine the daemon runs on.
    write_wheel(wheelhouse, "native_lib", "", tag="cp311-cp311-win_amd64")
    staging = python_source(tmp_path, "native-lib\n")

    with pytest.raises(PermanentError, match="pip could not install") as raised:
        install(staging, Target(Runtime.PYTHON_3_11))
    assert "native-lib" in str(raised.value)
    assert not (staging / "native_lib.py").exists()


@pytest.mark.usefixtures("wheelhouse")
def test_a_requirements_file_of_comments_installs_nothing(tmp_path: Path) -> None:
    staging = python_source(tmp_path, "# nothing yet\n\n")
    before = sorted(path.name for path in staging.iterdir())

    install(staging, Target(Runtime.PYTHON_3_11, python_path=AZURE_SITE_PACKAGES))

    assert sorted(path.name for path in staging.iterdir()) == before


def test_an_unreachable_index_is_worth_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip names the failed connection only when it retries
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    staging = python_source(tmp_path, "greeting-lib\n")

    with pytest.raises(TransientError, match="pip could not install"):
        install(staging, Target(Runtime.PYTHON_3_11))


def test_an_installer_that_hangs_is_stopped_and_retried(
    tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_wheel(wheelhouse, "greeting_lib", "")
    monkeypatch.setattr(dependencies, "INSTALL_TIMEOUT_SECONDS", 0.01)
    staging = python_source(tmp_path, "greeting-lib\n")

    with pytest.raises(TransientError, match="did not finish"):
        install(staging, Target(Runtime.PYTHON_3_11))


SETUP_THAT_RUNS = """\
from pathlib import Path
Path(__file__).with_name("BUILT").write_text("pip ran this")
from setuptools import setup
setup(name="evil", version="1.0")
"""


@pytest.mark.parametrize(
    ("requirements", "error"),
    [
        pytest.param(
            "six\n--no-binary=:all:\n",
            "requirements.txt:2: pip option --no-binary=:all: is not allowed",
            id="no-binary",
        ),
        pytest.param("-e ./evil\n", "requirements.txt:1: pip option -e", id="editable"),
        pytest.param(
            "--index-url https://index.invalid/simple\nsix\n",
            "requirements.txt:1: pip option --index-url",
            id="other-index",
        ),
        pytest.param(
            "six --no-binary :all:\n",
            "requirements.txt:1: only --hash may follow a requirement",
            id="per-line-option",
        ),
        pytest.param("./evil\n", "requirements.txt:1: not a requirement by name", id="path"),
        pytest.param(
            "git+https://example.invalid/evil.git\n",
            "requirements.txt:1: not a requirement by name",
            id="vcs",
        ),
        pytest.param(
            "# pinned\nevil @ file:///tmp/evil.tar.gz\n",
            "requirements.txt:2: a direct reference",
            id="direct-reference",
        ),
        pytest.param("-r ../elsewhere.txt\n", "is not a file of the source", id="outside"),
        pytest.param("-r requirements.txt\n", "includes a file that includes it", id="cycle"),
        pytest.param(
            "-r more/base.txt\n",
            "more/base.txt:1: pip option --no-binary",
            id="in-an-included-file",
        ),
    ],
)
def test_a_requirements_file_that_could_make_pip_build_is_refused_before_pip_runs(
    tmp_path: Path, wheelhouse: Path, requirements: str, error: str
) -> None:
    write_wheel(wheelhouse, "six", "")
    staging = python_source(tmp_path, requirements)
    (staging / "evil").mkdir()
    (staging / "evil" / "setup.py").write_text(SETUP_THAT_RUNS)
    (staging / "more").mkdir()
    (staging / "more" / "base.txt").write_text("--no-binary :all:\nsix\n")
    (tmp_path / "elsewhere.txt").write_text("six\n")

    with pytest.raises(PermanentError, match=re.escape(error)):
        install(staging, Target(Runtime.PYTHON_3_11))
    assert not (staging / "evil" / "BUILT").exists()
    assert not (staging / "six.py").exists()


def test_includes_constraints_hashes_and_continuations_are_installed(
    tmp_path: Path, wheelhouse: Path
) -> None:
    wheel = write_wheel(wheelhouse, "greeting_lib", "def greet(name):\n    return 'Hey ' + name\n")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    staging = python_source(tmp_path, "-r deps/base.txt\n--constraint=deps/pins.txt\n")
    (staging / "deps").mkdir()
    (staging / "deps" / "base.txt").write_text(
        f"greeting-lib==1.0 ; python_version >= '3.8' \\\n    --hash=sha256:{digest}  # pinned\n"
    )
    (staging / "deps" / "pins.txt").write_text("greeting-lib<2\n")

    install(staging, Target(Runtime.PYTHON_3_11))

    assert run_handler(staging, python_path=staging) == "Hey Ada"


@pytest.mark.usefixtures("wheelhouse")
def test_a_file_of_constraints_only_installs_nothing(tmp_path: Path) -> None:
    staging = python_source(tmp_path, "-c pins.txt\n")
    (staging / "pins.txt").write_text("greeting-lib<2\n")
    before = sorted(path.name for path in staging.iterdir())

    install(staging, Target(Runtime.PYTHON_3_11))

    assert sorted(path.name for path in staging.iterdir()) == before


# --- Node.js ----------------------------------------------------------------------------------


def node_library(folder: Path, name: str, source: str, *, scripts: dict[str, str] | None = None):
    folder.mkdir(parents=True)
    package = {"name": name, "version": "1.0.0", "main": "index.js", "scripts": scripts or {}}
    (folder / "package.json").write_text(json.dumps(package))
    (folder / "index.js").write_text(source)
    return folder


def node_source(tmp_path: Path, package: dict[str, object]) -> Path:
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "app.js").write_text(NODE_HANDLER)
    (staging / "package.json").write_text(json.dumps(package))
    return staging


def test_node_dependencies_are_copied_in_and_dev_dependencies_left_out(tmp_path: Path) -> None:
    marker = tmp_path / "postinstall-ran"
    library = node_library(
        tmp_path / "libs" / "greeting-lib",
        "greeting-lib",
        "exports.greet = (name) => `Hello, ${name}`;\n",
        scripts={"postinstall": f"node -e \"require('fs').writeFileSync('{marker}', '')\""},
    )
    tooling = node_library(tmp_path / "libs" / "tooling", "tooling", "")
    staging = node_source(
        tmp_path,
        {
            "name": "hello",
            "dependencies": {"greeting-lib": f"file:{library}"},
            "devDependencies": {"tooling": f"file:{tooling}"},
        },
    )

    install(staging, Target(Runtime.NODEJS_20))

    installed = staging / "node_modules" / "greeting-lib"
    assert installed.is_dir()
    assert not installed.is_symlink(), "a link would leave the package; it must be a copy"
    assert not (staging / "node_modules" / "tooling").exists()
    assert not marker.exists(), "install scripts never run inside the daemon"
    script = "require('./app.js').handler({name: 'Ada'}).then((r) => console.log(r.body))"
    completed = subprocess.run(
        ["node", "-e", script], cwd=staging, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "Hello, Ada"


def test_a_package_json_without_dependencies_runs_no_npm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # npm could not be found if asked for
    staging = node_source(tmp_path, {"name": "hello", "devDependencies": {"tooling": "^1"}})

    install(staging, Target(Runtime.NODEJS_22))

    assert not (staging / "node_modules").exists()


def test_dependencies_without_npm_are_a_clear_permanent_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    staging = node_source(tmp_path, {"dependencies": {"greeting-lib": "^1"}})

    with pytest.raises(PermanentError, match=r"npm .* is not on the daemon's PATH"):
        install(staging, Target(Runtime.NODEJS_20))


@pytest.mark.parametrize("text", ["{not json", "[]"])
def test_an_invalid_package_json_is_refused(tmp_path: Path, text: str) -> None:
    staging = node_source(tmp_path, {})
    (staging / "package.json").write_text(text)

    with pytest.raises(PermanentError, match=r"package\.json (is not valid JSON|must hold)"):
        install(staging, Target(Runtime.NODEJS_20))


def test_an_unreachable_registry_is_worth_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    staging = node_source(tmp_path, {"dependencies": {"greeting-lib": "^1.0.0"}})

    with pytest.raises(TransientError, match="npm could not install"):
        install(staging, Target(Runtime.NODEJS_20))


def test_a_missing_local_package_is_refused_for_good(tmp_path: Path) -> None:
    staging = node_source(tmp_path, {"dependencies": {"gone": f"file:{tmp_path / 'gone'}"}})

    with pytest.raises(PermanentError, match="npm could not install"):
        install(staging, Target(Runtime.NODEJS_20))
