"""A `requirements.txt` read before pip may act on it: what it names, and nothing that builds.

Used by `dependencies.py`. pip honours options written in a requirements file over its command
line, so a file could turn `--only-binary` off (`--no-binary`), install from a path or a VCS
URL, or point at another index; pip would then build, which runs the package's code inside the
daemon, next to its cloud credentials. Only requirements by name (versions, extras, markers,
`--hash`) and `-r`/`-c` files inside the source are let through; the rest is refused at
`file:line`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from reconciler.ports import PermanentError

_INCLUDES = {"-r": False, "--requirement": False, "-c": True, "--constraint": True}
"""The options a requirements file may hold: includes, by whether they only constrain."""
_WHY = " (pip would build it, running its code inside the daemon; use a published wheel)"


def names_packages(
    requirements: Path, staging: Path, *, seen: frozenset[Path] = frozenset()
) -> bool:
    """Whether the file (or one it includes with `-r`) names a package.

    Raises `PermanentError` at `file:line` for anything that could make pip build code, and for
    an include that leaves `staging` or comes back to a file being read.
    """
    named = False
    path, root = requirements.resolve(), staging.resolve()
    for number, line in _logical_lines(path):
        where = f"{path.relative_to(root).as_posix()}:{number}"
        if line.startswith("-"):
            constraint, value = _include(line, where=where)
            included = (path.parent / value).resolve()
            if not included.is_relative_to(root) or not included.is_file():
                raise PermanentError(f"{where}: {value!r} is not a file of the source")
            if included in seen or included == path:
                raise PermanentError(f"{where}: {value!r} includes a file that includes it")
            nested = names_packages(included, root, seen=seen | {path})
            named = named or (nested and not constraint)
            continue
        # pip reads everything from the first token that starts with `-` as options.
        requirement, *options = re.split(r"\s+(?=-)", line)
        if any(not option.startswith("--hash") for option in options):
            raise PermanentError(f"{where}: only --hash may follow a requirement{_WHY}")
        try:
            parsed = Requirement(requirement)
        except InvalidRequirement as exc:
            raise PermanentError(f"{where}: not a requirement by name: {exc}{_WHY}") from exc
        if parsed.url is not None:
            raise PermanentError(f"{where}: a direct reference ({parsed.url}) is not allowed{_WHY}")
        named = True
    return named


def _include(line: str, *, where: str) -> tuple[bool, str]:
    """(only constrains, file) of an `-r`/`-c` line; anything else is refused."""
    try:
        tokens = shlex.split(line)
    except ValueError as exc:  # an unbalanced quote
        raise PermanentError(f"{where}: {exc}") from exc
    match tokens:
        case [option, path] if option in _INCLUDES:  # -r file
            return _INCLUDES[option], path
        case [token] if "=" in token and token.partition("=")[0] in _INCLUDES:  # -r=file
            option, _, path = token.partition("=")
            return _INCLUDES[option], path
        case [token] if token[:2] in _INCLUDES and token[2:] and token[1] != "-":  # -rfile
            return _INCLUDES[token[:2]], token[2:]
    raise PermanentError(f"{where}: pip option {tokens[0]} is not allowed here{_WHY}")


def _logical_lines(requirements: Path) -> list[tuple[int, str]]:
    """(line number, text) of each requirement line: continuations joined, comments dropped."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    text = requirements.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        start, joined = pending or (number, "")
        if raw.endswith("\\"):
            pending = (start, joined + raw[:-1])
            continue
        pending = None
        # pip's rule: `#` starts a comment at the line's start or after whitespace.
        line = re.sub(r"(^|\s)#.*$", "", joined + raw).strip()
        if line:
            lines.append((start, line))
    if pending is not None and pending[1].strip():
        lines.append((pending[0], pending[1].strip()))
    return lines
