"""The client's metrics: one more subscriber of each realtime session's events, kept as Prometheus series.

The app and the headless runner show a session; this keeps count of it. It
reads nothing but the published events (``audio/session/events.py``), so
what it reports is what the other front ends saw. Several sessions (one per
realtime node) share the series: counters add up, and
``voxflow_session_state`` counts sessions per state (one series per state,
all present from the start, so an alert can say ``== 0``).

Naming follows Prometheus': units in the name (seconds, decibels), counters
end in ``_total``, labels take a few values only (state, role, the reason
folded by :mod:`audio.metrics.reasons`, the flow's own tool names).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from audio.base.clock import Clock, SystemClock
from audio.base.pubsub import EventHub
from audio.metrics.reasons import reason_label
from audio.session.events import (
    AssistantAudio,
    LatencyBudget,
    Levels,
    RateLimitsUpdated,
    ResponseDone,
    ResponseStarted,
    SessionErrorEvent,
    SessionEvent,
    SessionState,
    SpeechStarted,
    SpeechStopped,
    StateChanged,
    ToolCallUpdated,
    TranscriptCleared,
    TranscriptEntry,
    TranscriptUpdated,
    TurnLatency,
)
from audio.session.transcript_order import TranscriptOrder

TURN_LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Seconds from the end of the user's speech to the first audible reply frame (a good turn is under ~1 s)."""

FINISHED_TOOL_STATUSES = ("done", "error", "refused", "cancelled")
RENEWED_PREFIX = "session renewed"
"""How a renewal's divider entry begins (``audio/session/renewal.py``); a reconnection's says ``reconnected``."""

SERVER_EVENTS = (TranscriptUpdated, SpeechStarted, SpeechStopped, ResponseStarted, ResponseDone, AssistantAudio,
                 RateLimitsUpdated, SessionErrorEvent)
"""Events that exist because the service said something (for ``voxflow_last_server_event_age_seconds``)."""

_ENDED_TURN_STATES = (SessionState.DISCONNECTED, SessionState.ERROR, SessionState.RECONNECTING, SessionState.RENEWING)


@dataclass
class _Track:
    """What the metrics remember of one session between its events."""

    node_id: str
    expect_reply: bool
    state: SessionState = SessionState.IDLE
    order: TranscriptOrder = field(default_factory=TranscriptOrder)
    entries: dict[str, TranscriptEntry] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)  # final turns already counted
    lost: set[str] = field(default_factory=set)  # user turns already counted as lost
    sent: float = 0.0  # this connection's figures so far (Levels): counters take the increase
    played: float = 0.0
    barge_ins: float = 0.0
    concealed: float = 0.0


