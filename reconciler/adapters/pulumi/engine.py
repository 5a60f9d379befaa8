"""`PulumiEngine`: the `Engine` port for `aws` and `azure`, running inline programs with Automation.

One stack per deployment and region (`orders`, `orders.eu-west-1`: the builder's names), each
with its own persistent work dir `<state_dir>/pulumi/<provider>/<stack>/` (a shared one races on
stack select). The stacks of a deployment are found by listing the backend's stacks named
`<name>` or `<name>.*`, so a daemon with an empty store still finds what it applied, and reads
revision and fingerprint back from the stack outputs. One engine per cloud provider (`aws`,
`azure`), configured from `reconciler.config.PulumiSettings`.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TypeVar

import structlog
from pulumi import automation as auto
from pulumi.automation.errors import StackNotFoundError

from reconciler.adapters.pulumi.command import (
    PASSPHRASE_VAR,
    WatchdogCommand,
    check_version,
    cli_environment,
)
from reconciler.adapters.pulumi.errors import guarded
from reconciler.adapters.pulumi.program import (
    OUTPUT_ENDPOINT,
    OUTPUT_FINGERPRINT,
    OUTPUT_REVISION,
    ProgramBuilder,
    StackTarget,
)
from reconciler.adapters.pulumi.translate import (
    EventLog,
    drift_findings,
    has_changes,
    live_state,
    plain_outputs,
    plan_changes,
)
from reconciler.domain.changes import Change, Plan
from reconciler.domain.drift import DriftFinding
from reconciler.ports import ApplyRequest, ApplyResult, LiveState

log = structlog.get_logger(__name__)

T = TypeVar("T")

INTERRUPTED_MARKER = ".reconciler-interrupted"
"""Left in a stack's work dir when a run was killed: the next apply refreshes first."""
LIST_DIR = "_stacks"
"""Work dir that only lists stacks and installs plugins (no deployment name starts with `_`)."""
# Serializes CLI checks and plugin installs: processes installing into one PULUMI_HOME
# interfere (pulumi/pulumi#22784).
_SETUP_LOCK = threading.Lock()


def _no_program() -> None:
    """The program given where the CLI never runs one (refresh, destroy, outputs)."""


