"""realtime-conversation: a live voice conversation with a Realtime model as one flow node.

The node turns its settings and the run's options into a
:class:`~audio.session.session.RealtimeSession`, picks where the ephemeral
secret comes from (own key, token service, or an in-process local server when
there is no key), hands the session to front ends (``ctx.publish``), and maps
the session onto ports: the assistant's audio stream on ``audio-out``, the
growing ``User: ...`` / ``Assistant: ...`` transcript on ``transcript``, and a
pulse on ``done`` when the session is over.

It ends when the session ends (user, error, time cap) or, for input that runs
out (a file), once the input has ended, no user turn is open any more (see
:mod:`flow.turns`: still spoken, not yet transcribed or not yet answered; the
session keeps sending silence meanwhile, for at most ``TURN_TIMEOUT_SECONDS``),
the last reply has finished playing and nothing has happened for a short grace
period, so headless runs end by themselves and never drop the last turn. With
``vad: disabled`` the end of the input is the end of the push-to-talk turn: it
commits the buffer and asks for a reply. A session that ends on its own while
input remains (not at its time cap) is a failure of the node. With
``reconnect`` (the default) the session connects again after a drop, and with
``renew`` it also renews before its cap (:mod:`audio.session.renewal`); it
ends only when the input does, the user stops, or reconnecting gave up (an
error).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from audio.base.edge import AudioEdgeData
from audio.base.errors import VoxflowError
from audio.dsp.frames import AudioSource
from audio.wire.config import (
    DEFAULT_BASE_URL,
    MAX_SESSION_MINUTES,
    DisabledVad,
    SemanticVad,
    ServerVad,
    SessionConfig,
    Voice,
)
from audio.session.events import PttState, SessionState, TranscriptCleared, TranscriptUpdated
from audio.session.tools import tool_definition
from flow.nodes.base import PULSE, Node, NodeContext, NodeSettings, Port, PortType
from flow.options import node_setting
from flow.turns import TurnTracker, tracker_for
from flow.provider import NO_KEY_MESSAGE  # noqa: F401  (re-exported: the run fails with it)

log = logging.getLogger(__name__)

VadSetting = Literal["semantic_vad", "server_vad", "disabled"] | SemanticVad | ServerVad | DisabledVad
LOCAL_KEY = "voxflow-local"  # the in-process local server accepts any key
END_GRACE_SECONDS = 2.0
"""Quiet time (no server event, since the input ended) before a finished input ends the session."""
TURN_TIMEOUT_SECONDS = 30.0
"""How long past the end of the input an open user turn is waited for."""
DRAIN_SECONDS = 2.0
POLL_SECONDS = 0.1


SECONDS_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 300},
                           {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*[ms]\s*)+$"}]}


def seconds_setting(value: Any) -> Any:
    """``20s``, ``1m``, ``1m30s`` or a plain number of seconds, as a number (other values are left to pydantic)."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(m|s)", text)
    if parts and re.fullmatch(r"(?:\d+(?:\.\d+)?\s*[ms]\s*)+", text):
        return sum(float(number) * (60.0 if unit == "m" else 1.0) for number, unit in parts)
    try:
        return float(text)
    except ValueError:
        raise ValueError("a duration such as 20s, 1m or 1m30s") from None


