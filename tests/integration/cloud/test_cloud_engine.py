"""`LocalEngine` against a real host: plan, apply, describe, drift, destroy, restart."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import httpx
import pytest
from cloudkit import Cloud, copy_function, free_port, request_for, revision
from wheels import write_wheel

from reconciler.adapters.local.registration import Changes, Registration
from reconciler.domain.changes import ChangeAction
from reconciler.domain.drift import SECRET_MASK
from reconciler.ports import PermanentError

API = """\
apiVersion: reconciler/v1
kind: RestApi
metadata: {{name: {name}}}
spec:
  provider: local
  function:
    runtime: python3.11
    handler: app.handler
    source: fn
    environment: {{GREETING: {greeting}, API_KEY: {{secretRef: KEY}}}}
  routes: {routes}
  {local}
"""


def manifest(
    name: str,
    *,
    greeting: str = "hello",
    routes: str = '["GET /items/{id}"]',
    port: int | None = None,
) -> str:
    local = f"local: {{port: {port}}}" if port else ""
    return API.format(name=name, greeting=greeting, routes=routes, local=local)


def call(endpoint: str) -> dict:
    response = httpx.get(f"{endpoint}/items/1", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


SECRETS = {"KEY": "k-1"}


class TestApply:
    def test_apply_serves_and_describe_reports_revision_and_fingerprint(
        self, local: Cloud, tmp_path: Path
    ):
        source = copy_function("echo-py", tmp_path)
        request = request_for(manifest("apply-one"), source=source, label="r1", secrets=SECRETS)
        result = local.engine.apply(request)
        assert call(result.endpoint)["greeting"] == "hello"
        live = local.engine.describe("apply-one")
        assert live is not None
        assert (live.endpoint, live.revision, live.fingerprint) == (
            result.endpoint,
            request.revision,
            request.fingerprint,
        )

    def test_port_is_kept_across_applies(self, local: Cloud, tmp_path: Path):
        source = copy_function("echo-py", tmp_path)
        first = local.deploy(manifest("stable-port"), source=source, label="a", secrets=SECRETS)
        second = local.deploy(
            manifest("stable-port", greeting="hey"), source=source, label="b", secrets=SECRETS
        )
        assert first.endpoint == second.endpoint
        # Below the ephemeral range, so nothing else takes it while the host is down.
        assert 20000 <= int(first.outputs["port"]) < 32000
        assert call(second.endpoint)["greeting"] == "hey"

    def test_manifest_port_is_used(self, local: Cloud, tmp_path: Path):
        port = free_port()
        result = local.deploy(
            manifest("fixed-port", port=port),
            source=copy_function("echo-py", tmp_path),
            secrets=SECRETS,
        )
        assert result.endpoint == f"http://127.0.0.1:{port}/live"

    def test_new_code_is_served_after_apply(self, local: Cloud, tmp_path: Path):
        source = copy_function("echo-py", tmp_path)
        endpoint = local.deploy(
            manifest("new-code"), source=source, label="a", secrets=SECRETS
        ).endpoint
        app = source / "app.py"
        app.write_text(
            app.read_text().replace('"greeting": os.environ.get("GREETING")', '"greeting": "v2"')
        )
        local.deploy(manifest("new-code"), source=source, label="b", secrets=SECRETS)
        assert call(endpoint)["greeting"] == "v2"

    def test_failed_apply_leaves_the_previous_version_serving(self, local: Cloud, tmp_path: Path):
        source = copy_function("echo-py", tmp_path)
        endpoint = local.deploy(
            manifest("keeps-serving"), source=source, label="good", secrets=SECRETS
        ).endpoint
        (source / "app.py").write_text("def handler(:\n")  # a syntax error
        with pytest.raises(PermanentError, match="function cannot start"):
            local.deploy(manifest("keeps-serving"), source=source, label="bad", secrets=SECRETS)
        assert call(endpoint)["greeting"] == "hello"
        live = local.engine.describe("keeps-serving")
        assert live is not None
        assert live.revision == revision("good")

    def test_missing_secret_is_a_permanent_error(self, local: Cloud, tmp_path: Path):
        with pytest.raises(PermanentError, match="needs secret KEY"):
            local.deploy(manifest("no-secret"), source=copy_function("echo-py", tmp_path))

    def test_taken_port_is_a_permanent_error_naming_the_port(self, local: Cloud, tmp_path: Path):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            with pytest.raises(PermanentError, match=f"port {port} is not free"):
                local.deploy(
                    manifest("busy-port", port=port),
                    source=copy_function("echo-py", tmp_path),
                    secrets=SECRETS,
                )


class TestPlan:
    def test_plan_for_a_new_deployment_creates_everything(self, local: Cloud, tmp_path: Path):
        plan = local.engine.plan(
            request_for(manifest("plan-new"), source=copy_function("echo-py", tmp_path))
        )
        assert [(c.resource, c.action) for c in plan.changes] == [
            ("function", ChangeAction.CREATE),
            ("gateway", ChangeAction.CREATE),
        ]

    def test_plan_is_empty_when_live_matches(self, local: Cloud, tmp_path: Path):
        source = copy_function("echo-py", tmp_path)
        request = request_for(manifest("plan-same"), source=source, secrets=SECRETS)
        local.engine.apply(request)
        assert local.engine.plan(request).is_empty

    def test_plan_names_each_changed_path(self, local: Cloud, tmp_path: Path):
        source = copy_function("echo-py", tmp_path)
        local.deploy(manifest("plan-diff"), source=source, secrets=SECRETS)
        (source / "extra.txt").write_text("new file")
        changed = request_for(
            manifest(
                "plan-diff",
                greeting="bye",
                routes='["GET /items/{id}", "POST /items"]',
                port=free_port(),
            ),
            source=source,
            secrets={"KEY": "k-2"},
        )
        plan = local.engine.plan(changed)
        function, gateway = plan.changes
        assert (function.resource, function.action) == ("function", ChangeAction.UPDATE)
        assert function.paths == (
            "function.code",
            "function.environment.API_KEY",
            "function.environment.GREETING",
        )
        assert (gateway.resource, gateway.action) == ("gateway", ChangeAction.REPLACE)
        assert gateway.paths == ("local.port", "routes")


class TestDrift:
    @pytest.fixture
    def deployed(self, local: Cloud, tmp_path: Path) -> str:
        name = f"drift-{tmp_path.name[-12:].lower().replace('_', '-')}".rstrip("-")
        local.deploy(manifest(name), source=copy_function("echo-py", tmp_path), secrets=SECRETS)
        assert local.engine.detect_drift(name) == ()
        return name

    def test_environment_changed_through_the_admin_api(self, local: Cloud, deployed: str):
        with local.cloud.client() as client:
            client.patch(deployed, Changes(environment={"GREETING": "tampered"}))
        (finding,) = local.engine.detect_drift(deployed)
        assert (finding.path, finding.desired, finding.live) == (
            "function.environment.GREETING",
            "hello",
            "tampered",
        )

    def test_routes_changed_through_the_admin_api(self, local: Cloud, deployed: str):
        with local.cloud.client() as client:
            client.patch(deployed, Changes(routes=["GET /other"]))
        (finding,) = local.engine.detect_drift(deployed)
        assert (finding.resource, finding.path, finding.live) == (
            "gateway",
            "routes",
            ("GET /other",),
        )

    def test_code_changed_on_disk(self, local: Cloud, deployed: str):
        live = local.engine.describe(deployed)
        assert live is not None
        with local.cloud.client() as client:
            code_dir = Path(client.get(deployed).function.code_dir)
        (code_dir / "app.py").write_text("def handler(event, context):\n    return 'edited'\n")
        (finding,) = local.engine.detect_drift(deployed)
        assert finding.path == "function.code"
        assert finding.desired != finding.live

    def test_deployment_removed_from_the_host(self, local: Cloud, deployed: str):
        with local.cloud.client() as client:
            assert client.delete(deployed)
        (finding,) = local.engine.detect_drift(deployed)
        assert (finding.path, finding.live) == ("deployment", "not registered")

    def test_secret_changed_behind_the_engines_back_is_reported_masked(
        self, local: Cloud, deployed: str
    ):
        with local.cloud.client() as client:
            live = client.get(deployed)
            assert live is not None
            fields = live.model_dump(include={"name", "kind", "revision", "fingerprint", "version"})
            client.put(
                Registration(
                    **fields,
                    function=live.function,
                    gateway=live.gateway,
                    port=live.port,
                    secrets={"API_KEY": "swapped"},
                )
            )
        (finding,) = local.engine.detect_drift(deployed)
        assert (finding.path, finding.secret) == ("function.environment.API_KEY", True)
        assert (finding.desired, finding.live) == (SECRET_MASK, SECRET_MASK)
        recorded = (local.cloud.paths.deployment_dir(deployed) / "applied.json").read_text()
        assert "k-1" not in recorded
        assert "swapped" not in recorded


def test_destroy_frees_the_port_and_removes_the_files(local: Cloud, tmp_path: Path):
    result = local.deploy(
        manifest("doomed"), source=copy_function("echo-py", tmp_path), secrets=SECRETS
    )
    port = int(result.outputs["port"])
    local.engine.destroy("doomed")
    assert local.engine.describe("doomed") is None
    assert not local.cloud.paths.deployment_dir("doomed").exists()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # Would raise if the host still listened.


def test_host_restart_keeps_registrations_and_secrets(local: Cloud, tmp_path: Path):
    endpoint = local.deploy(
        manifest("survivor"),
        source=copy_function("echo-py", tmp_path),
        secrets={"KEY": "kept-secret"},
    ).endpoint
    first = local.cloud.info()
    assert first is not None
    assert local.cloud.stop()
    assert local.cloud.info() is None
    (finding,) = local.engine.detect_drift("survivor")
    assert finding.live == "local cloud host not running"

    local.cloud.ensure_running()
    body = call(endpoint)
    assert (body["greeting"], body["secret"]) == ("hello", "kept-secret")
    assert local.engine.detect_drift("survivor") == ()
    assert "kept-secret" not in local.cloud.paths.registry.read_text()


def test_admin_api_refuses_callers_without_the_token(local: Cloud):
    info = local.cloud.ensure_running()
    response = httpx.get(f"http://127.0.0.1:{info.admin_port}/v1/deployments", timeout=30)
    assert response.status_code == 401
    mode = stat.S_IMODE(local.cloud.paths.token_file.stat().st_mode)
    assert mode == 0o600


class TestDependencies:
    """What a source's requirements.txt or package.json names is installed beside its code."""

    @pytest.fixture
    def wheelhouse(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        folder = tmp_path / "wheelhouse"
        folder.mkdir()
        monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("PIP_NO_INDEX", "1")
        monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
        write_wheel(folder, "greeting_lib", "def greet():\n    return 'hi from a wheel'\n")
        return folder

    @pytest.mark.usefixtures("wheelhouse")
    def test_a_python_function_imports_its_requirements_and_its_code_is_untouched(
        self, local: Cloud, tmp_path: Path
    ):
        source = python_source_needing_greeting_lib(tmp_path)

        result = local.deploy(manifest("deps-py"), source=source, secrets=SECRETS)

        assert call(result.endpoint) == {"greeting": "hi from a wheel"}
        code = Path(local.engine._recorded("deps-py").function.code_dir)
        # Only the source (and the bytecode Python writes beside it, which drift ignores).
        names = sorted(path.name for path in code.iterdir() if path.name != "__pycache__")
        assert names == ["app.py", "requirements.txt"]
        assert (code.parent / "python" / "greeting_lib.py").is_file()
        assert local.engine.detect_drift("deps-py") == ()

    def test_a_node_module_imports_its_dependencies_and_its_code_is_untouched(
        self, local: Cloud, tmp_path: Path
    ):
        library = tmp_path / "greeting-lib"
        library.mkdir()
        (library / "package.json").write_text(
            json.dumps({"name": "greeting-lib", "version": "1.0.0", "main": "index.js"})
        )
        (library / "index.js").write_text("exports.greet = () => 'hi from npm';\n")
        source = tmp_path / "fn"
        source.mkdir()
        package = {"type": "module", "dependencies": {"greeting-lib": f"file:{library}"}}
        (source / "package.json").write_text(json.dumps(package))
        (source / "app.js").write_text(NODE_WITH_A_DEPENDENCY)
        text = manifest("deps-node").replace("python3.11", "nodejs20.x")

        result = local.deploy(text, source=source, secrets=SECRETS)

        assert call(result.endpoint) == {"greeting": "hi from npm"}
        code = Path(local.engine._recorded("deps-node").function.code_dir)
        assert sorted(path.name for path in code.iterdir()) == ["app.js", "package.json"]
        assert local.engine.detect_drift("deps-node") == ()

    @pytest.mark.usefixtures("wheelhouse")
    def test_an_unknown_requirement_fails_the_apply_and_the_last_version_keeps_serving(
        self, local: Cloud, tmp_path: Path
    ):
        source = python_source_needing_greeting_lib(tmp_path)
        first = local.deploy(manifest("deps-keep"), source=source, secrets=SECRETS, label="v1")

        (source / "requirements.txt").write_text("greeting-lib==1.0\nno-such-package\n")
        with pytest.raises(PermanentError, match="no-such-package"):
            local.deploy(manifest("deps-keep"), source=source, secrets=SECRETS, label="v2")

        assert call(first.endpoint) == {"greeting": "hi from a wheel"}


def python_source_needing_greeting_lib(tmp_path: Path) -> Path:
    source = tmp_path / "fn"
    source.mkdir()
    (source / "requirements.txt").write_text("greeting-lib==1.0\n")
    (source / "app.py").write_text(PYTHON_WITH_A_DEPENDENCY)
    return source


PYTHON_WITH_A_DEPENDENCY = """\
import json

import greeting_lib


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"greeting": greeting_lib.greet()})}
"""
NODE_WITH_A_DEPENDENCY = """\
import { greet } from "greeting-lib";

export const handler = async () => ({
  statusCode: 200,
  body: JSON.stringify({ greeting: greet() }),
});
"""
