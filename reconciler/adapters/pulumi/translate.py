"""Automation results in the domain's words: changes, drift findings, outputs and live state.

Used by `PulumiEngine`: preview steps become `Change`s, refresh steps `DriftFinding`s, stack
outputs the strings of an `ApplyResult` and a `LiveState`. A resource is named `<type>::<name>`
(its type token and the last part of its URN, e.g. `aws:lambda/function:Function::orders`);
when a deployment has several stacks (regions) every name but the primary stack's is prefixed
with `<stack>::`. Property paths are the engine's (`timeout`, `environment.variables.FOO`,
`tags["Name"]`, `routes[0]`). The stack's root resource and provider instances are
bookkeeping, never a change.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi.automation import (
    EngineEvent,
    OpType,
    OutputMap,
    StepEventMetadata,
    StepEventStateMetadata,
)

from reconciler.adapters.pulumi.program import OUTPUT_ENDPOINT, OUTPUT_FINGERPRINT, OUTPUT_REVISION
from reconciler.domain.changes import Change, ChangeAction
from reconciler.domain.drift import SECRET_MASK, DriftFinding
from reconciler.domain.errors import InvalidValueError
from reconciler.domain.values import Fingerprint, Revision
from reconciler.ports import LiveState

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
RESOURCE_PATH = "(resource)"
"""The path of a finding about the resource as a whole: it is gone."""

# How the engine writes a secret into an event (`pkg/resource/sig`); the value is never sent.
_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105  # a signature, not a secret
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105  # same
_REPLACE_OPS = {
    OpType.REPLACE,
    OpType.CREATE_REPLACEMENT,
    OpType.DELETE_REPLACED,
    OpType.IMPORT_REPLACEMENT,
}
_ACTIONS = {OpType.CREATE: ChangeAction.CREATE, OpType.IMPORT: ChangeAction.CREATE}
_ACTIONS |= {OpType.UPDATE: ChangeAction.UPDATE, OpType.DELETE: ChangeAction.DELETE}
_ACTIONS |= dict.fromkeys(_REPLACE_OPS, ChangeAction.REPLACE)
_PRECEDENCE = (ChangeAction.REPLACE, ChangeAction.DELETE, ChangeAction.CREATE, ChangeAction.UPDATE)
_SEGMENT = re.compile(r'\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.?([^.\[\]]+)')
_MISSING = object()


class EventLog:
    """An `on_event` callback that keeps every event; the SDK calls it from its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[EngineEvent] = []

    def __call__(self, event: EngineEvent) -> None:
        """Keep `event`."""
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[EngineEvent]:
        """What arrived so far, in the engine's order."""
        with self._lock:
            return sorted(self._events, key=lambda event: event.sequence)

    @property
    def errors(self) -> list[str]:
        """The messages of error diagnostics, first first: a failure's cause."""
        return [
            event.diagnostic_event.message
            for event in self.events
            if event.diagnostic_event and event.diagnostic_event.severity == "error"
        ]


def has_changes(summary: Mapping[Any, int]) -> bool:
    """True when a preview's change summary counts any step that is not `same`."""
    return any(count and str(getattr(op, "value", op)) != "same" for op, count in summary.items())


def plain_outputs(outputs: OutputMap) -> dict[str, str]:
    """Stack outputs as strings; secret ones left out, so they reach no store or log line."""
    return {
        key: output.value if isinstance(output.value, str) else json.dumps(output.value)
        for key, output in outputs.items()
        if not output.secret
    }


def live_state(name: str, outputs: OutputMap) -> LiveState | None:
    """What a stack's outputs say is applied; None before its first `up` (no outputs yet)."""
    if not outputs:
        return None
    values = plain_outputs(outputs)
    revision, fingerprint = values.get(OUTPUT_REVISION), values.get(OUTPUT_FINGERPRINT)
    try:
        applied = Revision(revision) if revision else None
    except InvalidValueError:
        applied = None  # Not written by our programs: unknown rather than wrong.
    return LiveState(
        name=name,
        endpoint=values.get(OUTPUT_ENDPOINT),
        revision=applied,
        fingerprint=Fingerprint(fingerprint) if fingerprint else None,
    )


def resource_name(metadata: StepEventMetadata, *, scope: str | None = None) -> str:
    """`<type>::<name>`, or `<scope>::<type>::<name>` for a secondary stack."""
    name = metadata.urn.split("::", 3)[-1]
    own = f"{metadata.type}::{name}"
    return f"{scope}::{own}" if scope else own