class RealtimeConversationSettings(NodeSettings):
    voice: Voice = "marin"
    vad: VadSetting = "semantic_vad"
    """``semantic_vad``, ``server_vad``, ``disabled`` (push-to-talk), or an object with parameters,
    e.g. ``{type: server_vad, threshold: 0.6, silence_duration_ms: 700}``."""
    model: str = Field(default="gpt-realtime", min_length=1)
    instructions: str = ""
    provider: Literal["openai", "local"] | None = None
    """None: OpenAI when a key or share token is available, else the local server."""
    max_duration: float = Field(default=MAX_SESSION_MINUTES, gt=0, le=MAX_SESSION_MINUTES)
    """Minutes (at most 60)."""
    transcription_model: str | None = "gpt-4o-mini-transcribe"
    echo_guard: bool = True
    """False never lets the echo guard mute the microphone (whatever ``echo_cancellation`` says)."""
    echo_cancellation: Literal["auto", "aec", "guard", "off"] = "auto"
    """``aec``: cancel the speaker's echo (the person can interrupt); ``guard``: mute probable echo;
    ``off``: neither (headphones); ``auto``: aec with a real microphone and speaker, else the guard."""
    noise_suppression: bool = False
    """With echo cancellation: also suppress steady background noise."""
    renew: bool = False
    """Always on: renew the session before ``max_duration`` at a turn boundary; the conversation goes on."""
    reconnect: bool = True
    """After a drop, connect again (backoff, at most 6 tries in 2 minutes) and carry the conversation over;
    ``--no-reconnect`` turns it off for a run."""
    outage_buffer: Annotated[float, BeforeValidator(seconds_setting), WithJsonSchema(SECONDS_SCHEMA)] = Field(
        default=20.0, ge=0, le=300)
    """While a dropped connection is being replaced, the microphone is kept for this long (``20s``, ``1m``; 0: off);
    what was said meanwhile goes to the new session, past the bound the oldest audio is dropped."""
    transport: Literal["webrtc", "websocket", "auto"] = "webrtc"
    """``webrtc``; ``websocket`` (TCP only); ``auto``: WebRTC, falling back to WebSocket when UDP is blocked."""
    tool_choice: Literal["auto", "none", "required"] = "auto"
    """Whether the model may (auto), must (required) or must not (none) call the connected tools."""
    local_script: str | None = None
    """The local server's rule script (YAML, relative to the flow): what it says and which tools it calls."""


