"""`PulumiEngine` through the real Automation API, against a scripted CLI (`scripted_pulumi`).

The SDK builds the argv, tails the event log, parses outputs and classifies errors as it does in
production; only the `pulumi` process is scripted. The watchdog tests run real processes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from builders import make_fingerprint, make_revision, make_spec
from pulumi.automation import CommandResult
from pulumi.automation.errors import (
    InvalidVersionError,
    StackNotFoundError,
    create_command_error,
)
from scripted_pulumi import (
    SECRET,
    Backend,
    ScriptedCommand,
    TinyBuilder,
    diagnostic,
    endpoint_of,
    fake_cli,
    outputs_of,
    root_step,
    step,
)
from structlog.testing import capture_logs

from reconciler.adapters.pulumi.command import (
    CliNotFoundError,
    CliTooOldError,
    OperationTimedOutError,
    WatchdogCommand,
)
from reconciler.adapters.pulumi.engine import INTERRUPTED_MARKER, PulumiEngine
from reconciler.adapters.pulumi.errors import LockHolder, guarded, is_stale, translate
from reconciler.domain.changes import Change, ChangeAction
from reconciler.domain.drift import SECRET_MASK, DriftFinding
from reconciler.ports import ApplyRequest, LiveState, PermanentError, TransientError

MARKER = "s3cr3t-marker-7f2a"
PASSPHRASE = "passphrase-marker-91c"  # noqa: S105  # a marker to search for, not a secret
FUNCTION = "aws:lambda/function:Function"
ROUTE = "aws:apigatewayv2/route:Route"
HOST = socket.gethostname()
LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
    "to end or delete the lock file with `pulumi cancel`.\n"
    "  file:///state/.pulumi/locks/organization/reconciler-aws/orders/0b1c.json: "
    "created by {user}@{host} (pid {pid}) at 2026-01-02T03:04:05Z"
)


def request_for(label: str = "r1") -> ApplyRequest:
    return ApplyRequest(
        spec=make_spec(),
        revision=make_revision(label),
        fingerprint=make_fingerprint(label),
        source_dir=Path("/nonexistent"),
        secrets={"orders-db": MARKER},
    )


def applied(script: ScriptedCommand, request: ApplyRequest, stack: str = "orders") -> None:
    """The backend holds `stack`, last applied for `request`."""
    script.stacks[stack] = Backend(outputs=outputs_of(request, stack), secret_outputs={"token"})


def engine_for(
    state: Path, command: ScriptedCommand | None, builder: TinyBuilder | None = None, **options: Any
) -> PulumiEngine:
    """An engine of `builder` (one region by default) with an empty passphrase unless told."""
    options.setdefault("env", {"PULUMI_CONFIG_PASSPHRASE": ""})
    return PulumiEngine(builder or TinyBuilder(), state_dir=state, command=command, **options)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def script() -> ScriptedCommand:
    return ScriptedCommand()


@pytest.fixture
def builder() -> TinyBuilder:
    return TinyBuilder()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def engine(builder: TinyBuilder, state: Path, script: ScriptedCommand) -> PulumiEngine:
    return PulumiEngine(
        builder, state_dir=state, command=script, env={"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    )


class TestApply:
    def test_apply_previews_then_updates_and_returns_the_endpoint_from_outputs(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        request = request_for()
        script.preview_steps["orders"] = [
            root_step("create", "orders"),
            step("create", FUNCTION, "fn"),
        ]
        script.up_outputs["orders"] = outputs_of(request)
        script.secret_outputs = {"token"}

        result = engine.apply(request)

        ran = script.subcommands()
        assert ran.index("preview") < ran.index("up")
        assert result.endpoint == endpoint_of("orders")
        assert result.outputs["revision"] == request.revision.sha
        assert "token" not in result.outputs, "secret outputs are left out"

    def test_apply_skips_up_when_preview_shows_no_change_and_outputs_are_current(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        request = request_for()
        applied(script, request)
        script.preview_steps["orders"] = [root_step("same", "orders"), step("same", FUNCTION, "fn")]

        result = engine.apply(request)

        assert "up" not in script.subcommands()
        assert result.endpoint == endpoint_of("orders")

    def test_apply_runs_up_when_only_the_outputs_changed(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        """A new revision with the same resources previews as `same`; only `up` records it."""
        applied(script, request_for("r1"))
        script.up_outputs["orders"] = outputs_of(request_for("r2"))

        result = engine.apply(request_for("r2"))

        assert "up" in script.subcommands()
        assert result.outputs["revision"] == make_revision("r2").sha

    def test_first_apply_creates_the_stack_in_its_own_work_dir_with_env_not_argv(
        self, engine: PulumiEngine, script: ScriptedCommand, state: Path
    ):
        script.up_outputs["orders"] = outputs_of(request_for())
        engine.apply(request_for())

        init = next(call for call in script.calls if call.subcommand == "stack init")
        assert init.args[:3] == ["stack", "init", "orders"]
        assert init.cwd == str(state.absolute() / "pulumi" / "aws" / "orders")
        assert init.env["PULUMI_BACKEND_URL"] == (state.absolute() / "pulumi/backend").as_uri()
        assert init.env["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE
        assert init.env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
        assert init.env["PULUMI_HOME"] == str(state.absolute() / "pulumi" / "home")
        assert (state / "pulumi" / "backend").is_dir()

    def test_plugins_install_once_before_the_first_operation_and_config_is_set_once(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        script.up_outputs["orders"] = outputs_of(request_for())
        engine.apply(request_for())
        engine.apply(request_for())

        installs = [call.args for call in script.calls if call.subcommand == "plugin install"]
        assert installs == [["plugin", "install", "resource", "aws", "v7.51.1"]]
        assert script.subcommands()[0] == "plugin install"
        config = [call.args for call in script.calls if call.subcommand == "config set-all"]
        assert config == [
            ["config", "set-all", "--stack", "orders", "--plaintext", "aws:region=eu-west-1"]
        ]

    def test_every_region_is_applied_and_the_first_gives_the_endpoint(
        self, state: Path, script: ScriptedCommand
    ):
        builder = TinyBuilder(regions=("eu-west-1", "us-east-1"))
        engine = engine_for(state, script, builder)
        request = request_for()
        script.up_outputs = {s: outputs_of(request, s) for s in ("orders", "orders.us-east-1")}

        result = engine.apply(request)

        assert result.endpoint == endpoint_of("orders")
        assert result.outputs["orders.us-east-1:endpoint"] == endpoint_of("orders.us-east-1")
        assert sorted(script.stacks) == ["orders", "orders.us-east-1"]
        assert builder.workdirs == [
            state.absolute() / "pulumi/aws" / s for s in ("orders", "orders.us-east-1")
        ]

    def test_secrets_reach_no_command_line_no_work_dir_file_and_no_repr(
        self, engine: PulumiEngine, script: ScriptedCommand, state: Path
    ):
        request = request_for()
        script.up_outputs["orders"] = outputs_of(request)
        script.secret_outputs = {"token"}
        script.refresh_steps["orders"] = [step("same", FUNCTION, "fn")]
        engine.plan(request)
        result = engine.apply(request)
        engine.detect_drift("orders")
        engine.describe("orders")

        for call in script.calls:
            assert not any(MARKER in arg or PASSPHRASE in arg for arg in call.args), call.args
        files = [path for path in state.rglob("*") if path.is_file()]
        assert any(path.name == "Pulumi.orders.yaml" for path in files)
        for path in files:
            assert MARKER not in path.read_text(errors="replace"), path
            assert PASSPHRASE not in path.read_text(errors="replace"), path
        assert MARKER not in repr(result)
        assert PASSPHRASE not in repr(engine._list_workspace())


class TestPlan:
    def test_preview_steps_become_typed_changes_with_property_paths(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        script.preview_steps["orders"] = [
            root_step("create", "orders"),
            step("create", "pulumi:providers:aws", "default_7_51_1"),
            step("create", ROUTE, "get-orders"),
            step(
                "update",
                FUNCTION,
                "fn",
                diffs=["timeout", "environment"],
                detailed={
                    "timeout": ("update", False),
                    "environment.variables.TABLE": ("update", True),
                },
            ),
            step("create-replacement", "aws:apigatewayv2/stage:Stage", "live", keys=["name"]),
            step("replace", "aws:apigatewayv2/stage:Stage", "live", keys=["name"]),
            step("delete-replaced", "aws:apigatewayv2/stage:Stage", "live", keys=["name"]),
            step("delete", ROUTE, "old-route"),
            step("same", "aws:iam/role:Role", "role"),
        ]

        plan = engine.plan(request_for())

        assert plan.changes == (
            Change(f"{ROUTE}::get-orders", ChangeAction.CREATE),
            Change(
                f"{FUNCTION}::fn", ChangeAction.UPDATE, ("environment.variables.TABLE", "timeout")
            ),
            Change("aws:apigatewayv2/stage:Stage::live", ChangeAction.REPLACE, ("name",)),
            Change(f"{ROUTE}::old-route", ChangeAction.DELETE),
        )
        assert plan.is_destructive

    def test_an_update_without_detailed_diff_lists_the_changed_keys(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        script.preview_steps["orders"] = [step("update", FUNCTION, "fn", diffs=["memorySize"])]

        assert engine.plan(request_for()).changes == (
            Change(f"{FUNCTION}::fn", ChangeAction.UPDATE, ("memorySize",)),
        )

    def test_an_unchanged_stack_plans_nothing(self, engine: PulumiEngine, script: ScriptedCommand):
        applied(script, request_for())
        assert engine.plan(request_for()).is_empty

    def test_changes_of_a_further_region_are_prefixed_with_its_stack(
        self, state: Path, script: ScriptedCommand
    ):
        builder = TinyBuilder(regions=("eu-west-1", "us-east-1"))
        engine = engine_for(state, script, builder)
        for stack in ("orders", "orders.us-east-1"):
            script.preview_steps[stack] = [step("create", FUNCTION, "fn", stack=stack)]

        assert [change.resource for change in engine.plan(request_for()).changes] == [
            f"{FUNCTION}::fn",
            f"orders.us-east-1::{FUNCTION}::fn",
        ]


class TestDrift:
    def test_a_changed_property_a_deleted_resource_and_a_masked_secret_are_findings(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        applied(script, request_for())
        env = {"variables": {"TABLE": "orders", "DB_PASSWORD": SECRET}}
        script.refresh_steps["orders"] = [
            step("same", "aws:iam/role:Role", "role"),
            step(
                "update",
                FUNCTION,
                "fn",
                old={"inputs": {"timeout": 10}, "outputs": {"timeout": 10, "environment": env}},
                new={"inputs": {"timeout": 30}, "outputs": {"timeout": 30, "environment": env}},
                diffs=["timeout", "environment"],
                detailed={
                    "timeout": ("update", False),
                    "environment.variables.DB_PASSWORD": ("update", False),
                },
            ),
            step("delete", ROUTE, "get-orders"),
        ]

        findings = engine.detect_drift("orders")

        assert findings == (
            DriftFinding(
                f"{FUNCTION}::fn",
                "environment.variables.DB_PASSWORD",
                SECRET_MASK,
                SECRET_MASK,
                secret=True,
            ),
            DriftFinding(f"{FUNCTION}::fn", "timeout", 10, 30),
            DriftFinding(f"{ROUTE}::get-orders", "(resource)", "present", "absent"),
        )
        assert "refresh --preview-only" in script.subcommands()
        assert "up" not in script.subcommands()

    def test_a_drifted_resource_without_detailed_diff_compares_its_outputs(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        applied(script, request_for())
        script.refresh_steps["orders"] = [
            step(
                "update",
                FUNCTION,
                "fn",
                old={"outputs": {"memorySize": 128}},
                new={"outputs": {"memorySize": 512}},
            )
        ]

        assert engine.detect_drift("orders") == (
            DriftFinding(f"{FUNCTION}::fn", "memorySize", 128, 512),
        )

    def test_paths_into_lists_quoted_keys_inputs_and_secret_parents_are_resolved(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        applied(script, request_for())
        old = {
            "inputs": {"tags": {"team.name": "payments"}},
            "outputs": {"routes": ["GET /a"], "environment": SECRET},
        }
        new = {"inputs": {"tags": {}}, "outputs": {"routes": ["GET /b"], "environment": SECRET}}
        detailed = {
            'tags["team.name"]': ("delete", True),
            "routes[0]": ("update", False),
            "environment.variables.TOKEN": ("update", False),
            "layers[0]": ("add", False),
        }
        script.refresh_steps["orders"] = [
            step("update", FUNCTION, "fn", old=old, new=new, detailed=detailed)
        ]

        assert engine.detect_drift("orders") == (
            DriftFinding(f"{FUNCTION}::fn", "environment.variables.TOKEN", "", "", secret=True),
            DriftFinding(f"{FUNCTION}::fn", "layers[0]", None, None),
            DriftFinding(f"{FUNCTION}::fn", "routes[0]", "GET /a", "GET /b"),
            DriftFinding(f"{FUNCTION}::fn", 'tags["team.name"]', "payments", None),
        )

    def test_a_stack_removed_after_it_was_listed_has_no_drift(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        applied(script, request_for())
        script.fail_next("stack select", stderr="error: no stack named 'orders' found")

        assert engine.detect_drift("orders") == ()

    def test_nothing_ever_applied_has_no_drift_and_runs_no_refresh(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        assert engine.detect_drift("orders") == ()
        assert "refresh --preview-only" not in script.subcommands()


class TestDescribeAndDestroy:
    def test_a_restarted_daemon_reads_what_is_applied_from_the_stack_outputs(
        self, builder: TinyBuilder, state: Path, script: ScriptedCommand
    ):
        request = request_for()
        applied(script, request)
        fresh = engine_for(state, script, builder)

        assert fresh.describe("orders") == LiveState(
            name="orders",
            endpoint=endpoint_of("orders"),
            revision=request.revision,
            fingerprint=request.fingerprint,
        )

    def test_outputs_that_are_no_revision_describe_as_unknown(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        script.stacks["orders"] = Backend(outputs={"endpoint": "https://x", "revision": "main"})

        live = engine.describe("orders")

        assert live == LiveState("orders", endpoint="https://x", revision=None, fingerprint=None)

    def test_describe_is_none_without_a_stack_or_before_the_first_up(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        assert engine.describe("orders") is None
        engine.plan(request_for())  # creates the stack, applies nothing
        assert engine.describe("orders") is None

    def test_destroy_removes_every_stack_of_the_deployment_and_their_work_dirs(
        self, state: Path, script: ScriptedCommand
    ):
        builder = TinyBuilder(regions=("eu-west-1", "us-east-1"))
        engine = engine_for(state, script, builder)
        engine.apply(request_for())
        applied(script, request_for(), stack="ordersx")  # another deployment's stack stays

        engine.destroy("orders")

        assert sorted(script.stacks) == ["ordersx"]
        assert [c.subcommand for c in script.calls if c.subcommand in {"destroy", "stack rm"}] == [
            "destroy",
            "stack rm",
            "destroy",
            "stack rm",
        ]
        work = state / "pulumi" / "aws"
        assert not (work / "orders").exists()
        assert not (work / "orders.us-east-1").exists()

    def test_destroy_is_a_no_op_when_nothing_exists(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        engine.destroy("orders")
        assert "destroy" not in script.subcommands()


class TestLocks:
    def test_a_locked_stack_is_transient_and_the_next_attempt_succeeds(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        script.preview_steps["orders"] = [step("create", FUNCTION, "fn")]
        script.fail_next("up", stderr=LOCKED.format(user="ci", host="builder-7", pid=4242))

        with pytest.raises(TransientError, match="locked by another update") as raised:
            engine.apply(request_for())
        assert raised.value.retry_after == 60
        assert "ci@builder-7 pid 4242" in str(raised.value)
        assert "cancel" not in script.subcommands(), "another host's lock is never cancelled"

        engine.apply(request_for())
        assert script.subcommands().count("up") == 2

    def test_a_lock_of_a_live_local_process_is_never_cancelled(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        script.preview_steps["orders"] = [step("create", FUNCTION, "fn")]
        script.fail_next("up", stderr=LOCKED.format(user="me", host=HOST, pid=os.getpid()))

        with pytest.raises(TransientError):
            engine.apply(request_for())
        assert "cancel" not in script.subcommands()

    def test_a_stale_lock_of_a_dead_local_process_is_cleared_logged_and_retried(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        script.preview_steps["orders"] = [step("create", FUNCTION, "fn")]
        script.up_outputs["orders"] = outputs_of(request_for())
        pid = dead_pid()
        script.fail_next("up", stderr=LOCKED.format(user="me", host=HOST, pid=pid))

        with capture_logs() as logs:
            result = engine.apply(request_for())

        assert result.endpoint == endpoint_of("orders")
        ran = script.subcommands()
        assert ran[ran.index("cancel") - 1 : ran.index("cancel") + 2] == ["up", "cancel", "up"]
        cancel = next(call for call in script.calls if call.subcommand == "cancel")
        assert cancel.args == ["cancel", "--yes", "--stack", "orders"]
        cleared = [entry for entry in logs if entry["event"] == "pulumi_stale_lock_cleared"]
        assert cleared[0]["holders"] == [f"me@{HOST} pid {pid}"]
        assert cleared[0]["log_level"] == "warning"

    def test_only_dead_processes_of_this_host_make_a_lock_stale(self):
        zombie = subprocess.Popen(["true"])
        deadline = time.monotonic() + 10
        while _stat(zombie.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)  # exited, not yet reaped
        try:
            assert is_stale([LockHolder("me", HOST, zombie.pid)]), "a zombie runs nothing"
            assert is_stale([LockHolder("me", HOST, dead_pid())])
            assert not is_stale([LockHolder("me", HOST, os.getpid())])
            assert not is_stale([LockHolder("me", "elsewhere", dead_pid())])
            assert not is_stale([])
        finally:
            zombie.wait()


class TestFailures:
    def test_a_program_error_is_permanent_with_the_programs_message(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        message = (
            "python inline source runtime error: secret orders-db is not set\n"
            "Traceback (most recent call last):\n  File ..."
        )
        stdout = (
            "Previewing update (orders):\n\nDiagnostics:\n"
            f"  pulumi:pulumi:Stack (reconciler-aws-orders):\n    error: {message}"
        )
        events = [diagnostic(message), diagnostic("update failed")]
        script.fail_next("preview", stdout=stdout, stderr=UNHANDLED, events=events)

        with pytest.raises(
            PermanentError, match=r"the program failed: secret orders-db is not set$"
        ):
            engine.plan(request_for())

    def test_a_missing_cli_says_how_to_install_it(
        self, builder: TinyBuilder, state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        engine = engine_for(state, None, builder)

        with pytest.raises(PermanentError) as raised:
            engine.describe("orders")
        assert str(raised.value) == (
            "the Pulumi CLI is not installed: install it with "
            "`curl -fsSL https://get.pulumi.com | sh` (version 3.181 or newer) or put it on PATH"
        )

    @pytest.mark.parametrize("real", [False, True], ids=["reported-version", "version-of-binary"])
    def test_a_cli_older_than_3_181_names_both_versions(
        self,
        builder: TinyBuilder,
        state: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        real: bool,
    ):
        if real:
            fake_cli(tmp_path / "cli", version="v3.150.0")
            monkeypatch.setenv(
                "PATH", f"{tmp_path / 'cli' / 'bin'}{os.pathsep}{os.environ['PATH']}"
            )
            command = None
        else:
            command = ScriptedCommand(version="3.150.0")
        engine = engine_for(state, command, builder)

        with pytest.raises(PermanentError, match=r"found is 3\.150\.0; version 3\.181\.0 or newer"):
            engine.plan(request_for())

    def test_a_missing_passphrase_names_the_variable(
        self, builder: TinyBuilder, state: Path, script: ScriptedCommand
    ):
        engine = engine_for(state, script, passphrase_env="ORDERS_PASSPHRASE", env={})  # noqa: S106

        with pytest.raises(
            PermanentError, match="set ORDERS_PASSPHRASE in the daemon's environment"
        ):
            engine.apply(request_for())
        assert script.calls == []

    def test_a_kms_secrets_provider_needs_no_passphrase_and_is_given_to_stack_init(
        self, builder: TinyBuilder, state: Path, script: ScriptedCommand
    ):
        kms = "awskms://alias/reconciler?region=eu-west-1"
        engine = engine_for(state, script, secrets_provider=kms, env={})
        engine.plan(request_for())

        init = next(call for call in script.calls if call.subcommand == "stack init")
        assert init.flag("--secrets-provider") == kms
        assert "PULUMI_CONFIG_PASSPHRASE" not in init.env

    def test_a_plugin_download_cut_off_is_transient_and_retried_next_time(
        self, engine: PulumiEngine, script: ScriptedCommand
    ):
        script.fail_next(
            "plugin install",
            stderr=RESET.replace("error: ", "error: [resource plugin aws-7.51.1] downloading: "),
        )

        with pytest.raises(TransientError, match="connection reset by peer"):
            engine.plan(request_for())
        engine.plan(request_for())
        assert script.subcommands().count("plugin install") == 2


class TestWatchdog:
    def test_a_run_past_its_deadline_kills_the_cli_and_everything_it_started(self, tmp_path: Path):
        pids = tmp_path / "pids"
        body = (
            f"trap 'echo int >> {tmp_path / 'signals'}' INT\n"
            f"sleep 300 &\necho $$ > {pids}\necho $! >> {pids}\n"
            "while :; do wait; done"
        )
        command = WatchdogCommand(
            root=str(fake_cli(tmp_path, body=body).parent.parent), timeout=1.0, grace=0.5
        )
        assert str(command.version) == "3.200.0"

        started = time.monotonic()
        with pytest.raises(OperationTimedOutError, match="pulumi up ran longer than 1s"):
            command.run(["up", "--yes"], str(tmp_path), {})

        assert time.monotonic() - started < 10
        assert (tmp_path / "signals").read_text() == "int\n", "SIGINT first, then SIGKILL"
        for pid in map(int, pids.read_text().split()):
            assert not _running(pid), f"process {pid} of the group survived"

    def test_a_timed_out_apply_is_transient_and_the_next_apply_refreshes_first(
        self, engine: PulumiEngine, script: ScriptedCommand, state: Path
    ):
        script.preview_steps["orders"] = [step("create", FUNCTION, "fn")]
        script.up_outputs["orders"] = outputs_of(request_for())
        script.fail_next("up", error=OperationTimedOutError(["up"], 1800))

        with pytest.raises(
            TransientError, match="timed out; the stack may have pending operations"
        ):
            engine.apply(request_for())
        assert (state / "pulumi" / "aws" / "orders" / INTERRUPTED_MARKER).exists()

        before = len(script.calls)
        with capture_logs() as logs:
            engine.apply(request_for())
        second = script.calls[before:]
        refresh = next(call for call in second if call.subcommand == "refresh")
        assert "--clear-pending-creates" in refresh.args
        ran = [call.subcommand for call in second]
        assert ran.index("refresh") < ran.index("preview") < ran.index("up")
        assert not (state / "pulumi" / "aws" / "orders" / INTERRUPTED_MARKER).exists()
        assert any(entry["event"] == "pulumi_pending_operations_refreshed" for entry in logs)

    def test_a_run_within_its_deadline_streams_its_output_and_fails_as_the_sdk_does(
        self, tmp_path: Path
    ):
        body = 'echo "$@"; echo "error: no stack named \'orders\' found" >&2; exit 255'
        command = WatchdogCommand(root=str(fake_cli(tmp_path, body=body).parent.parent), timeout=30)
        lines: list[str] = []

        with pytest.raises(StackNotFoundError):
            command.run(["stack", "select", "--stack", "orders"], str(tmp_path), {}, lines.append)
        assert lines == ["--non-interactive stack select --stack orders"]

        command = WatchdogCommand(
            root=str(fake_cli(tmp_path, body='echo "ok $X"').parent.parent), timeout=30
        )
        assert command.run(["whoami"], str(tmp_path), {"X": "1"}).stdout == "ok 1"

    @pytest.mark.parametrize(
        "version",
        ["'not a version'", "v3.180.9", "v3.200.0-; exit 1", "v3.200.0-"],
        ids=["unknown", "older", "failing", "unparsable"],
    )
    def test_a_cli_of_unknown_or_older_version_is_refused(self, tmp_path: Path, version: str):
        root = fake_cli(tmp_path, version=version).parent.parent
        with pytest.raises(CliTooOldError):
            WatchdogCommand(root=str(root), timeout=1)

    def test_a_missing_or_vanished_cli_is_reported(self, tmp_path: Path):
        with pytest.raises(CliNotFoundError):
            WatchdogCommand(root=str(tmp_path / "nowhere"), timeout=1)
        command = WatchdogCommand(root=str(fake_cli(tmp_path).parent.parent), timeout=1)
        Path(command.command).unlink()
        with pytest.raises(CliNotFoundError):
            command.run(["whoami"], str(tmp_path), {})


def _stat(pid: int) -> str | None:
    """The process state letter from /proc, None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return None


