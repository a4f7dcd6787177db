"""The session's side of function tools: which server events start calls, and where calls show.

A :class:`RealtimeSession` with tools owns one :class:`SessionTools`. It adds
``tools``/``tool_choice`` to the session configuration, reads the server
events that concern function calls (``conversation.item.added`` places the
call in the transcript, ``response.function_call_arguments.delta/done``
stream its arguments, ``response.output_item.done`` with a ``function_call``
item starts it, ``response.done`` lets the runner ask for the next response),
and shows every call as a ``tool`` transcript entry plus a
:class:`~audio.session.events.ToolCallUpdated` event. The calls themselves
run in :class:`~audio.session.tools.ToolRunner`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from audio.base.clock import Clock
from audio.wire import protocol
from audio.session.events import SessionEvent, ToolCallInfo, ToolCallUpdated
from audio.session.tools import Approver, Tool, ToolRunner
from audio.session.transcript import Transcript


class SessionTools:
    def __init__(
        self,
        tools: Iterable[Tool],
        *,
        send: Callable[[dict[str, Any]], None],
        publish: Callable[[SessionEvent], None],
        transcript: Transcript,
        clock: Clock,
        approve: Approver | None = None,
        tool_choice: str = "auto",
    ) -> None:
        self.runner = ToolRunner(tools, send=send, on_update=self._updated, approve=approve, clock=clock,
                                 tool_choice=tool_choice)
        self._publish = publish
        self._transcript = transcript
        self._arguments: dict[str, str] = {}  # call_id -> arguments streamed so far

    @property
    def running(self) -> bool:
        """A call is in flight: the conversation is not idle even though no response is."""
        return self.runner.running

    def listen(self, subscribe: Callable[[str, Callable[[protocol.ServerEvent], None]], Any]) -> None:
        """Follow the server events about function calls (``subscribe`` is ``RealtimeSession.on_server_event``)."""
        for event_type in (protocol.ITEM_ADDED, protocol.FUNCTION_CALL_ARGUMENTS_DELTA,
                           protocol.FUNCTION_CALL_ARGUMENTS_DONE, protocol.OUTPUT_ITEM_DONE, protocol.RESPONSE_DONE,
                           protocol.SPEECH_STARTED):
            subscribe(event_type, self.handle)

    def handle(self, event: protocol.ServerEvent) -> None:
        """Look at every server event; act on the ones about function calls."""
        item = event.get("item")
        is_call = isinstance(item, dict) and item.get("type") == "function_call"
        if event.type == protocol.ITEM_ADDED and is_call:
            self._placed(item, event.get("previous_item_id"))
        elif event.type == protocol.FUNCTION_CALL_ARGUMENTS_DELTA:
            call_id = str(event.get("call_id") or "")
            self._arguments[call_id] = self._arguments.get(call_id, "") + str(event.get("delta") or "")
        elif event.type == protocol.FUNCTION_CALL_ARGUMENTS_DONE:
            self._arguments[str(event.get("call_id") or "")] = str(event.get("arguments") or "")
        elif event.type == protocol.OUTPUT_ITEM_DONE and is_call:
            call_id = str(item.get("call_id") or "")
            arguments = item.get("arguments") or self._arguments.get(call_id, "")
            self._arguments.pop(call_id, None)
            self.runner.call_requested({**item, "arguments": arguments}, event.get("response_id"))
        elif event.type == protocol.RESPONSE_DONE:
            response = event.get("response") or {}
            self.runner.response_done(response.get("id"), str(response.get("status") or "completed"))
        elif event.type == protocol.SPEECH_STARTED and self.runner.running:
            self.runner.cancel_all("the user interrupted")  # barge-in: the user moved on

    def cancel(self, reason: str) -> None:
        """Barge-in or cancel: running calls stop and answer ``cancelled``."""
        self.runner.cancel_all(reason)

    async def aclose(self) -> None:
        await self.runner.aclose()

    def _placed(self, item: dict[str, Any], previous: Any) -> None:
        item_id = item.get("id")
        if isinstance(item_id, str) and item_id not in self._transcript:
            self._transcript.add_item(item_id, "tool", previous if isinstance(previous, str) else None)
            self._transcript.tool_call(item_id, ToolCallInfo(str(item.get("call_id") or ""), str(item.get("name") or ""),
                                                             "", "requested"))

    def _updated(self, update: ToolCallUpdated) -> None:
        self._transcript.tool_call(update.item_id or update.call.call_id, update.call)
        self._publish(update)