class RealtimeConversationNode(Node):
    type_name = "realtime-conversation"
    summary = "A live voice conversation with a Realtime model (OpenAI or the local server)."
    Settings = RealtimeConversationSettings
    inputs = (
        Port("audio-in", PortType.AUDIO, required=False, description="Microphone audio; the default microphone when unconnected."),
        Port("instructions", PortType.TEXT, required=False, description="Overrides the inline instructions."),
        Port("tools", PortType.TOOL, required=False, many=True, description="Functions the model may call (many edges)."),
    )
    outputs = (
        Port("audio-out", PortType.AUDIO, description="The assistant's voice as a live stream."),
        Port("transcript", PortType.TEXT, description="User: ... / Assistant: ... lines, growing live."),
        Port("done", PortType.PULSE, description="Pulses when the session has ended."),
    )

    def __init__(self, node_id: str, settings: NodeSettings, label: str | None = None) -> None:
        super().__init__(node_id, settings, label)
        self.session: Any = None
        self.provider_label: str | None = None
        self.transcript_text = ""
        self.end_reason: str | None = None
        self.reached_time_cap = False
        """The session ended by itself at its time cap (``max_duration`` / ``--max-duration``), not early."""
        self._start = asyncio.Event()

    # ------------------------------------------------------------------ control
    def request_start(self) -> None:
        """Start a node whose outputs are all unconnected (the front end's "start" key)."""
        self._start.set()

    def reset(self) -> None:
        self.transcript_text = ""
        self.end_reason = None
        self.reached_time_cap = False
        self._start = asyncio.Event()
        if self.session is not None:
            self.session.transcript.clear()

    # ------------------------------------------------------------------ config
    def session_config(self, ctx: NodeContext, base_url: str, tools: list[Any] | None = None) -> SessionConfig:
        settings: RealtimeConversationSettings = self.settings  # type: ignore[assignment]
        instructions = settings.instructions
        if ctx.is_connected("instructions"):
            value = ctx.input("instructions")
            if isinstance(value, str) and value.strip():
                instructions = value
        minutes = settings.max_duration
        if ctx.options.max_duration:
            minutes = min(minutes, ctx.options.max_duration / 60.0)
        vad = settings.vad if not isinstance(settings.vad, str) else {"type": settings.vad}
        return SessionConfig.build(
            model=settings.model,
            voice=settings.voice,
            vad=vad,
            instructions=instructions,
            transcription_model=settings.transcription_model,
            max_duration=minutes,
            base_url=base_url,
            renew=ctx.options.renew or node_setting(settings, "renew", ctx.options.defaults.renew),
            reconnect=ctx.options.reconnect and node_setting(settings, "reconnect", ctx.options.defaults.reconnect),
            outage_buffer=settings.outage_buffer,
            transport=ctx.options.transport or node_setting(settings, "transport", ctx.options.defaults.transport),
            tools=tuple(tool_definition(tool) for tool in tools or ()),
            tool_choice=settings.tool_choice,
        )

    # ------------------------------------------------------------------ run
    async def run(self, ctx: NodeContext) -> None:
        settings: RealtimeConversationSettings = self.settings  # type: ignore[assignment]
        from flow.nodes.tool_calls import connected_tools

        tools = connected_tools(ctx)
        if not any(ctx.is_connected(port.name) for port in self.outputs):
            await self._start.wait()
        async with contextlib.AsyncExitStack() as stack:
            provider, base_url = await self._provider(ctx, stack)
            config = self.session_config(ctx, base_url, tools)
            input_stream_id, input_source = self._input(ctx, stack)
            if input_stream_id is not None:
                # the conversation is the stream's consumer: when it ends, the upstream source
                # (a microphone, an endless tone) is stopped too, so the flow can finish
                stack.callback(ctx.registry.unregister, input_stream_id)
            microphone = input_source if input_stream_id is None else ctx.registry.get(input_stream_id)
            from audio.echo.echo_setup import plan_echo  # numpy, PyAV: loaded when a conversation runs

            echo = plan_echo(
                settings.echo_cancellation, microphone, noise_suppression=settings.noise_suppression
            )
            stack.callback(echo.detach, microphone)

            from audio.session.session import RealtimeSession

            session = RealtimeSession(
                config,
                secret_provider=provider,
                registry=ctx.registry,
                clock=ctx.clock,
                input_stream_id=input_stream_id,
                input_source=input_source,
                echo_guard=settings.echo_guard and echo.guard,
                echo=echo,
                provider_label=self.provider_label,
                tools=tools,
                approve_tools=ctx.options.tool_approver,
            )
            self.session = session
            # the recording starts at the transcript's 0 s: one clock for both files
            session.recorder = self._recorder(ctx, stack, session.transcript.origin)
            stack.push_async_callback(session.disconnect)
            ctx.publish(session)

            def on_event(event: object) -> None:
                if isinstance(event, TranscriptUpdated | TranscriptCleared):
                    self.transcript_text = session.transcript.as_text()
                    if self.transcript_text:
                        ctx.emit("transcript", self.transcript_text)

            stack.callback(session.events.add_callback(on_event))
            turns = tracker_for(session)
            stack.callback(session.events.add_callback(turns))
            if config.push_to_talk and ctx.options.unattended:
                session.ptt.press()  # nobody at the keys: the whole input is one turn, sent from its first frame
            try:
                # a kiosk (renew) retries its first connect too; anyone else hears about a wrong address at once
                await (session.renewal.connect_first() if session.renewal is not None and config.renew else session.connect())
                assert session.output_stream_id is not None and session.output_pipe is not None
                threshold = None if config.push_to_talk else getattr(config.vad, "threshold", 0.5)
                echo.attach(
                    microphone, session.output_pipe, session.echo_guard, allow_guard=settings.echo_guard, vad_threshold=threshold
                )
                ctx.emit("audio-out", AudioEdgeData.stream(session.output_stream_id))
                ended_by_itself = await self._until_finished(ctx, session, turns, tools)
            finally:
                self.end_reason = session.reason
            if session.state is SessionState.ERROR:
                raise VoxflowError(f"realtime session failed: {session.reason}")
            self.reached_time_cap = ended_by_itself and session.timer.remaining() < 1.0
            if ended_by_itself and not session.input_ended and not self.reached_time_cap:
                raise VoxflowError(f"the session ended before the input did: {session.reason}")
        if self.transcript_text:
            ctx.emit("transcript", self.transcript_text)
        ctx.emit("done", PULSE)

    async def _until_finished(self, ctx: NodeContext, session: Any, turns: TurnTracker, tools: list[Any] | None = None) -> bool:
        """Until the session ends (True: by itself), the model ended it (end-conversation), or the input ran out and its last turn was answered."""
        from flow.nodes.tool_calls import end_requested

        closed = asyncio.ensure_future(session.wait_closed())
        clock = ctx.clock
        ended_at: float | None = None
        try:
            while not closed.done():
                if end_requested(tools or []) and session.idle_for() >= END_GRACE_SECONDS:
                    await session.disconnect("the assistant ended the conversation")
                    return False
                if session.input_ended:
                    if ended_at is None:
                        if session.config.push_to_talk and session.ptt_state is PttState.TALKING:
                            await session.ptt_toggle()  # the end of the input ends the turn: commit, ask for a reply
                        ended_at = clock.monotonic()
                    since_end = clock.monotonic() - ended_at
                    turn = turns.open_turn()
                    if turn is None and min(session.idle_for(), since_end) >= END_GRACE_SECONDS:
                        await self._drain(ctx, session)
                        await session.disconnect("the input ended and the last reply was played")
                        return False
                    if turn is not None and since_end >= TURN_TIMEOUT_SECONDS:
                        await session.disconnect(f"stopped waiting {TURN_TIMEOUT_SECONDS:g} s after the input ended: {turn.text}")
                        return False
                await asyncio.wait({closed}, timeout=POLL_SECONDS)
            return True
        finally:
            if not closed.done():
                closed.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await closed

    async def _drain(self, ctx: NodeContext, session: Any) -> None:
        """Give the downstream reader (if any) a moment to take the last queued audio."""
        if not ctx.is_connected("audio-out"):
            return
        waited = 0.0
        while session.output_pipe is not None and session.output_pipe.queued_frames and waited < DRAIN_SECONDS:
            await asyncio.sleep(POLL_SECONDS)
            waited += POLL_SECONDS

    # ------------------------------------------------------------------ wiring
    async def _provider(self, ctx: NodeContext, stack: contextlib.AsyncExitStack) -> tuple[Any, str]:
        from audio.transports.secrets import DirectSecretProvider, SecretProvider, TokenServiceProvider
        from flow.provider import choose_provider

        options = ctx.options
        settings: RealtimeConversationSettings = self.settings  # type: ignore[assignment]
        choice = choose_provider(options, settings.provider)  # the header shows the same choice
        if choice.error:
            raise VoxflowError(choice.error)
        if choice.service == "local":
            return await self._local(ctx, stack, choice.label)
        base_url = options.base_url or DEFAULT_BASE_URL
        provider: SecretProvider
        if choice.service == "token-service":
            provider = TokenServiceProvider(options.token_service or "", api_key=options.api_key, share_token=options.share_token)
        else:
            provider = DirectSecretProvider(options.api_key or "", base_url=base_url)
        self.provider_label = choice.label
        return provider, base_url

    async def _local(self, ctx: NodeContext, stack: contextlib.AsyncExitStack, label: str) -> tuple[Any, str]:
        """Start an in-process local Realtime server for this run (stopped when the node ends), or use the run's shared one."""
        from audio.transports.secrets import DirectSecretProvider
        from audio.server import LocalRealtimeServer, ServerConfig

        from flow.nodes.tool_calls import local_rules

        shared = ctx.options.local_server_url
        if shared is not None:
            self.provider_label = label
            return DirectSecretProvider(LOCAL_KEY, base_url=shared), shared

        server = LocalRealtimeServer(ServerConfig(host="127.0.0.1", port=0, rules=local_rules(ctx, self.settings)))
        await server.start()
        stack.push_async_callback(server.stop)
        self.provider_label = label
        return DirectSecretProvider(LOCAL_KEY, base_url=server.base_url), server.base_url

    def _input(self, ctx: NodeContext, stack: contextlib.ExitStack | contextlib.AsyncExitStack) -> tuple[str | None, AudioSource | None]:
        if ctx.is_connected("audio-in"):
            edge = ctx.input("audio-in")
            if not isinstance(edge, AudioEdgeData) or edge.type != "stream" or not edge.stream_id:
                raise VoxflowError(
                    "realtime-conversation's audio-in needs a live audio stream",
                    hint="Connect the audio-out of an audio-input node to it.",
                )
            return edge.stream_id, None
        options = ctx.options
        if options.input_source is not None:
            return None, options.input_source  # the scenario caller: its owner stops it
        if options.input_file is not None:
            from audio.io.sources import FileSource

            source = FileSource(options.input_file, realtime=options.realtime_pacing, clock=ctx.clock)
            stack.callback(source.stop)
        else:
            from audio.io.microphone import MicrophoneSource

            device = options.input_device if options.input_device is not None else options.defaults.input_device
            microphone = MicrophoneSource(device, sample_rate=48_000, channels=1)
            stack.callback(microphone.stop)
            microphone.start()  # a missing or busy microphone fails here, with its message, before connecting
            return None, microphone
        return None, source

    def _recorder(self, ctx: NodeContext, stack: contextlib.AsyncExitStack, origin: float) -> Any:
        path = ctx.options.record_path
        if path is None:
            return None
        from audio.io.recorder import StereoRecorder

        recorder = StereoRecorder(path, 24_000, ctx.clock, origin=origin)
        stack.callback(recorder.close)
        return recorder
