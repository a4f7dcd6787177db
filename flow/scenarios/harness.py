"""The flow as a scenario calls it, and the local servers its conversations share.

A scenario test calls a flow exactly as written, except where a person on
the line would be: the caller replaces the conversation's input (a
microphone, or a recording the flow plays, as in the demo), the assistant's
audio goes nowhere but the run's recording (no sound card in CI; twenty
parallel runs must not share one output file), and echo handling is off
(the caller is wired in: there is no acoustic echo to cancel or guard
against, and the guard would mute a barge-in).

Every conversation of a ``voxflow test`` run against the local provider uses
one in-process local Realtime server per rule script (``local_script``), so
``-j N`` runs N calls against one server, as N people would call one service.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from flow.model import Flow
from flow.nodes.audio_input import AudioInputSettings
from flow.nodes.audio_output import AudioOutputSettings
from flow.provider import REALTIME_NODE_TYPE


def conversation_id(flow: Flow) -> str:
    return next(spec.id for spec in flow.nodes if spec.type == REALTIME_NODE_TYPE)


def flow_for_caller(flow: Flow) -> Flow:
    """``flow`` with the caller as the conversation's input, its audio outputs discarded and echo handling off."""
    conversation = conversation_id(flow)
    feeding = {edge.from_node for edge in flow.incoming(conversation) if edge.to_port == "audio-in"}
    nodes = []
    for spec in flow.nodes:
        settings: Any = spec.settings
        if spec.id in feeding and isinstance(settings, AudioInputSettings):
            settings = settings.model_copy(update={"source": "microphone", "path": None, "loop": False})
        elif isinstance(settings, AudioOutputSettings):
            settings = settings.model_copy(update={"sink": "null", "path": None})
        elif spec.id == conversation:
            settings = settings.model_copy(update={"echo_cancellation": "off", "echo_guard": False})
        nodes.append(dataclasses.replace(spec, settings=settings))
    return Flow(name=flow.name, nodes=tuple(nodes), edges=flow.edges, description=flow.description, path=flow.path)


def rule_script(flow: Flow) -> Path | None:
    """The conversation's ``local_script``, resolved against the flow file (None: the server's default replies)."""
    settings = flow.node(conversation_id(flow)).settings
    written = getattr(settings, "local_script", None)
    if not written:
        return None
    path = Path(written).expanduser()
    if not path.is_absolute() and flow.path is not None:
        path = flow.path.parent / path
    return path.resolve()


class LocalServers:
    """The local Realtime servers of one ``voxflow test`` run, one per rule script; :meth:`close` stops them."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self._host = host
        self._servers: dict[Path | None, Any] = {}
        self._lock = asyncio.Lock()

    async def url_for(self, flow: Flow) -> str:
        """The base URL of the server for ``flow``'s rule script (started on first use)."""
        return await self.url_for_script(rule_script(flow))

    async def url_for_script(self, key: Path | None) -> str:
        """The base URL of the server that follows the rule script ``key`` (None: the default replies)."""
        async with self._lock:
            server = self._servers.get(key)
            if server is None:
                server = await self._start(key)
                self._servers[key] = server
            return str(server.base_url)

    async def _start(self, script: Path | None) -> Any:
        from audio.base.errors import VoxflowError
        from audio.server import LocalRealtimeServer, ServerConfig, ToolScript

        rules = None
        if script is not None:
            try:
                text = script.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise VoxflowError(f"local_script {script}: cannot read it ({getattr(error, 'strerror', None) or error})",
                                   hint="Give a UTF-8 YAML file of rules (when, call, arguments, say).") from None
            rules = ToolScript.parse(text, str(script))
        server = LocalRealtimeServer(ServerConfig(host=self._host, port=0, rules=rules))
        await server.start()
        return server

    @property
    def servers(self) -> list[Any]:
        return list(self._servers.values())

    async def close(self) -> None:
        servers, self._servers = list(self._servers.values()), {}
        await asyncio.gather(*(server.stop() for server in servers), return_exceptions=True)
