"""YAML parsed safely, with the source position of every key and value.

``yaml.compose`` (SafeLoader) builds the node tree, which keeps marks; we turn
it into plain Python data ourselves and record, for every path such as
``("nodes", 2, "type")``, where its key and its value stand. Validation errors
found later on the data are mapped back to a line and column through it.
Only plain data comes out (no object construction), duplicate keys are
reported rather than silently overwritten, and aliases are expanded with a
bound so a "billion laughs" document cannot exhaust memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

MAX_NODES_EXPANDED = 200_000
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~5x faster, same marks
_PLAIN_TAGS = {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class SourceMap:
    """Where each path's key and value stand in the file."""

    keys: dict[Path, Position] = field(default_factory=dict)
    values: dict[Path, Position] = field(default_factory=dict)
    duplicates: list[tuple[Path, Position]] = field(default_factory=list)

    def key(self, path: Path) -> Position:
        """Position of the key at ``path`` (or of the nearest enclosing thing)."""
        return self._find(path, prefer_key=True)

    def value(self, path: Path) -> Position:
        """Position of the value at ``path`` (or of the nearest enclosing thing)."""
        return self._find(path, prefer_key=False)

    def _find(self, path: Path, *, prefer_key: bool) -> Position:
        probe = tuple(path)
        while True:
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            if probe in first:
                return first[probe]
            if probe in second:
                return second[probe]
            if not probe:
                return Position(1, 1)
            probe = probe[:-1]


class YamlSyntaxError(Exception):
    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def _position(mark: yaml.Mark | None) -> Position:
    if mark is None:
        return Position(1, 1)
    return Position(mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self) -> None:
        self.source = SourceMap()
        self._constructor = yaml.SafeLoader("")  # only used to construct scalars
        self._expanded = 0

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._expanded += 1
        if self._expanded > MAX_NODES_EXPANDED:
            raise YamlSyntaxError("the document expands to too many values (aliases nested too deep)", _position(node.start_mark))
        self.source.values.setdefault(path, _position(node.start_mark))
        if isinstance(node, yaml.ScalarNode):
            return self._constructor.construct_object(node, deep=True)
        if node.tag not in _PLAIN_TAGS and not isinstance(node, yaml.ScalarNode):
            raise YamlSyntaxError(f"unsupported YAML tag '{node.tag}': flows hold plain data only", _position(node.start_mark))
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    merged = self.build(value_node, path)
                    for item in merged if isinstance(merged, list) else [merged]:
                        if isinstance(item, dict):
                            for k, v in item.items():
                                result.setdefault(k, v)
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlSyntaxError("a mapping key must be a plain value, not a list or mapping", _position(key_node.start_mark))
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    key = str(key)
                child: Path = (*path, key)
                if key in result:
                    self.source.duplicates.append((child, _position(key_node.start_mark)))
                self.source.keys[child] = _position(key_node.start_mark)
                self.source.values[child] = _position(value_node.start_mark)
                result[key] = self.build(value_node, child)
            return result
        raise YamlSyntaxError(f"unsupported YAML node {node.tag}", _position(node.start_mark))


def parse(text: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and its source map."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at_end = mark is not None and mark.index >= len(text.rstrip())
        if at_end and exc.context_mark is not None:
            mark = exc.context_mark  # "unclosed [": point where it opened, not at the end of the file
        problem = exc.problem or "invalid YAML"
        if exc.context and exc.context not in problem:
            problem = f"{problem} ({exc.context})"
        raise YamlSyntaxError(f"YAML syntax error: {problem}", _position(mark)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"YAML syntax error: {exc}", Position(1, 1)) from None
    builder = _Builder()
    if node is None:
        return None, builder.source
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        problem = exc.problem or "invalid value"
        if "could not determine a constructor" in problem:
            tag = problem.split("tag", 1)[-1].strip().strip("'")
            problem = f"unsupported YAML tag '{tag}': flows hold plain data only"
        raise YamlSyntaxError(f"YAML error: {problem}", _position(exc.problem_mark)) from None
    except RecursionError:
        raise YamlSyntaxError("the document is nested too deeply", Position(1, 1)) from None
    return data, builder.source