def plan_changes(events: Iterable[EngineEvent], *, scope: str | None = None) -> tuple[Change, ...]:
    """The changes a preview's steps describe, one per resource, in the engine's order."""
    actions: dict[str, set[ChangeAction]] = {}
    paths: dict[str, list[str]] = {}
    for metadata in _steps(events):
        action = _ACTIONS.get(metadata.op)
        if action is None or _bookkeeping(metadata.type):
            continue  # same/read/refresh/discard steps; the stack and its provider instances
        name = resource_name(metadata, scope=scope)
        actions.setdefault(name, set()).add(action)
        paths.setdefault(name, []).extend(_changed_paths(metadata))
    changes = []
    for name, found in actions.items():
        action = next(a for a in _PRECEDENCE if a in found)
        kept = () if action in {ChangeAction.CREATE, ChangeAction.DELETE} else paths[name]
        changes.append(Change(name, action, tuple(sorted(set(kept)))))
    return tuple(changes)


def drift_findings(
    events: Iterable[EngineEvent], *, scope: str | None = None
) -> tuple[DriftFinding, ...]:
    """The findings of a refresh preview: changed properties, and resources gone out of band."""
    findings: list[DriftFinding] = []
    for event in events:
        outputs = event.res_outputs_event
        # Refresh rewrites the step's op to its result: `update` drifted, `delete` vanished.
        if outputs is None or outputs.metadata.op not in {OpType.UPDATE, OpType.DELETE}:
            continue
        metadata = outputs.metadata
        resource = resource_name(metadata, scope=scope)
        if metadata.op == OpType.DELETE:
            findings.append(DriftFinding(resource, RESOURCE_PATH, "present", "absent"))
            continue
        findings.extend(_property_findings(resource, metadata))
    return tuple(findings)


def _bookkeeping(type_: str) -> bool:
    """The stack's root resource and provider instances: the engine's, not the user's."""
    return type_ == ROOT_STACK_TYPE or type_.startswith(PROVIDER_TYPE_PREFIX)


def _steps(events: Iterable[EngineEvent]) -> Iterable[StepEventMetadata]:
    for event in events:
        if event.resource_pre_event is not None:
            yield event.resource_pre_event.metadata
        if event.res_outputs_event is not None:
            yield event.res_outputs_event.metadata


def _changed_paths(metadata: StepEventMetadata) -> list[str]:
    # The provider's detailed diff has full paths; without one, the engine's top-level keys.
    if metadata.detailed_diff:
        return list(metadata.detailed_diff)
    return list(metadata.diffs or metadata.keys or [])


def _property_findings(resource: str, metadata: StepEventMetadata) -> list[DriftFinding]:
    findings = []
    detailed = metadata.detailed_diff or {}
    paths = list(detailed) or list(metadata.diffs or []) or _differing_keys(metadata)
    for path in sorted(paths):
        use_inputs = bool(detailed[path].input_diff) if path in detailed else False
        desired, desired_secret = _value(metadata.old, path, inputs=use_inputs)
        live, live_secret = _value(metadata.new, path, inputs=use_inputs)
        findings.append(
            DriftFinding(resource, path, desired, live, secret=desired_secret or live_secret)
        )
    return findings


def _differing_keys(metadata: StepEventMetadata) -> list[str]:
    old = (metadata.old.outputs if metadata.old else None) or {}
    new = (metadata.new.outputs if metadata.new else None) or {}
    return [key for key in old.keys() | new.keys() if old.get(key) != new.get(key)]


def _value(state: StepEventStateMetadata | None, path: str, *, inputs: bool) -> tuple[Any, bool]:
    """The value at `path` (None if absent), and whether it or a property around it is secret."""
    if state is None:
        return None, False
    first, second = (state.inputs, state.outputs) if inputs else (state.outputs, state.inputs)
    for properties in (first, second):
        value, secret = _lookup(properties or {}, _parse(path))
        if secret:
            return SECRET_MASK, True
        if value is not _MISSING:
            return value, False
    return None, False


def _lookup(value: object, keys: list[str | int]) -> tuple[Any, bool]:
    for key in keys:
        if _is_secret(value):
            return _MISSING, True
        if isinstance(key, int) and isinstance(value, list) and key < len(value):
            value = value[key]
        elif isinstance(value, dict) and str(key) in value:
            value = value[str(key)]
        else:
            return _MISSING, False
    return (_MISSING, True) if _is_secret(value) else (value, False)


def _is_secret(value: object) -> bool:
    return isinstance(value, dict) and value.get(_SECRET_SIG_KEY) == _SECRET_SIG


def _parse(path: str) -> list[str | int]:
    """`a.b[0]["c.d"]` → `["a", "b", 0, "c.d"]`."""
    keys: list[str | int] = []
    for index, quoted, plain in _SEGMENT.findall(path):
        if index:
            keys.append(int(index))
        elif quoted:
            keys.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            keys.append(plain)
    return keys