class ClientMetrics:
    """Prometheus series of every session :meth:`attach`-ed; see the module docstring."""

    def __init__(self, registry: CollectorRegistry | None = None, clock: Clock | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock or SystemClock()
        self._tracks: dict[str, _Track] = {}
        self._last_server_event: float | None = None
        r = self.registry
        self.state = Gauge("voxflow_session_state", "Realtime sessions in each state (one series per state).", ["state"], registry=r)
        for state in SessionState:
            self.state.labels(state.value).set(0)
        self.connects = Counter("voxflow_session_connects", "Connections that reached the connected state.", registry=r)
        self.reconnects = Counter("voxflow_session_reconnects", "Reconnections begun after a drop, by reason.", ["reason"], registry=r)
        self.renewals = Counter("voxflow_session_renewals", "Sessions renewed before their cap (or on expiry), by reason.", ["reason"], registry=r)
        self.service_errors = Counter("voxflow_service_errors", "Error events from the Realtime service, by code.", ["code"], registry=r)
        self.turns = Counter("voxflow_turns", "Finished turns, by role (user, assistant).", ["role"], registry=r)
        for role in ("user", "assistant"):
            self.turns.labels(role)
        self.lost_turns = Counter("voxflow_lost_turns", "User turns left without a reply when their connection ended.", registry=r)
        self.turn_latency = Histogram("voxflow_turn_latency_seconds", "End of the user's speech to the first audible reply audio.",
                                      buckets=TURN_LATENCY_BUCKETS, registry=r)
        self.rtt = Gauge("voxflow_network_rtt_seconds", "Network round trip to the service (RTCP), last sample.", registry=r)
        self.jitter_buffer = Gauge("voxflow_jitter_buffer_seconds", "Audio held in the receive jitter buffer, last sample.", registry=r)
        self.jitter_target = Gauge("voxflow_jitter_target_seconds", "The jitter buffer's target delay, last sample.", registry=r)
        self.playout = Gauge("voxflow_playout_queue_seconds", "Reply audio queued to be heard, last sample.", registry=r)
        self.concealed = Counter("voxflow_concealed_frames", "Received audio frames concealed (lost or late).", registry=r)
        self.echo_removed = Gauge("voxflow_echo_removed_decibels", "Echo the canceller removes (ERLE), last estimate.", registry=r)
        self.barge_ins = Counter("voxflow_local_barge_ins", "Replies held because the microphone heard the person over them.", registry=r)
        self.tool_calls = Counter("voxflow_tool_calls", "Finished tool calls, by tool and outcome.", ["tool", "outcome"], registry=r)
        self.audio_sent = Counter("voxflow_audio_sent_seconds", "Seconds of microphone audio sent to the service.", registry=r)
        self.audio_played = Counter("voxflow_audio_played_seconds", "Seconds of reply audio received for playback.", registry=r)
        self.tokens = Counter("voxflow_tokens_used", "Tokens the service counted, by kind (input, output).", ["kind"], registry=r)
        for kind in ("input", "output"):
            self.tokens.labels(kind)
        self.last_event_age = Gauge("voxflow_last_server_event_age_seconds",
                                    "Seconds since any session last heard from the service (NaN before the first).", registry=r)
        self.last_event_age.set_function(self._last_event_age)
        for gauge in (self.rtt, self.jitter_buffer, self.jitter_target, self.playout, self.echo_removed):
            gauge.set(math.nan)

    # ------------------------------------------------------------------ subscribing
    def attach(self, node_id: str, events: EventHub[SessionEvent], *, expect_reply: bool = True) -> Callable[[], None]:
        """Follow one session's events (a new session of the same node replaces the old); returns the detach function."""
        old = self._tracks.get(node_id)
        if old is not None:
            self.state.labels(old.state.value).dec()
        track = self._tracks[node_id] = _Track(node_id, expect_reply)
        self.state.labels(track.state.value).inc()
        return events.add_callback(lambda event: self.observe(track, event))

    def observe(self, track: _Track, event: SessionEvent) -> None:
        if isinstance(event, SERVER_EVENTS):
            self._last_server_event = self.clock.monotonic()
        if isinstance(event, StateChanged):
            self._on_state(track, event)
        elif isinstance(event, TranscriptUpdated):
            self._on_transcript(track, event)
        elif isinstance(event, TranscriptCleared):
            track.order.clear()
            track.entries.clear()
        elif isinstance(event, TurnLatency):
            self.turn_latency.observe(event.seconds)
        elif isinstance(event, LatencyBudget):
            self._on_budget(track, event)
        elif isinstance(event, Levels):
            self._on_levels(track, event)
        elif isinstance(event, ToolCallUpdated) and event.status in FINISHED_TOOL_STATUSES:
            self.tool_calls.labels(event.call.name, event.status).inc()
        elif isinstance(event, ResponseDone):
            self.tokens.labels("input").inc(max(0, event.usage.input_tokens))
            self.tokens.labels("output").inc(max(0, event.usage.output_tokens))
        elif isinstance(event, SessionErrorEvent):
            self.service_errors.labels(event.code or "none").inc()

    # ------------------------------------------------------------------ events
    def _on_state(self, track: _Track, event: StateChanged) -> None:
        before, track.state = track.state, event.state
        self.state.labels(before.value).dec()
        self.state.labels(event.state.value).inc()
        if event.state is SessionState.CONNECTED:
            self._last_server_event = self.clock.monotonic()  # session.created came
            self.connects.inc()
        elif event.state is SessionState.CONNECTING:
            track.sent = track.played = 0.0  # a new connection counts from zero
            track.concealed = 0
        if event.state is SessionState.RECONNECTING and before is not SessionState.RECONNECTING:
            self.reconnects.labels(reason_label(event.reason)).inc()
        if before is SessionState.CONNECTED and event.state in _ENDED_TURN_STATES:
            self._count_lost_turn(track)

    def _on_transcript(self, track: _Track, event: TranscriptUpdated) -> None:
        entry = event.entry
        track.order.place(entry.item_id, event.index)
        track.entries[entry.item_id] = entry
        if not entry.final or entry.item_id in track.counted:
            return
        track.counted.add(entry.item_id)
        if entry.role in ("user", "assistant"):
            self.turns.labels(entry.role).inc()
        elif entry.role == "session" and entry.text.startswith(RENEWED_PREFIX):
            self.renewals.labels(reason_label(entry.text[len(RENEWED_PREFIX):])).inc()

    def _count_lost_turn(self, track: _Track) -> None:
        """The connection ended: its last user turn, if it got no reply, is lost (counted once)."""
        if not track.expect_reply:
            return
        ids = track.order.as_list()
        for position in range(len(ids) - 1, -1, -1):
            entry = track.entries[ids[position]]
            if entry.role == "assistant":
                return
            if entry.role == "user":
                if entry.item_id not in track.lost:
                    track.lost.add(entry.item_id)
                    self.lost_turns.inc()
                return

    def _on_budget(self, track: _Track, event: LatencyBudget) -> None:
        for gauge, value in ((self.rtt, event.network_rtt_ms), (self.jitter_buffer, event.jitter_buffer_ms),
                             (self.jitter_target, event.jitter_target_ms), (self.playout, event.playout_ms)):
            if value is not None:
                gauge.set(value / 1000.0)
        track.concealed = self._add_increase(self.concealed, track.concealed, event.concealed_frames)

    def _on_levels(self, track: _Track, event: Levels) -> None:
        if event.echo_removed_db is not None:
            self.echo_removed.set(event.echo_removed_db)
        track.sent = self._add_increase(self.audio_sent, track.sent, event.sent_seconds)
        track.played = self._add_increase(self.audio_played, track.played, event.played_seconds)
        track.barge_ins = self._add_increase(self.barge_ins, track.barge_ins, event.local_barge_ins)

    @staticmethod
    def _add_increase(counter: Counter, before: float, now: float) -> float:
        """Add what a running figure grew by (a smaller one started over: a new connection)."""
        increase = now - before if now >= before else now
        if increase > 0:
            counter.inc(increase)
        return now

    def _last_event_age(self) -> float:
        if self._last_server_event is None:
            return math.nan
        return max(0.0, self.clock.monotonic() - self._last_server_event)
