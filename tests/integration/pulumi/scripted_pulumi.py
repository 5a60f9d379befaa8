"""A scripted Pulumi CLI for `PulumiEngine` tests: the SDK's real argv in, the CLI's formats out.

`ScriptedCommand` replaces `PulumiCommand` (the CLI is not installed here). It keeps a small
backend in memory (stacks and their outputs), answers the subcommands the Automation API runs
with stdout and stderr as the CLI prints them, writes engine events as JSON lines to the file
the SDK passes with `--event-log`, and records every call. It reports CLI 3.200.0: new enough
for inline refresh and destroy (3.181), and not above 3.205, so the SDK tails an event-log
*file* instead of serving gRPC. Every event log it writes ends with a `cancelEvent`, as the CLI
does once its engine ran, so the SDK's log watcher stops at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from reconciler.adapters.pulumi.program import StackTarget
from reconciler.domain.values import DeploymentSpec, Provider
from reconciler.ports import ApplyRequest

PROJECT = "reconciler-aws"
SECRET = {
    "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
    "ciphertext": "[secret]",
}
"""A secret value as the engine writes it into an event: never the value itself."""
HISTORY_TIME = "2026-01-02T03:04:05.000Z"


@dataclass(frozen=True)
class Call:
    """One CLI run: the argv the SDK built, where it ran, what it added to the environment."""

    args: list[str]
    cwd: str
    env: dict[str, str]

    @property
    def subcommand(self) -> str:
        """`stack init`, `preview`, `refresh --preview-only`... : what the CLI was asked to do."""
        words = [arg for arg in self.args if not arg.startswith("-")]
        two = {"stack", "plugin", "config"}
        name = " ".join(words[:2]) if words and words[0] in two else (words[0] if words else "")
        return f"{name} --preview-only" if "--preview-only" in self.args else name

    def flag(self, name: str) -> str | None:
        """The value after `name`, if given."""
        return self.args[self.args.index(name) + 1] if name in self.args else None


@dataclass
class Failure:
    """What the next run of one subcommand answers instead: a nonzero exit, as the CLI fails."""

    subcommand: str
    stderr: str = ""
    stdout: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None
    """Raised instead of a `CommandError` (e.g. the watchdog's timeout)."""


@dataclass
class Backend:
    """A stack as the scripted backend keeps it."""

    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)


