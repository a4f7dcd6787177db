"""Checks a parsed flow document and builds the :class:`~flow.model.Flow`.

Runs every check it can and collects all problems with their positions, so
one run of ``voxflow validate`` shows everything wrong with a file. Messages
say what is wrong and how to fix it (allowed values, did-you-mean).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path as FilePath
from typing import Any

from pydantic import ValidationError

from flow.errors import FlowError, FlowIssue
from flow.model import ID_RE, Edge, Flow, NodeSpec
from flow.nodes import registry
from flow.nodes.base import Node, Port
from flow.schema import FlowHeader, node_document_model, setting_names
from flow.yaml_source import Path, Position, SourceMap

TOP_LEVEL_KEYS = list(FlowHeader.model_fields)


def did_you_mean(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def _listing(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


class _Checker:
    def __init__(self, filename: str, source: SourceMap) -> None:
        self.filename = filename
        self.source = source
        self.issues: list[FlowIssue] = []
        self.raw_index: dict[str, int] = {}
        self.declared: set[str] = set()  # ids of nodes present but invalid (their edges are not re-reported)
        self.targets: set[tuple[str, str]] = set()  # (node, port) named as an edge target
        self.in_broken_edge: set[str] = set()  # nodes named by an edge that failed (no "unconnected" noise)

    def add(self, position: Position, message: str) -> None:
        self.issues.append(FlowIssue(self.filename, position.line, position.column, message))

    def at_key(self, path: Path, message: str) -> None:
        self.add(self.source.key(path), message)

    def at_value(self, path: Path, message: str) -> None:
        self.add(self.source.value(path), message)

    # -- pydantic errors --------------------------------------------------

    def pydantic_errors(self, error: ValidationError, base: Path, *, type_name: str | None) -> None:
        for item in error.errors():
            loc: Path = tuple(item["loc"])
            if type_name is not None and loc and loc[0] in ("id", "type"):
                continue  # checked by _check_nodes with better messages
            path = (*base, *loc)
            field = ".".join(str(part) for part in loc) or "value"
            kind = item["type"]
            if kind == "extra_forbidden":
                name = str(loc[-1])
                if type_name is None and len(loc) == 1:
                    self.at_key(path, f"unknown top-level key '{name}' (allowed: {_listing(TOP_LEVEL_KEYS)}){did_you_mean(name, TOP_LEVEL_KEYS)}")
                elif type_name is not None and len(loc) == 1:
                    allowed = setting_names(type_name)
                    self.at_key(path, f"unknown setting '{name}' for type '{type_name}' (settings: {_listing(allowed)}){did_you_mean(name, allowed)}")
                else:
                    self.at_key(path, f"unknown key '{name}' in {'.'.join(str(p) for p in loc[:-1])}")
            elif kind == "missing":
                where = self.source.value(base if len(loc) <= 1 else path[:-1])
                if type_name is None and len(loc) == 1:
                    self.add(where, f"missing required key '{field}'" + (": list the flow's nodes under 'nodes:'" if field == "nodes" else ""))
                elif type_name is not None and len(loc) == 1:
                    self.add(where, f"missing required setting '{field}' for type '{type_name}'")
                else:
                    self.add(where, f"missing required key '{field}'")
            elif kind in ("literal_error", "enum"):
                expected = item.get("ctx", {}).get("expected", "")
                self.at_value(path, f"wrong value {item.get('input')!r} for '{field}' (allowed: {expected})")
            else:
                self.at_value(path, f"'{field}': {item['msg']} (got {_short(item.get('input'))})")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def duplicate_key_issues(source: SourceMap, filename: str) -> list[FlowIssue]:
    """YAML keeps the last of two equal keys silently; every YAML document voxflow reads reports them."""
    return [FlowIssue(filename, position.line, position.column,
                      f"duplicate key '{path[-1]}': YAML keeps only the last one, remove or rename one of them")
            for path, position in source.duplicates]


def not_a_mapping(data: Any, filename: str, expected: str) -> FlowIssue | None:
    """The issue of a document that is empty or not a mapping (``expected`` says what it should be), else None."""
    if isinstance(data, dict):
        return None
    shape = "empty" if data is None else f"a {type(data).__name__}"
    return FlowIssue(filename, 1, 1, f"the file is {shape}; {expected}")


def validate_document(data: Any, source: SourceMap, filename: str, path: FilePath | None = None) -> Flow:
    """Check everything; return the Flow or raise FlowError with every issue found."""
    check = _Checker(filename, source)
    check.issues.extend(duplicate_key_issues(source, filename))
    if (wrong := not_a_mapping(data, filename, "a flow is a mapping with version, name, nodes and edges")) is not None:
        raise FlowError([*check.issues, wrong])

    header: FlowHeader | None = None
    try:
        header = FlowHeader.model_validate(data)
    except ValidationError as error:
        check.pydantic_errors(error, (), type_name=None)

    nodes = data.get("nodes")
    raw_nodes: list[Any] = nodes if isinstance(nodes, list) else []
    specs = _check_nodes(check, raw_nodes)
    edges: list[Edge] = []
    raw = data.get("edges")
    raw_edges: list[Any] = raw if isinstance(raw, list) else []
    edges = _check_edges(check, raw_edges, specs)
    _check_wiring(check, specs, edges)

    if check.issues or header is None:
        if not check.issues:  # pragma: no cover - header failed without a reported issue
            check.add(Position(1, 1), "invalid flow")
        raise FlowError(check.issues)
    return Flow(name=header.name, description=header.description, nodes=tuple(specs.values()), edges=tuple(edges), path=path)


def _check_nodes(check: _Checker, raw_nodes: list[Any]) -> dict[str, NodeSpec]:
    specs: dict[str, NodeSpec] = {}
    first_seen: dict[str, int] = {}
    known_types = registry.type_names()
    for index, raw in enumerate(raw_nodes):
        base: Path = ("nodes", index)
        if not isinstance(raw, dict):
            check.at_value(base, "each node is a mapping with at least 'id' and 'type'")
            continue
        node_id = raw.get("id")
        type_name = raw.get("type")
        if isinstance(node_id, str):
            check.declared.add(node_id)
        if isinstance(node_id, str) and ID_RE.match(node_id):
            if node_id in first_seen:
                check.at_value((*base, "id"), f"duplicate node id '{node_id}' (first used at line {check.source.value(('nodes', first_seen[node_id], 'id')).line}); give each node its own id")
            else:
                first_seen[node_id] = index
        elif node_id is None:
            check.at_value(base, "node has no 'id': add one, e.g. id: talk")
        else:
            check.at_value((*base, "id"), f"invalid node id {node_id!r}: use lowercase letters, digits, '-' and '_'")
        if type_name is None:
            check.at_value(base, f"node has no 'type' (types: {_listing(known_types)})")
            continue
        if not isinstance(type_name, str) or registry.get(type_name) is None:
            check.at_value((*base, "type"), f"unknown node type {type_name!r}{did_you_mean(str(type_name), known_types) or ''} (types: {_listing(known_types)})")
            continue
        model = node_document_model(type_name)
        try:
            document = model.model_validate(raw)
        except ValidationError as error:
            check.pydantic_errors(error, base, type_name=type_name)
            continue
        node_class = registry.get(type_name)
        assert node_class is not None
        settings_fields = node_class.Settings.model_fields
        # only what the file says: ``model_fields_set`` then tells a setting the flow chose from a default
        # (the config file's defaults rank below the flow's own settings: flow/options.py)
        settings = node_class.Settings.model_validate(
            {name: getattr(document, name) for name in settings_fields if name in document.model_fields_set})
        if isinstance(node_id, str) and node_id not in specs and ID_RE.match(node_id):
            check.raw_index[node_id] = index
            specs[node_id] = NodeSpec(
                id=node_id,
                type=type_name,
                settings=settings,
                node_class=node_class,
                label=raw.get("label"),
                line=check.source.value(base).line,
            )
    return specs


def _split_endpoint(text: str) -> tuple[str, str] | None:
    node, dot, port = text.partition(".")
    return (node, port) if dot and node and port else None


def _check_edges(check: _Checker, raw_edges: list[Any], specs: dict[str, NodeSpec]) -> list[Edge]:
    edges: list[Edge] = []
    feeding: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(raw_edges):
        base: Path = ("edges", index)
        if not isinstance(raw, dict) or not isinstance(raw.get("from"), str) or not isinstance(raw.get("to"), str):
            continue  # shape errors were reported by the header model
        target_parts = _split_endpoint(raw["to"])
        if target_parts:
            check.targets.add(target_parts)
        source_parts = _split_endpoint(raw["from"])
        if source_parts and target_parts and _is_reversed(specs, source_parts, target_parts):
            check.at_value((*base, "from"), f"edge is reversed: {raw['from']} is an input and {raw['to']} an output; swap 'from' and 'to'")
            check.in_broken_edge.update((source_parts[0], target_parts[0]))
            continue
        source = _resolve_endpoint(check, (*base, "from"), raw["from"], specs, output=True)
        target = _resolve_endpoint(check, (*base, "to"), raw["to"], specs, output=False)
        if source is None or target is None:
            check.in_broken_edge.update(part[0] for part in (source_parts, target_parts) if part)
            continue
        (from_node, from_port), (to_node, to_port) = source, target
        if from_port.type != to_port.type:
            check.at_value((*base, "to"), f"type mismatch: {raw['from']} is {from_port.type}, {raw['to']} takes {to_port.type}; connect a {to_port.type} output instead")
            continue
        key = (to_node, to_port.name)
        if key in feeding and not to_port.many:
            first = check.source.value(("edges", feeding[key], "to")).line
            check.at_value((*base, "to"), f"input {raw['to']} already has an edge (line {first}); an input takes at most one edge")
            continue
        feeding[key] = index
        edges.append(Edge(from_node, from_port.name, to_node, to_port.name, from_port.type, line=check.source.value(base).line))
    return edges


def _is_reversed(specs: dict[str, NodeSpec], source: tuple[str, str], target: tuple[str, str]) -> bool:
    from_spec, to_spec = specs.get(source[0]), specs.get(target[0])
    if from_spec is None or to_spec is None:
        return False
    cls_from, cls_to = from_spec.node_class, to_spec.node_class
    return (
        cls_from.output_port(source[1]) is None
        and any(p.name == source[1] for p in cls_from.inputs)
        and cls_to.output_port(target[1]) is not None
    )


def _resolve_endpoint(check: _Checker, path: Path, text: str, specs: dict[str, NodeSpec], *, output: bool) -> tuple[str, Port] | None:
    parts = _split_endpoint(text)
    if parts is None:
        return None  # the pattern error is reported by the header model
    node_id, port_name = parts
    spec = specs.get(node_id)
    if spec is None and node_id in check.declared:
        return None  # the node itself is invalid and already reported
    if spec is None:
        check.at_value(path, f"unknown node '{node_id}' in edge {'source' if output else 'target'}{did_you_mean(node_id, list(specs))} (nodes: {_listing(list(specs))})")
        return None
    cls: type[Node] = spec.node_class
    port = cls.output_port(port_name) if output else cls.input_port(port_name)
    if port is None:
        kind = "output" if output else "input"
        names = [p.name for p in (cls.outputs if output else cls.inputs)]
        other = cls.input_port(port_name) if output else cls.output_port(port_name)
        hint = f"; '{port_name}' is an {'input' if output else 'output'}, edges go from outputs to inputs" if other else did_you_mean(port_name, names)
        listing = _listing(names) + (" (any name)" if not output and cls.dynamic_inputs else "")
        check.at_value(path, f"'{spec.type}' node '{node_id}' has no {kind} port '{port_name}'{hint} ({kind}s: {listing})")
        return None
    return node_id, port


def _check_wiring(check: _Checker, specs: dict[str, NodeSpec], edges: list[Edge]) -> None:
    incoming: dict[str, set[str]] = defaultdict(set)
    outgoing: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        incoming[edge.to_node].add(edge.to_port)
        outgoing[edge.from_node].add(edge.from_port)
    for spec in specs.values():
        for port in spec.node_class.inputs:
            if spec.id in check.in_broken_edge:
                break
            if port.required and port.name not in incoming[spec.id] and (spec.id, port.name) not in check.targets:
                check.at_value(("nodes", _raw_index(check, spec)), f"required input '{spec.id}.{port.name}' ({port.type}) is not connected: add an edge to it")
        for message in spec.node_class.check_wiring(spec.settings, incoming[spec.id], outgoing[spec.id]):
            check.at_value(("nodes", _raw_index(check, spec)), f"node '{spec.id}': {message}")
    for spec in specs.values():
        for setting_path, message in spec.node_class.check_settings(spec.settings):
            check.at_value(("nodes", _raw_index(check, spec), *setting_path), f"node '{spec.id}': {message}")
    _check_tool_names(check, specs)
    cycle = _find_cycle(list(specs), edges)
    if cycle:
        first = specs[cycle[0]]
        check.at_value(("nodes", _raw_index(check, first)), f"cycle: {' -> '.join(cycle + [cycle[0]])}; a flow must not loop back on itself")


def _check_tool_names(check: _Checker, specs: dict[str, NodeSpec]) -> None:
    """Two tools with one function name would be ambiguous to the model."""
    first: dict[str, NodeSpec] = {}
    for spec in specs.values():
        for name in spec.node_class.tool_names(spec.settings):
            if name in first:
                line = check.source.value(("nodes", _raw_index(check, first[name]), "name")).line
                check.at_value(("nodes", _raw_index(check, spec), "name"),
                               f"duplicate tool name '{name}' (node '{first[name].id}', line {line}): give each tool its own name")
            else:
                first[name] = spec


def _raw_index(check: _Checker, spec: NodeSpec) -> int:
    return check.raw_index.get(spec.id, 0)


def _find_cycle(node_ids: list[str], edges: list[Edge]) -> list[str] | None:
    """One cycle as a list of node ids, in edge order, or None (iterative DFS)."""
    graph: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        graph[edge.from_node].append(edge.to_node)
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(node_ids, white)
    for start in node_ids:
        if color[start] != white:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = [start]
        color[start] = grey
        while stack:
            node, i = stack[-1]
            children = graph[node]
            if i < len(children):
                stack[-1] = (node, i + 1)
                child = children[i]
                if color.get(child) == grey:
                    return trail[trail.index(child):]
                if color.get(child) == white:
                    color[child] = grey
                    stack.append((child, 0))
                    trail.append(child)
            else:
                color[node] = black
                stack.pop()
                trail.pop()
    return None
