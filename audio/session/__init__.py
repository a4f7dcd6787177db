"""The client session core: one live conversation with a Realtime service, and what front ends may use of it.

``RealtimeSession`` (lifecycle, reconnection and renewal, media paths, push-to-talk, timers, tools)
and the typed events it publishes; front ends depend on ``LiveSession`` and the events only.
Transcript order and formats live here too.

May import: ``audio.base``, ``audio.dsp``, ``audio.echo``, ``audio.speech``, ``audio.transports``, ``audio.wire``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "approve_all": "tools",
    "Approver": "tools",
    "AssistantAudio": "events",
    "check_schema": "tools",
    "clock_text": "transcript_format",
    "ConnectionInfo": "events",
    "INTERRUPTED_MARK": "transcript_format",
    "LatencyBudget": "events",
    "Levels": "events",
    "LiveSession": "live",
    "MuteChanged": "events",
    "Notice": "events",
    "Placed": "transcript_order",
    "PttChanged": "events",
    "PttState": "events",
    "RateLimit": "events",
    "RateLimitsUpdated": "events",
    "RealtimeSession": "session",
    "Recorder": "media",
    "ResponseDone": "events",
    "ResponseStarted": "events",
    "schema_problem": "tools",
    "SessionErrorEvent": "events",
    "SessionEvent": "events",
    "SessionState": "events",
    "shown_text": "transcript_format",
    "SpeechStarted": "events",
    "SpeechStopped": "events",
    "StateChanged": "events",
    "text_line": "transcript_format",
    "TimerTick": "events",
    "to_jsonl": "transcript_format",
    "to_markdown": "transcript_format",
    "Tool": "tools",
    "tool_definition": "tools",
    "ToolCallInfo": "events",
    "ToolCallRequest": "tools",
    "ToolCallUpdated": "events",
    "ToolError": "tools",
    "TranscriptCleared": "events",
    "TranscriptEntry": "events",
    "TranscriptOrder": "transcript_order",
    "TranscriptUpdated": "events",
    "TurnLatency": "events",
    "Usage": "events",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
