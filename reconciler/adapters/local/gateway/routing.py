"""HTTP API route selection: which declared route key a request reaches, as API Gateway picks it.

Built by the local host once per deployment version; `RouteTable.match` then runs on every REST
request. The keys are compiled into a tree of path segments, so a request walks the few branches
its own segments lead to instead of testing every route.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

DEFAULT_ROUTE = "$default"
_ANY = "ANY"
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The route key a request selected, as declared, and the path parameters it captured."""

    route_key: str
    path_parameters: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Route:
    key: str
    variables: tuple[str, ...]  # names of the `{name}` and `{name+}` segments, left to right
    rank: tuple[int, ...]  # the lowest rank among the routes a request matches wins


@dataclass(slots=True)
class _Node:
    """One segment position: where literals and a variable lead, and the routes ending here."""

    literals: dict[str, _Node] = field(default_factory=dict)
    variable: _Node | None = None
    exact: dict[str, _Route] = field(default_factory=dict)  # by method, routes ending here
    greedy: dict[str, _Route] = field(default_factory=dict)  # by method, `{x+}` routes here


class RouteTable:
    """The routes of one HTTP API, compiled for matching.

    Precedence follows API Gateway's "most specific match": a route without a greedy variable
    beats one with it; among the former, more literal segments win, and at equal counts a
    literal further left wins; among greedy routes the longer prefix wins, then the same
    literal rules apply to the prefix. At equal specificity a route for the request's method
    beats `ANY`. `$default` answers only when nothing else matches.

    Paths are compared segment by segment, case-sensitively, after percent-decoding each
    segment. An empty segment matches nothing but a greedy variable's inside: "/items/" does
    not match "/items" nor "/items/{id}", and a greedy variable needs at least one character,
    so "/files/" does not match "/files/{proxy+}" either. Such requests fall to `$default`.
    """

    def __init__(self, route_keys: Sequence[str]) -> None:
        self._root = _Node()
        self._has_default = False
        for key in route_keys:
            if key == DEFAULT_ROUTE:
                self._has_default = True
            else:
                self._add(key)

    def _add(self, key: str) -> None:
        method, _, path = key.partition(" ")
        node = self._root
        variables: list[str] = []
        pattern: list[int] = []  # 0 for a literal segment, 1 for a variable, left to right
        greedy: str | None = None
        for segment in path.split("/")[1:] if path != "/" else []:
            variable = _VARIABLE.fullmatch(segment)
            if variable is None:
                node = node.literals.setdefault(segment, _Node())
                pattern.append(0)
            elif variable.group(2):
                greedy = variable.group(1)  # validated to be the last segment
                variables.append(greedy)
            else:
                node.variable = node.variable or _Node()
                node = node.variable
                variables.append(variable.group(1))
                pattern.append(1)
        literals = pattern.count(0)
        rank = (int(greedy is not None), -len(pattern), -literals, *pattern, int(method == _ANY))
        route = _Route(key=key, variables=tuple(variables), rank=rank)
        # A repeated key keeps its first declaration, as the manifest order reads.
        (node.greedy if greedy else node.exact).setdefault(method, route)

    def match(self, method: str, path: str) -> RouteMatch | None:
        """Select the route for `path`: no stage prefix, still percent-encoded."""
        raw = path.removeprefix("/")
        segments = raw.split("/") if raw else []
        decoded = [unquote(segment) for segment in segments]
        best: tuple[_Route, tuple[str, ...]] | None = None
        stack: list[tuple[_Node, int, tuple[str, ...]]] = [(self._root, 0, ())]
        while stack:
            node, depth, captured = stack.pop()
            if node.greedy and (rest := "/".join(segments[depth:])):
                route = _for_method(node.greedy, method)
                if route is not None and (best is None or route.rank < best[0].rank):
                    best = (route, (*captured, unquote(rest)))
            if depth == len(segments):
                route = _for_method(node.exact, method)
                if route is not None and (best is None or route.rank < best[0].rank):
                    best = (route, captured)
                continue
            segment = decoded[depth]
            if (literal := node.literals.get(segment)) is not None:
                stack.append((literal, depth + 1, captured))
            if node.variable is not None and segment:
                stack.append((node.variable, depth + 1, (*captured, segment)))
        if best is None:
            return RouteMatch(DEFAULT_ROUTE, {}) if self._has_default else None
        route, values = best
        return RouteMatch(route.key, dict(zip(route.variables, values, strict=True)))


def _for_method(routes: dict[str, _Route], method: str) -> _Route | None:
    # The method's own route ranks above ANY at the same place, so it is enough to prefer it.
    return routes.get(method) or routes.get(_ANY)