def _running(pid: int) -> bool:
    return _stat(pid) not in {None, "Z"}


def _error(*, stdout: str = "", stderr: str = "") -> Exception:
    return create_command_error(CommandResult(stdout, stderr, 255))


T, P = TransientError, PermanentError
LOCK_ERROR = _error(stderr=LOCKED.format(user="ci", host="b7", pid=9))
CLOUD_CONFLICT = "error: [409] Conflict: Another update is currently in progress."
INLINE = "    error: python inline source runtime error: boom\n    Traceback"
UNHANDLED = "error: an unhandled error occurred: Program exited with non-zero exit code: 1"
THROTTLED = "error: creating Lambda Function: ThrottlingException: Rate exceeded"
RESET = "error: read tcp 10.0.0.2:1->3.4.5.6:443: read: connection reset by peer"
OTHER = "warning: x\nerror: AccessDenied: not authorized to perform lambda:CreateFunction\nmore"
# One row per row of the error table in `errors.py`, in its order: (id, error, kind, message).
ERROR_TABLE = [
    ("watchdog-timeout", OperationTimedOutError(["up"], 5), T, "ran longer than 5s; timed out"),
    ("cli-missing", CliNotFoundError("pulumi"), P, "the Pulumi CLI is not installed: install"),
    ("cli-missing-sdk", FileNotFoundError(2, "No such file", "pulumi"), P, "is not installed"),
    ("cli-too-old", CliTooOldError("3.150.0"), P, "found is 3.150.0; version 3.181.0 or newer"),
    ("sdk-version", InvalidVersionError("Major version mismatch."), P, "Major version mismatch"),
    ("diy-lock", LOCK_ERROR, T, "the stack is locked by another update (ci@b7 pid 9)"),
    ("cloud-conflict", _error(stderr=CLOUD_CONFLICT), T, "locked by another update;"),
    ("inline-program", _error(stdout=INLINE), P, "the program failed: boom"),
    ("program-runtime", _error(stdout=UNHANDLED), P, "the program failed: an unhandled error"),
    ("compilation", _error(stdout="error: a.go:3: syntax error: x"), P, "failed: a.go:3: syntax"),
    ("throttling", _error(stderr=THROTTLED), T, "orders: creating Lambda Function: Throttling"),
    ("request-limit", _error(stderr="error: RequestLimitExceeded: x"), T, "RequestLimitExceeded"),
    ("connection-reset", _error(stderr=RESET), T, "read: connection reset by peer"),
    ("io-timeout", _error(stderr="error: dial tcp 3.4.5.6:443: i/o timeout"), T, "i/o timeout"),
    ("tls", _error(stderr="error: net/http: TLS handshake timeout"), T, "TLS handshake timeout"),
    ("dns", _error(stderr="error: lookup lambda.amazonaws.com: no such host"), T, "no such host"),
    ("other", _error(stdout="token=abc", stderr=OTHER), P, "orders: AccessDenied: not authorized"),
    ("no-summary", RuntimeError("summary event never found"), P, "the Pulumi CLI sent no summary"),
    ("os-error", PermissionError(13, "Permission denied", "/bin/pulumi"), P, "Permission denied"),
]


class TestErrorTable:
    @pytest.mark.parametrize(
        ("error", "kind", "message"), [pytest.param(*row[1:], id=row[0]) for row in ERROR_TABLE]
    )
    def test_each_failure_becomes_its_port_error(self, error: Exception, kind: type, message: str):
        translated = translate(error, doing="updating orders")
        assert type(translated) is kind
        assert message in str(translated)
        assert "\n" not in str(translated), "one line: the relevant one"
        assert "token=abc" not in str(translated), "the CLI's progress output stays out"

    def test_the_first_error_diagnostic_is_the_message_when_there_is_one(self):
        error = _error(stderr="error: update failed")
        translated = translate(
            error,
            doing="updating orders",
            diagnostics=["creating Role: EntityAlreadyExists\nmore", "update failed"],
        )
        assert str(translated) == "updating orders: creating Role: EntityAlreadyExists"

    def test_anything_else_is_a_bug_and_surfaces_untranslated(self):
        def buggy() -> None:
            raise ValueError("bad")

        assert translate(ValueError("bad"), doing="x") is None
        with pytest.raises(ValueError, match="bad"):
            guarded("updating orders", buggy)