class PulumiEngine:
    """Plans, applies, checks for drift, describes and destroys the stacks of deployments.

    `env` is the daemon's environment (default `os.environ`), where the passphrase is read from
    the variable `passphrase_env`; it reaches the CLI through its environment, never its argv.
    Each CLI run ends after `operation_timeout` seconds unless `command` is given.
    """

    def __init__(  # noqa: PLR0913  # the constructor the issue specifies
        self,
        builder: ProgramBuilder,
        *,
        state_dir: Path,
        backend_url: str | None = None,
        secrets_provider: str | None = None,
        passphrase_env: str = PASSPHRASE_VAR,
        command: auto.PulumiCommand | None = None,
        operation_timeout: float = 1800.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.builder = builder
        self.program_version = builder.program_version
        state = state_dir.absolute() / "pulumi"
        self._root = state / builder.provider.value
        self._home = state / "home"
        self._default_backend = state / "backend"
        self._backend_url = backend_url or self._default_backend.as_uri()
        self._project = f"reconciler-{builder.provider.value}"
        self._secrets_provider = secrets_provider
        self._passphrase_env = passphrase_env
        self._environ = env if env is not None else os.environ
        self._command = command
        self._timeout = operation_timeout
        self._env: Mapping[str, str] = {}
        self._ready = False

    # --- Engine ---------------------------------------------------------------------------

    def plan(self, request: ApplyRequest) -> Plan:
        """Preview every stack of the request; `same` steps are no change."""
        self._prepare()
        changes: list[Change] = []
        for target in self.builder.targets(request.spec):
            stack = self._target_stack(request, target)
            events = EventLog()
            preview = partial(stack.preview, on_event=events)
            self._call(f"previewing {stack.name}", preview, stack=stack, events=events)
            scope = _scope(request.spec.name, target.stack)
            changes.extend(plan_changes(events.events, scope=scope))
        return Plan(tuple(changes))

    def apply(self, request: ApplyRequest) -> ApplyResult:
        """Preview, then `up` each stack that would change; the first stack gives the endpoint."""
        self._prepare()
        outputs: dict[str, str] = {}
        for target in self.builder.targets(request.spec):
            stack = self._target_stack(request, target)
            values = plain_outputs(self._apply_stack(stack, request))
            prefix = "" if _scope(request.spec.name, target.stack) is None else f"{stack.name}:"
            outputs |= {f"{prefix}{key}": value for key, value in values.items()}
        return ApplyResult(endpoint=outputs.get(OUTPUT_ENDPOINT), outputs=outputs)

    def detect_drift(self, name: str) -> tuple[DriftFinding, ...]:
        """Refresh-preview each stack of `name` (nothing is written); empty when none exists."""
        self._prepare()
        findings: list[DriftFinding] = []
        for stack_name in self._stacks_of(name):
            stack = self._existing_stack(stack_name)
            if stack is None:
                continue
            events = EventLog()
            check = partial(stack.preview_refresh, on_event=events)
            self._call(f"checking {stack_name} for drift", check, stack=stack, events=events)
            findings.extend(drift_findings(events.events, scope=_scope(name, stack_name)))
        return tuple(findings)

    def destroy(self, name: str) -> None:
        """Destroy and remove every stack of `name`, and their work dirs."""
        self._prepare()
        for stack_name in self._stacks_of(name):
            stack = self._existing_stack(stack_name)
            if stack is not None:
                events = EventLog()
                destroy = partial(stack.destroy, on_event=events)
                self._call(f"destroying {stack_name}", destroy, stack=stack, events=events)
                remove = partial(stack.workspace.remove_stack, stack_name)
                self._call(f"removing stack {stack_name}", remove, stack=stack)
                log.info("pulumi_stack_destroyed", deployment=name, stack=stack_name)
        for work_dir in self._root.glob(f"{name}*"):
            if work_dir.name == name or work_dir.name.startswith(f"{name}."):
                shutil.rmtree(work_dir, ignore_errors=True)

    def describe(self, name: str) -> LiveState | None:
        """What the primary stack's outputs say is live; None without an applied stack."""
        self._prepare()
        stacks = self._stacks_of(name)
        stack = self._existing_stack(stacks[0]) if stacks else None
        if stack is None:
            return None
        outputs = self._call(f"reading outputs of {stack.name}", stack.outputs, stack=stack)
        return live_state(name, outputs)

    # --- one stack ------------------------------------------------------------------------

    def _apply_stack(self, stack: auto.Stack, request: ApplyRequest) -> auto.OutputMap:
        self._refresh_if_interrupted(stack)
        events = EventLog()
        preview = partial(stack.preview, on_event=events)
        result = self._call(f"previewing {stack.name}", preview, stack=stack, events=events)
        if not has_changes(result.change_summary):
            outputs = self._call(f"reading outputs of {stack.name}", stack.outputs, stack=stack)
            values = plain_outputs(outputs)
            # Outputs-only changes (a new revision) show as `same`; only `up` records them.
            if (values.get(OUTPUT_REVISION), values.get(OUTPUT_FINGERPRINT)) == (
                request.revision.sha,
                request.fingerprint.value,
            ):
                log.info("pulumi_up_skipped", stack=stack.name, reason="no changes")
                return outputs
        events = EventLog()
        message = f"reconciler {request.revision.short}"
        up = partial(stack.up, on_event=events, message=message)
        return self._call(f"updating {stack.name}", up, stack=stack, events=events).outputs

    def _refresh_if_interrupted(self, stack: auto.Stack) -> None:
        marker = self._work_dir(stack.name) / INTERRUPTED_MARKER
        if not marker.exists():
            return
        refresh = partial(stack.refresh, clear_pending_creates=True)
        self._call(f"refreshing {stack.name} after an interrupted run", refresh, stack=stack)
        marker.unlink()
        log.warning("pulumi_pending_operations_refreshed", stack=stack.name)

    def _target_stack(self, request: ApplyRequest, target: StackTarget) -> auto.Stack:
        work_dir = self._work_dir(target.stack)
        work_dir.mkdir(parents=True, exist_ok=True)
        program = self.builder.program(request, target=target, workdir=work_dir)
        open_stack = partial(
            auto.create_or_select_stack,
            target.stack,
            project_name=self._project,
            program=program,
            opts=self._options(work_dir),
        )
        stack = self._call(f"opening stack {target.stack}", open_stack)
        try:
            current = stack.workspace.stack_settings(stack.name).config or {}
        except FileNotFoundError:
            current = {}
        if any(current.get(key) != value for key, value in target.config.items()):
            # Plain values only (`config set-all --plaintext`): secrets stay in the program.
            config = {key: auto.ConfigValue(value) for key, value in target.config.items()}
            configure = partial(stack.set_all_config, config)
            self._call(f"configuring {stack.name}", configure, stack=stack)
        return stack

    def _existing_stack(self, stack_name: str) -> auto.Stack | None:
        work_dir = self._work_dir(stack_name)
        work_dir.mkdir(parents=True, exist_ok=True)
        options = self._options(work_dir)

        def select() -> auto.Stack | None:
            try:
                return auto.select_stack(
                    stack_name, project_name=self._project, program=_no_program, opts=options
                )
            except StackNotFoundError:
                return None  # Removed since it was listed.

        return self._call(f"selecting stack {stack_name}", select)

    # --- workspace ------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Check the passphrase and the CLI, and install plugins, once; raise until they pass."""
        with _SETUP_LOCK:
            if self._ready:
                return
            self._env = cli_environment(
                backend_url=self._backend_url,
                secrets_provider=self._secrets_provider,
                passphrase_env=self._passphrase_env,
                environ=self._environ,
            )
            if self._command is None:
                self._command = self._call(
                    "finding the Pulumi CLI", partial(WatchdogCommand, timeout=self._timeout)
                )
            self._call("checking the Pulumi CLI", partial(check_version, self._command.version))
            if self._backend_url == self._default_backend.as_uri():
                self._default_backend.mkdir(parents=True, exist_ok=True)
            workspace = self._list_workspace()
            for plugin, version in self.builder.plugins:
                install = partial(workspace.install_plugin, plugin, version)
                self._call(f"installing plugin {plugin} {version}", install)
            self._ready = True

    def _options(self, work_dir: Path) -> auto.LocalWorkspaceOptions:
        return auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            pulumi_home=str(self._home),
            env_vars=self._env,
            secrets_provider=self._secrets_provider,
            # `main` pinned: the default, the daemon's cwd, would rewrite Pulumi.yaml per cwd.
            project_settings=auto.ProjectSettings(self._project, "python", main=str(work_dir)),
            pulumi_command=self._command,
        )

    def _list_workspace(self) -> auto.LocalWorkspace:
        work_dir = self._root / LIST_DIR
        work_dir.mkdir(parents=True, exist_ok=True)
        return auto.LocalWorkspace(**vars(self._options(work_dir)))

    def _stacks_of(self, name: str) -> list[str]:
        """The backend's stacks of `name`, the primary (named `name`) first."""
        summaries = self._call("listing stacks", self._list_workspace().list_stacks)
        found = {summary.name.rpartition("/")[2] for summary in summaries}
        mine = [stack for stack in found if stack == name or stack.startswith(f"{name}.")]
        return sorted(mine, key=lambda stack: (stack != name, stack))

    def _work_dir(self, stack_name: str) -> Path:
        return self._root / stack_name

    def _call(
        self,
        doing: str,
        action: Callable[[], T],
        *,
        stack: auto.Stack | None = None,
        events: EventLog | None = None,
    ) -> T:
        """Run `action` through the error table; on a stack, with the stale-lock policy."""
        if stack is None:
            return guarded(doing, action, events=events)
        marker = self._work_dir(stack.name) / INTERRUPTED_MARKER
        return guarded(doing, action, events=events, cancel=stack.cancel, interrupted=marker.touch)


def _scope(name: str, stack_name: str) -> str | None:
    """How resources of `stack_name` are prefixed: not at all for the primary stack."""
    return None if stack_name == name else stack_name