class ScriptedCommand(PulumiCommand):
    """Answers the Automation API like the Pulumi CLI with a DIY backend would."""

    def __init__(self, *, version: str = "3.200.0") -> None:
        # No super().__init__: it would run `pulumi version`.
        self.command = "pulumi"
        self.version = VersionInfo.parse(version)
        self.calls: list[Call] = []
        self.stacks: dict[str, Backend] = {}
        self.preview_steps: dict[str, list[dict[str, Any]]] = {}
        """Step metadata each stack's preview (and up) reports; by default the stack is `same`."""
        self.refresh_steps: dict[str, list[dict[str, Any]]] = {}
        """Step metadata with the refresh's result op (`same`, `update`, `delete`)."""
        self.up_outputs: dict[str, dict[str, Any]] = {}
        self.secret_outputs: set[str] = set()
        self.failures: list[Failure] = []
        self._lock = threading.Lock()

    def fail_next(self, subcommand: str, **how: Any) -> None:
        """Make the next run of `subcommand` fail as described (see `Failure`)."""
        self.failures.append(Failure(subcommand, **how))

    def subcommands(self) -> list[str]:
        """What was run, in order."""
        return [call.subcommand for call in self.calls]

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Any = None,
        on_error: Any = None,
    ) -> CommandResult:
        """Answer one CLI run."""
        call = Call(list(args), cwd, dict(additional_env))
        with self._lock:
            self.calls.append(call)
            failure = next((f for f in self.failures if f.subcommand == call.subcommand), None)
            if failure is not None:
                self.failures.remove(failure)
        if failure is not None:
            self._events(call, failure.events)
            if failure.error is not None:
                raise failure.error
            raise create_command_error(CommandResult(failure.stdout, failure.stderr, 255))
        method = call.subcommand.replace(" --", "_").replace(" ", "_").replace("-", "_")
        handler = getattr(self, f"_{method}")
        stdout = handler(call, call.flag("--stack"))
        return CommandResult(stdout=stdout, stderr="", code=0)

    # --- subcommands ---------------------------------------------------------------------

    def _stack_select(self, call: Call, stack: str) -> str:
        if stack not in self.stacks:
            raise create_command_error(
                CommandResult("", f"error: no stack named '{stack}' found", 255)
            )
        return ""

    def _stack_init(self, call: Call, _: str | None) -> str:
        name = call.args[call.args.index("init") + 1]
        self.stacks[name] = Backend()
        provider = call.flag("--secrets-provider")
        settings = (
            {"secretsprovider": provider} if provider else {"encryptionsalt": "v1:c2FsdA==:v1:AAAA"}
        )
        _write_settings(Path(call.cwd, f"Pulumi.{name}.yaml"), settings)
        return f"Created stack '{name}'"

    def _stack_ls(self, call: Call, _: str | None) -> str:
        return json.dumps(
            [
                {"name": name, "current": False, "updateInProgress": False, "resourceCount": 1}
                for name in sorted(self.stacks)
            ]
        )

    def _config_set_all(self, call: Call, stack: str) -> str:
        path = Path(call.cwd, f"Pulumi.{stack}.yaml")
        settings = yaml.safe_load(path.read_text()) if path.exists() else {}
        config = settings.setdefault("config", {})
        for index, arg in enumerate(call.args):
            if arg == "--plaintext":
                key, _, value = call.args[index + 1].partition("=")
                config[key] = value
        _write_settings(path, settings)
        return ""

    def _preview(self, call: Call, stack: str) -> str:
        steps = self.preview_steps.get(stack) or [root_step("same", stack)]
        summary = self._events(call, _step_events(steps, planning=True), steps=steps)
        return f"Previewing update ({stack}):\n\nResources:\n{_resources(summary)}"

    def _up(self, call: Call, stack: str) -> str:
        steps = self.preview_steps.get(stack) or [root_step("same", stack)]
        summary = self._events(call, _step_events(steps, planning=False), steps=steps)
        backend = self.stacks[stack]
        backend.outputs = dict(self.up_outputs.get(stack, {}))
        backend.secret_outputs = set(self.secret_outputs)
        backend.history.insert(0, _history("update", call.flag("--message") or "", summary))
        return f"Updating ({stack}):\n\nResources:\n{_resources(summary)}\n\nDuration: 2s"

    def _stack_output(self, call: Call, stack: str) -> str:
        backend = self.stacks[stack]
        show = "--show-secrets" in call.args
        return json.dumps(
            {
                key: value if show or key not in backend.secret_outputs else "[secret]"
                for key, value in backend.outputs.items()
            }
        )

    def _stack_history(self, call: Call, stack: str) -> str:
        return json.dumps(self.stacks[stack].history[:1])

    def _refresh_preview_only(self, call: Call, stack: str) -> str:
        steps = self.refresh_steps.get(stack, [])
        pre = [{"resourcePreEvent": {"metadata": {**s, "op": "refresh"}}} for s in steps]
        post = [{"resOutputsEvent": {"metadata": s}} for s in steps]
        summary = self._events(call, [*pre, *post], steps=steps)
        return f"Previewing refresh ({stack}):\n\nResources:\n{_resources(summary)}"

    def _refresh(self, call: Call, stack: str) -> str:
        self.stacks[stack].history.insert(0, _history("refresh", "", {"same": 1}))
        return f"Refreshing ({stack}):\n\nResources:\n    1 unchanged"

    def _destroy(self, call: Call, stack: str) -> str:
        backend = self.stacks[stack]
        backend.outputs.clear()
        backend.history.insert(0, _history("destroy", "", {"delete": 1}))
        self._events(call, [])
        return (
            f"Destroying ({stack}):\n\nThe resources in the stack have been deleted, but the "
            "history and configuration associated with the stack are still maintained."
        )

    def _stack_rm(self, call: Call, _: str | None) -> str:
        name = call.args[-1]
        del self.stacks[name]
        Path(call.cwd, f"Pulumi.{name}.yaml").unlink(missing_ok=True)
        return f"Stack '{name}' has been removed!"

    def _cancel(self, call: Call, stack: str) -> str:
        return f"The currently running update for '{stack}' has been canceled!"

    def _plugin_install(self, call: Call, _: str | None) -> str:
        name, version = call.args[-2], call.args[-1]
        return f"[resource plugin {name}-{version.lstrip('v')}] installing"

    def _events(
        self, call: Call, events: list[dict[str, Any]], *, steps: Iterable[dict[str, Any]] = ()
    ) -> dict[str, int]:
        """Write `events`, a summary of `steps` and the closing cancel event to the event log."""
        summary: dict[str, int] = {}
        for step in steps:
            summary[step["op"]] = summary.get(step["op"], 0) + 1
        target = call.flag("--event-log")
        if target is None:
            return summary
        closing = [{"summaryEvent": {"resourceChanges": summary}}, {"cancelEvent": {}}]
        with Path(target).open("a", encoding="utf-8") as log:
            log.writelines(
                json.dumps({"sequence": sequence, "timestamp": 1, **event}) + "\n"
                for sequence, event in enumerate([*events, *closing], start=1)
            )
        return summary


# --- event builders ---------------------------------------------------------------------------


def urn(stack: str, type_: str, name: str) -> str:
    """A URN as the engine writes it (the root stack's type is left out of the parent chain)."""
    return f"urn:pulumi:{stack}::{PROJECT}::{type_}::{name}"


