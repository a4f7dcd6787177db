"""The validated flow: what the engine runs and front ends show.

These are the result of :mod:`flow.loader`; they are never built from
unchecked data. The document's own shape (for editors) is in :mod:`flow.schema`.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from pathlib import Path

from flow.nodes.base import Node, NodeSettings, PortType

ID_PATTERN = r"^[a-z0-9_-]+$"
ID_RE = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class NodeSpec:
    id: str
    type: str
    settings: NodeSettings
    node_class: builtins.type[Node]  # ``type`` is a field name here
    label: str | None = None
    line: int = 0

    @property
    def title(self) -> str:
        return self.label or self.id


@dataclass(frozen=True)
class Edge:
    from_node: str
    from_port: str
    to_node: str
    to_port: str
    type: PortType
    line: int = 0

    def __str__(self) -> str:
        return f"{self.from_node}.{self.from_port}->{self.to_node}.{self.to_port}"


@dataclass(frozen=True)
class Flow:
    name: str
    nodes: tuple[NodeSpec, ...]
    edges: tuple[Edge, ...] = ()
    description: str = ""
    path: Path | None = None
    _by_id: dict[str, NodeSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({spec.id: spec for spec in self.nodes})

    def node(self, node_id: str) -> NodeSpec:
        return self._by_id[node_id]

    def incoming(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.to_node == node_id]

    def outgoing(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.from_node == node_id]
