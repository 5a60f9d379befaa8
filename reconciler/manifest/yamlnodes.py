"""YAML documents with the position of every key and value, for errors that point at the text.

PyYAML composes each document into a node graph that keeps line and column; we index that graph
by field path before constructing plain Python data from it. The walk also enforces a bound on
alias expansion and rejects duplicate keys, which PyYAML would otherwise accept silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

FieldPath = tuple[str | int, ...]

# libyaml's loader when PyYAML was built with it (its wheels are): the same nodes and marks,
# an order of magnitude faster than the pure-Python one on a repository of manifests.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_NODES = 20_000
"""How many nodes one document may expand to, aliases counted every time they are used."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in the text."""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Mark:
        """Convert PyYAML's 0-based mark."""
        return cls(mark.line + 1, mark.column + 1)


@dataclass(slots=True)
class Document:
    """One YAML document: its data and where each field path starts in the text."""

    data: object
    start: Mark
    values: dict[FieldPath, Mark] = field(default_factory=dict)
    keys: dict[FieldPath, Mark] = field(default_factory=dict)

    def value_mark(self, path: FieldPath) -> Mark:
        """Where the value at `path` starts, or its nearest ancestor when it is absent."""
        for end in range(len(path), 0, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return self.start

    def key_mark(self, path: FieldPath) -> Mark:
        """Where the key that names `path` starts, or the value mark when there is no key."""
        return self.keys.get(path) or self.value_mark(path)


class YamlError(Exception):
    """The text is not YAML we accept; `mark` says where."""

    def __init__(self, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def load_documents(text: str, *, max_nodes: int = MAX_NODES) -> list[Document]:
    """Parse every non-empty document in `text`, indexed by field path."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # Unprintable characters, found before parsing.
        raise YamlError(
            f"YAML syntax error: {exc.reason}", _offset_mark(text, exc.position)
        ) from exc
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or _is_empty(node):
                continue
            document = Document(data=None, start=Mark.of(node.start_mark))
            _index(node, document, max_nodes=max_nodes)
            document.data = loader.construct_document(node)
            documents.append(document)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text) from exc
    except yaml.reader.ReaderError as exc:  # libyaml finds unprintable characters while parsing.
        raise YamlError(
            f"YAML syntax error: {exc.reason}", _offset_mark(text, exc.position)
        ) from exc
    finally:
        loader.dispose()
    return documents


def _offset_mark(text: str, offset: int) -> Mark:
    line_start = text.rfind("\n", 0, offset) + 1
    return Mark(text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _is_empty(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _syntax_error(exc: yaml.MarkedYAMLError, text: str) -> YamlError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    message = f"{problem} ({exc.context})" if exc.context else problem
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        # libyaml does not name the character; a tab is by far the usual culprit.
        message += "; it is a tab: YAML indents with spaces"
    return YamlError(f"YAML syntax error: {message}", Mark.of(mark) if mark else Mark(1, 1))


def _index(root: yaml.Node, document: Document, *, max_nodes: int) -> None:
    """Record the mark of every value and key, counting nodes as aliases expand them."""
    stack: list[tuple[FieldPath, yaml.Node]] = [((), root)]
    visited = 0
    while stack:
        path, node = stack.pop()
        visited += 1
        if visited > max_nodes:
            raise YamlError(
                f"document expands to more than {max_nodes} nodes "
                "(YAML aliases are limited to stop expansion attacks)",
                document.start,
            )
        document.values.setdefault(path, Mark.of(node.start_mark))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(((*path, i), item) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(_mapping_children(path, node, document))


def _mapping_children(
    path: FieldPath, node: yaml.MappingNode, document: Document
) -> list[tuple[FieldPath, yaml.Node]]:
    children: list[tuple[FieldPath, yaml.Node]] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            # Complex keys fail schema validation anyway; merged keys keep their parent's mark.
            children.append((path, value_node))
            continue
        key = str(key_node.value)
        if key in seen:
            raise YamlError(f"duplicate key {key!r}", Mark.of(key_node.start_mark))
        seen.add(key)
        document.keys.setdefault((*path, key), Mark.of(key_node.start_mark))
        children.append(((*path, key), value_node))
    return children