def step(  # noqa: PLR0913  # one keyword per field of the engine's step metadata
    op: str,
    type_: str,
    name: str,
    *,
    stack: str = "orders",
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    diffs: list[str] | None = None,
    detailed: Mapping[str, tuple[str, bool]] | None = None,
    keys: list[str] | None = None,
) -> dict[str, Any]:
    """Step metadata as in `apitype.StepEventMetadata`; `old`/`new` are `{inputs, outputs}`."""
    address = urn(stack, type_, name)
    metadata: dict[str, Any] = {"op": op, "urn": address, "type": type_, "provider": ""}
    for label, state in (("old", old), ("new", new)):
        if state is not None:
            metadata[label] = {"type": type_, "urn": address, "custom": True, **state}
    if diffs is not None:
        metadata["diffs"] = diffs
    if detailed is not None:
        metadata["detailedDiff"] = {
            path: {"diffKind": kind, "inputDiff": input_diff}
            for path, (kind, input_diff) in detailed.items()
        }
    if keys is not None:
        metadata["keys"] = keys
    return metadata


def root_step(op: str, stack: str) -> dict[str, Any]:
    """The step of the stack's own root resource."""
    return step(op, "pulumi:pulumi:Stack", f"{PROJECT}-{stack}", stack=stack)


def diagnostic(message: str, *, severity: str = "error") -> dict[str, Any]:
    """A diagnostic event."""
    return {"diagnosticEvent": {"message": message, "color": "never", "severity": severity}}


def _step_events(steps: list[dict[str, Any]], *, planning: bool) -> list[dict[str, Any]]:
    events = []
    for metadata in steps:
        events.append({"resourcePreEvent": {"metadata": metadata, "planning": planning}})
        events.append({"resOutputsEvent": {"metadata": metadata, "planning": planning}})
    return events


def _resources(summary: Mapping[str, int]) -> str:
    signs = {"create": "+", "update": "~", "delete": "-", "replace": "+-"}
    lines = [
        f"    {signs.get(op, '')} {count} to {op}" for op, count in summary.items() if op != "same"
    ]
    if summary.get("same"):
        lines.append(f"    {summary['same']} unchanged")
    return "\n".join(lines)


def _history(kind: str, message: str, changes: Mapping[str, int]) -> dict[str, Any]:
    return {
        "kind": kind,
        "startTime": HISTORY_TIME,
        "endTime": HISTORY_TIME,
        "message": message,
        "environment": {"exec.kind": "auto.inline"},
        "config": {},
        "result": "succeeded",
        "version": 1,
        "resourceChanges": dict(changes),
    }


def _write_settings(path: Path, settings: Mapping[str, Any]) -> None:
    path.write_text(yaml.safe_dump(dict(settings)))


# --- a tiny program builder -------------------------------------------------------------------


@dataclass
class TinyBuilder:
    """A `ProgramBuilder` whose program declares no resource and only exports outputs."""

    regions: tuple[str, ...] = ("eu-west-1",)
    plugins: tuple[tuple[str, str], ...] = (("aws", "v7.51.1"),)
    provider: Provider = Provider.AWS
    program_version: str = "tiny/1"
    workdirs: list[Path] = field(default_factory=list)

    def targets(self, spec: DeploymentSpec) -> list[StackTarget]:
        """`<name>` for the first region, `<name>.<region>` for the others."""
        return [
            StackTarget(
                stack=spec.name if index == 0 else f"{spec.name}.{region}",
                config={"aws:region": region},
                region=region,
            )
            for index, region in enumerate(self.regions)
        ]

    def program(self, request: ApplyRequest, *, target: StackTarget, workdir: Path) -> Any:
        """Exports the outputs every program exports, and one secret."""
        self.workdirs.append(workdir)

        def program() -> None:
            pulumi.export("endpoint", endpoint_of(target.stack))
            pulumi.export("revision", request.revision.sha)
            pulumi.export("fingerprint", request.fingerprint.value)
            pulumi.export("deployment", request.spec.name)
            pulumi.export("token", pulumi.Output.secret(request.secrets.get("orders-db", "")))

        return program


def endpoint_of(stack: str) -> str:
    """The endpoint the tiny program exports for `stack`."""
    return f"https://{stack}.execute-api.example.com/live"


def outputs_of(request: ApplyRequest, stack: str | None = None) -> dict[str, Any]:
    """What an `up` of the tiny program for `request` leaves as stack outputs."""
    return {
        "endpoint": endpoint_of(stack or request.spec.name),
        "revision": request.revision.sha,
        "fingerprint": request.fingerprint.value,
        "deployment": request.spec.name,
        "token": request.secrets.get("orders-db", ""),
    }


def fake_cli(root: Path, *, version: str = "v3.200.0", body: str = "exit 0") -> Path:
    """A real executable `root/bin/pulumi`: prints `version`, else runs the shell `body`."""
    binary = root / "bin" / "pulumi"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text(
        f'#!/bin/sh\nif [ "$1" = version ]; then echo {version}; exit 0; fi\n{body}\n'
    )
    binary.chmod(0o755)
    return binary
