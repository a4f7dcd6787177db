"""Maps node type names to node classes.

Types are listed by module path and imported on first use, so loading a flow
that needs only text nodes never imports aiortc or PyAV.
"""

from __future__ import annotations

import importlib

from flow.nodes.base import Node

_MODULES: dict[str, str] = {
    "text-input": "flow.nodes.text_input:TextInputNode",
    "preview-output": "flow.nodes.preview_output:PreviewOutputNode",
    "string-combine": "flow.nodes.string_combine:StringCombineNode",
    "audio-input": "flow.nodes.audio_input:AudioInputNode",
    "audio-output": "flow.nodes.audio_output:AudioOutputNode",
    "realtime-conversation": "flow.nodes.realtime:RealtimeConversationNode",
    "http-tool": "flow.nodes.http_tool:HttpToolNode",
    "command-tool": "flow.nodes.command_tool:CommandToolNode",
    "mcp-tools": "flow.nodes.mcp_tools:McpToolsNode",
    "end-conversation": "flow.nodes.end_conversation:EndConversationNode",
}
_loaded: dict[str, type[Node]] = {}


def register(type_name: str, target: str) -> None:
    """Add a node type: ``target`` is ``"package.module:ClassName"``."""
    _MODULES[type_name] = target
    _loaded.pop(type_name, None)


def unregister(type_name: str) -> None:
    """Remove a node type added with :func:`register` (tests add their own and take them away again)."""
    _MODULES.pop(type_name, None)
    _loaded.pop(type_name, None)


def type_names() -> list[str]:
    return sorted(_MODULES)


def get(type_name: str) -> type[Node] | None:
    if type_name in _loaded:
        return _loaded[type_name]
    target = _MODULES.get(type_name)
    if target is None:
        return None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    _loaded[type_name] = cls
    return cls


def all_types() -> dict[str, type[Node]]:
    return {name: get(name) for name in type_names()}  # type: ignore[misc]
