"""end-conversation: a built-in tool the model calls to end the session politely.

The call answers at once ("ending after your goodbye"); the model then says
goodbye in its next response, and the realtime-conversation node hangs up once
that reply has finished playing (see ``EndConversationTool.requested``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import Field

from audio.session.tools import Tool
from flow.nodes.base import NodeContext, NodeSettings
from flow.nodes.tool_base import NAME_PATTERN, ToolNode

DEFAULT_DESCRIPTION = "End the conversation when the user says goodbye or asks to stop. Say a short goodbye first."
EMPTY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


class EndConversationSettings(NodeSettings):
    name: str = Field(default="end_conversation", pattern=NAME_PATTERN, description="The function name the model sees.")
    description: str = Field(default=DEFAULT_DESCRIPTION, description="When the model should end the conversation.")
    confirm: bool = Field(default=False, description="Ask the operator before ending.")


class EndConversationTool:
    def __init__(self, node_id: str, settings: EndConversationSettings) -> None:
        self.node_id: str | None = node_id
        self.name = settings.name
        self.description = settings.description
        self.parameters = dict(EMPTY_OBJECT)
        self.confirm = settings.confirm
        self.requested = asyncio.Event()
        """Set by a call: the conversation ends after the reply that follows has been played."""

    def secrets(self) -> Sequence[str]:
        return ()

    async def call(self, arguments: dict[str, Any]) -> str:
        self.requested.set()
        return "The conversation will end after your reply: say a short goodbye now."


class EndConversationNode(ToolNode):
    type_name = "end-conversation"
    summary = "A built-in tool: the model can end the session politely."
    Settings = EndConversationSettings

    @contextlib.asynccontextmanager
    async def open_tools(self, ctx: NodeContext) -> AsyncIterator[list[Tool]]:
        assert isinstance(self.settings, EndConversationSettings)
        yield [EndConversationTool(self.id, self.settings)]
