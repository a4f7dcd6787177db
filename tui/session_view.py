"""What the connection panel and header show about the live session, built from its events.

This is display state only: each field is the latest value an event carried.
The session core decides everything; this model just remembers what it said,
so widgets can repaint from it at a bounded rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audio.session.events import (
    AssistantAudio,
    ConnectionInfo,
    LatencyBudget,
    Levels,
    MuteChanged,
    Notice,
    PttChanged,
    PttState,
    RateLimit,
    RateLimitsUpdated,
    ResponseDone,
    ResponseStarted,
    SessionErrorEvent,
    SessionEvent,
    SessionState,
    SpeechStarted,
    SpeechStopped,
    StateChanged,
    TimerTick,
    TurnLatency,
    Usage,
)

SILENCE_DBFS = -100.0


@dataclass
class SessionView:
    state: SessionState = SessionState.IDLE
    reason: str | None = None
    error: str | None = None
    ice_state: str = "new"
    datachannel_state: str = "closed"
    transport: str | None = None  # "WebRTC" or "WebSocket" once connecting
    call_id: str | None = None
    model: str | None = None
    voice: str | None = None
    vad: str | None = None
    provider: str | None = None
    ptt: PttState = PttState.OFF
    muted: bool = False
    user_speaking: bool = False
    assistant_speaking: bool = False
    audio_started: bool = False  # the assistant produced audio: the voice is now locked
    responding: bool = False
    input_dbfs: float = SILENCE_DBFS
    output_dbfs: float = SILENCE_DBFS
    echo: str | None = None  # aec / aec (converging) / guard / off
    echo_removed_db: float | None = None
    latency: float | None = None
    budget: LatencyBudget | None = None  # network RTT, jitter buffer, playout (ms), about once a second
    usage: Usage = field(default_factory=Usage)
    rate_limits: tuple[RateLimit, ...] = ()
    elapsed: float | None = None
    remaining: float | None = None
    total: float | None = None  # since the first session (renewals included)
    warning: bool = False

    def apply(self, event: SessionEvent) -> None:
        """Remember what ``event`` says (events the view does not show are ignored)."""
        match event:
            case StateChanged(state=state, reason=reason):
                self.state = state
                self.reason = reason
                if state == SessionState.ERROR:
                    self.error = reason or self.error
                elif state in (SessionState.CONNECTING, SessionState.CONNECTED):
                    self.error = None
                if state != SessionState.CONNECTED:
                    self.user_speaking = self.assistant_speaking = self.responding = False
                    self.input_dbfs = self.output_dbfs = SILENCE_DBFS
            case ConnectionInfo():
                self.ice_state = event.ice_state
                self.datachannel_state = event.datachannel_state
                self.transport = event.transport
                self.call_id = event.call_id
                self.model = event.model
                self.voice = event.voice
                self.vad = event.vad
                self.provider = event.provider or self.provider
            case PttChanged(state=ptt):
                self.ptt = ptt
            case MuteChanged(muted=muted):
                self.muted = muted
            case SpeechStarted():
                self.user_speaking = True
            case SpeechStopped():
                self.user_speaking = False
            case ResponseStarted():
                self.responding = True
            case ResponseDone(total_usage=total):
                self.responding = False
                self.usage = total
            case AssistantAudio(playing=playing):
                self.assistant_speaking = playing
                if playing:
                    self.audio_started = True
            case Levels():
                self.input_dbfs = event.input_rms_dbfs
                self.output_dbfs = event.output_rms_dbfs
                self.echo, self.echo_removed_db = event.echo, event.echo_removed_db
            case TurnLatency(seconds=seconds):
                self.latency = seconds
            case LatencyBudget():
                self.budget = event
            case RateLimitsUpdated(limits=limits):
                self.rate_limits = limits
            case TimerTick(elapsed=elapsed, remaining=remaining, warning=warning):
                self.elapsed = elapsed
                self.remaining = remaining
                self.total = event.total
                self.warning = warning
            case SessionErrorEvent(message=message):
                self.error = message
            case Notice():
                pass

    def reset(self) -> None:
        """Back to the look of a flow that has not run."""
        fresh = SessionView()
        self.__dict__.update(fresh.__dict__)
