"""The client metrics follow a session's published events: turns, lost turns, switches, audio, tools, tokens."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from audio.base.clock import FakeClock
from audio.base.pubsub import EventHub
from audio.metrics.address import parse_address
from audio.metrics.client import ClientMetrics
from audio.metrics.reasons import REASON_LABELS, reason_label
from audio.base.errors import VoxflowError
from audio.session.events import (
    LatencyBudget,
    Levels,
    ResponseDone,
    SessionEvent,
    SessionState,
    SpeechStarted,
    StateChanged,
    ToolCallInfo,
    ToolCallUpdated,
    TranscriptEntry,
    TranscriptUpdated,
    TurnLatency,
    Usage,
)


def value(metrics: ClientMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    assert found is not None, f"no sample {name}{labels}"
    return found


def entry(item: str, role: str, text: str = "hi", final: bool = True) -> TranscriptEntry:
    return TranscriptEntry(item, role, text, final, 1.0)  # type: ignore[arg-type]


@pytest.fixture
def setup() -> tuple[ClientMetrics, EventHub[SessionEvent], FakeClock]:
    clock = FakeClock()
    metrics = ClientMetrics(CollectorRegistry(), clock)
    hub: EventHub[SessionEvent] = EventHub()
    metrics.attach("talk", hub)
    return metrics, hub, clock


def test_state_gauge_counts_sessions_per_state(setup) -> None:
    metrics, hub, _ = setup
    assert value(metrics, "voxflow_session_state", state="idle") == 1
    for state in (SessionState.CONNECTING, SessionState.CONNECTED):
        hub.publish(StateChanged(state))
    assert value(metrics, "voxflow_session_state", state="connected") == 1
    assert sum(value(metrics, "voxflow_session_state", state=s.value) for s in SessionState) == 1
    assert value(metrics, "voxflow_session_connects_total") == 1


def test_turns_count_once_each_when_final_and_a_reply_lost_to_a_drop_counts(setup) -> None:
    metrics, hub, _ = setup
    hub.publish(StateChanged(SessionState.CONNECTED))
    hub.publish(TranscriptUpdated(entry("u1", "user", final=False), 0))
    hub.publish(TranscriptUpdated(entry("u1", "user"), 0))
    hub.publish(TranscriptUpdated(entry("u1", "user"), 0))  # the same final turn again: not counted twice
    hub.publish(TranscriptUpdated(entry("a1", "assistant"), 1))
    hub.publish(TranscriptUpdated(entry("u2", "user"), 2))
    assert value(metrics, "voxflow_turns_total", role="user") == 2
    assert value(metrics, "voxflow_turns_total", role="assistant") == 1
    assert value(metrics, "voxflow_lost_turns_total") == 0
    hub.publish(StateChanged(SessionState.RECONNECTING, "attempt 1: the service closed the event channel"))
    assert value(metrics, "voxflow_lost_turns_total") == 1
    assert value(metrics, "voxflow_session_reconnects_total", reason="channel_closed") == 1
    hub.publish(StateChanged(SessionState.RECONNECTING, "attempt 2: could not reach the Realtime service"))
    assert value(metrics, "voxflow_session_reconnects_total", reason="channel_closed") == 1  # one episode
    hub.publish(StateChanged(SessionState.CONNECTED))
    hub.publish(StateChanged(SessionState.DISCONNECTED, "disconnected"))
    assert value(metrics, "voxflow_lost_turns_total") == 1  # the same lost turn is counted once


def test_an_answered_turn_is_not_lost_and_a_renewal_is_counted_by_reason(setup) -> None:
    metrics, hub, _ = setup
    hub.publish(StateChanged(SessionState.CONNECTED))
    hub.publish(TranscriptUpdated(entry("a1", "assistant"), 0))  # the reply landed first
    hub.publish(TranscriptUpdated(entry("u1", "user"), 0))  # its user turn sits before it
    hub.publish(TranscriptUpdated(entry("switch_1", "session", "session renewed (renewing before the 360 s cap); 2 turn(s) carried over"), 2))
    hub.publish(StateChanged(SessionState.DISCONNECTED))
    assert value(metrics, "voxflow_lost_turns_total") == 0
    assert value(metrics, "voxflow_session_renewals_total", reason="cap") == 1


def test_latency_budget_levels_tools_and_tokens(setup) -> None:
    metrics, hub, _ = setup
    hub.publish(TurnLatency(0.8))
    hub.publish(TurnLatency(1.6))
    assert value(metrics, "voxflow_turn_latency_seconds_count") == 2
    assert value(metrics, "voxflow_turn_latency_seconds_bucket", le="1.0") == 1
    hub.publish(LatencyBudget(network_rtt_ms=40.0, jitter_buffer_ms=60.0, jitter_target_ms=50.0, playout_ms=120.0, concealed_frames=3))
    hub.publish(LatencyBudget(network_rtt_ms=42.0, concealed_frames=5))
    assert value(metrics, "voxflow_network_rtt_seconds") == pytest.approx(0.042)
    assert value(metrics, "voxflow_jitter_buffer_seconds") == pytest.approx(0.06)
    assert value(metrics, "voxflow_concealed_frames_total") == 5
    hub.publish(Levels(-20, -10, -20, -10, "aec", 31.5, sent_seconds=1.0, played_seconds=0.5, local_barge_ins=1))
    hub.publish(Levels(-20, -10, -20, -10, "aec", 30.0, sent_seconds=3.0, played_seconds=2.0, local_barge_ins=2))
    hub.publish(StateChanged(SessionState.CONNECTING))  # a new connection: its figures start from zero
    hub.publish(Levels(-20, -10, -20, -10, sent_seconds=0.5, played_seconds=0.25, local_barge_ins=2))
    assert value(metrics, "voxflow_audio_sent_seconds_total") == pytest.approx(3.5)
    assert value(metrics, "voxflow_audio_played_seconds_total") == pytest.approx(2.25)
    assert value(metrics, "voxflow_local_barge_ins_total") == 2
    assert value(metrics, "voxflow_echo_removed_decibels") == 30.0
    call = ToolCallInfo("c1", "get_weather", "{}", "running")
    hub.publish(ToolCallUpdated(call))
    hub.publish(ToolCallUpdated(ToolCallInfo("c1", "get_weather", "{}", "done", 0.2)))
    assert value(metrics, "voxflow_tool_calls_total", tool="get_weather", outcome="done") == 1
    hub.publish(ResponseDone("r1", "completed", Usage(10, 20, 30)))
    assert value(metrics, "voxflow_tokens_used_total", kind="output") == 20


def test_age_of_the_last_server_event_follows_the_clock(setup) -> None:
    metrics, hub, clock = setup
    assert math.isnan(value(metrics, "voxflow_last_server_event_age_seconds"))
    hub.publish(SpeechStarted("u1"))
    clock._now += 7.5  # FakeClock.advance needs a loop; the gauge only reads monotonic()
    assert value(metrics, "voxflow_last_server_event_age_seconds") == pytest.approx(7.5)
    hub.publish(TurnLatency(1.0))  # measured here, not heard from the service
    assert value(metrics, "voxflow_last_server_event_age_seconds") == pytest.approx(7.5)


@pytest.mark.parametrize(("reason", "label"), [
    ("attempt 3: could not reach the Realtime service at 127.0.0.1 (ConnectError)", "unreachable"),
    ("ICE connection failed (no network path to the service)", "ice_failed"),
    ("maximum session duration reached: the service ended the session (session_expired)", "expired"),
    ("renewing before the 3600 s cap", "cap"),
    ("no answer from the Realtime service within 15 s", "timeout"),
    ("the Realtime service refused the call (401): bad key", "refused"),
    ("something nobody foresaw", "other"),
])
def test_reasons_fold_into_a_few_labels(reason: str, label: str) -> None:
    assert reason_label(reason) == label and label in REASON_LABELS


@pytest.mark.parametrize(("text", "host", "port"), [("9464", "127.0.0.1", 9464), (":0", "127.0.0.1", 0),
                                                     ("0.0.0.0:9100", "0.0.0.0", 9100), ("[::1]:9464", "::1", 9464)])
def test_addresses(text: str, host: str, port: int) -> None:
    address = parse_address(text)
    assert (address.host, address.port) == (host, port)


@pytest.mark.parametrize("text", ["host:", "x:99999", "[::1]9464", "nine"])
def test_bad_addresses_say_how(text: str) -> None:
    with pytest.raises(VoxflowError, match="HOST:PORT"):
        parse_address(text)
