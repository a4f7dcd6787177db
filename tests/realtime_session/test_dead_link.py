"""A server that vanishes is noticed within 3 s, over both transports (issue #26: it took 28 s); a live one never.

``voxflow serve-realtime`` runs in a subprocess and is killed (SIGKILL: the
process is gone, its kernel closes its TCP connections but UDP says nothing)
or frozen (SIGSTOP: nothing arrives over UDP and nothing is closed). A cut
network is made with real packet drops where the machine allows it
(``kernel_faults.py``). The session, with ``renew`` on, must switch to
``reconnecting`` at once, naming the signal that fired. The time is measured
on the session's clock from the signal to the state change; 3 s is the
requirement, and the detection itself takes at most 2.5 s plus two polls.
Then the other side: a real WebRTC link cut for 2 s and lossy for 10 s
(``impair_link``, user-space), and quiet links with a muted microphone, stay
the same call.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from audio.base.registry import AudioRegistry
from audio.io.sources import SilenceSource
from audio.session.events import SessionState, StateChanged
from audio.server import LocalRealtimeServer
from audio.session.session import RealtimeSession
from audio.transports.impairment import Impairment, impair_link
from audio.transports.liveness import DEADLINE
from audio.transports.secrets import DirectSecretProvider
from audio.transports.transport import AudioPaths, TransportCallbacks
from audio.transports.webrtc import WebRtcTransport, packets_received
from audio.transports.websocket import WebSocketTransport
from audio.wire.config import SessionConfig
from tests.realtime_server.serve_process import serve_realtime
from tests.realtime_session import kernel_faults
from tests.realtime_session.conftest import WAIT, EventLog, assert_released

REQUIRED = 3.0
HUNG = 5.0 + 10.0 + 2.0  # the WebSocket keepalive: a ping every 5 s, its pong within 10 s, and a margin

REASONS = {
    ("webrtc", "kill"): ("the link to the service is dead: no RTP, RTCP or SCTP heartbeat answer",),
    ("webrtc", "stop"): ("the link to the service is dead: no RTP, RTCP or SCTP heartbeat answer",),
    ("websocket", "kill"): ("the connection to the service dropped (TCP closed without a WebSocket close frame",),
    # the frozen server's kernel acknowledges until its receive buffer is full (about a second of our audio); then
    # our kernel's zero-window probes back off and may leave 2.5 s without a segment, or the keepalive goes first
    ("websocket", "stop"): ("the service stopped answering (no pong within 10 s)",
                            "the link to the service is dead: no message, pong or TCP segment"),
}
LIMITS = {("websocket", "stop"): HUNG}


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["kill", "stop"])
@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_a_vanished_server_is_noticed_within_3_s(transport: str, how: str, registry: AudioRegistry) -> None:
    """Killed: within 3 s on both. Frozen: within 3 s over WebRTC (nothing arrives, as on a cut network); over
    WebSocket its kernel still acknowledges TCP segments for a while, so a hung service may be the keepalive's (15 s)."""
    with serve_realtime("--no-speech") as served:
        session = RealtimeSession(
            SessionConfig.build(base_url=served.base_url, transport=transport, renew=True),
            secret_provider=DirectSecretProvider("sk-test-key", base_url=served.base_url),
            registry=registry, input_source=SilenceSource(48_000, 1),
        )
        log = EventLog()
        noticed: list[float] = []  # session clock at each switch to ``reconnecting``
        session.events.add_callback(
            lambda e: noticed.append(session.clock.monotonic())
            if isinstance(e, StateChanged) and e.state is SessionState.RECONNECTING else None
        )
        session.events.add_callback(log)
        try:
            await asyncio.wait_for(session.connect(), WAIT)
            await asyncio.sleep(0.5)  # the link in its steady state (not a wait before a negative assertion)
            vanished = session.clock.monotonic()
            os.kill(served.process.pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            change = await log.wait_for(StateChanged, lambda e: e.state is SessionState.RECONNECTING, timeout=HUNG + 5)
            took = noticed[0] - vanished
            assert change.reason.startswith(REASONS[transport, how]), change.reason  # str.startswith takes a tuple
            assert took < LIMITS.get((transport, how), REQUIRED), f"noticed after {took:.2f} s"
        finally:
            await session.disconnect()
            served.process.kill()  # a stopped process too
        await assert_released(session, registry)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_cut_network_is_noticed_within_3_s_and_webrtc_rides_through_a_2_s_cut() -> None:
    """Real packets dropped by the kernel (nftables, in a private network namespace): TCP as it really behaves.

    One round per claim, in one namespace: a 2 s cut of WebRTC's packets is ridden through, then a 6 s cut of
    everything is noticed by both links' watches at the 2.5 s deadline. The watch counts only time this process
    ran (a loaded machine's stalls are discounted), so the claim checked here is the rule: the silence counted
    when the link was declared dead is the deadline's, not the 6.5 s a lossy TCP link gets (on a loaded
    machine loopback TCP retransmits spuriously, issue 24). The wall-clock times are bench_link_faults' figures.
    """
    unavailable = kernel_faults.available()
    if unavailable is not None:
        pytest.skip(f"real network faults: {unavailable}")
    ride, cut = kernel_faults.run_steps([kernel_faults.Step("cut", 2.0, ("webrtc",)), kernel_faults.Step("cut", 6.0)],
                                        timeout=140)
    for result in ride:
        assert result["settled"] and not result["reconnected"] and result["longest_silence"] < DEADLINE, result
    assert {result["transport"] for result in cut} == {"webrtc", "websocket"}
    for result in cut:
        assert result["reconnected"], result
        assert result["reason"].startswith("the link to the service is dead: "), result
        assert result["longest_silence"] < REQUIRED, result  # the deadline (and at most one stall step), not 6.5 s
        assert result["noticed_after"] < result["seconds"], result  # while the network was still cut


# ---------------------------------------------------------------- a bad network that recovers (user-space fault injection)
async def until(predicate: Callable[[], object], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


def webrtc_session(server: LocalRealtimeServer, registry: AudioRegistry, **config: Any) -> tuple[RealtimeSession, list[WebRtcTransport]]:
    opened: list[WebRtcTransport] = []

    def factory(callbacks: TransportCallbacks) -> WebRtcTransport:
        opened.append(WebRtcTransport(server.base_url, callbacks))
        return opened[-1]

    session = RealtimeSession(
        SessionConfig.build(base_url=server.base_url, renew=True, **config),
        secret_provider=DirectSecretProvider("sk-test-key", base_url=server.base_url),
        registry=registry, input_source=SilenceSource(48_000, 1), transport_factory=factory,
    )
    return session, opened


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_webrtc_rides_through_a_2_s_cut_and_10_s_of_20_percent_loss(start_server, registry: AudioRegistry) -> None:
    """Both ways, every datagram (RTP, RTCP, SCTP): a 2 s cut, then 20 % loss for 10 s; the call stays the same one."""
    server = await start_server()
    session, opened = webrtc_session(server, registry)
    await asyncio.wait_for(session.connect(), WAIT)
    call, transport = session.call_id, opened[0]
    assert transport.pc is not None and transport.watch is not None
    try:
        cut, _ = impair_link(transport.pc, Impairment(outages=((0.5, 2.5),)))
        # the server streams 50 packets a second: 2 s of them lost, then 2 s through again (or the link dropped)
        await until(lambda: session.renewal.count or (cut.dropped >= 90 and cut.passed >= 120), "the cut did not pass")
        assert session.renewal.count == 0 and session.call_id == call, session.reason
        assert 1.0 < transport.watch.longest < 2.5  # the cut was seen (less if this process stalled), and was not the end
        lossy, _ = impair_link(transport.pc, Impairment(loss=0.2, seed=26))
        await until(lambda: session.renewal.count or lossy.passed + lossy.dropped >= 520, "10 s of loss did not pass")
        assert session.renewal.count == 0 and session.connected and session.call_id == call, session.reason
        assert lossy.dropped >= 60
    finally:
        await session.disconnect()
    await assert_released(session, registry)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_a_quiet_link_with_a_muted_microphone_stays_up(start_server, make_session, registry: AudioRegistry,
                                                             transport: str) -> None:
    """No reply, the microphone muted: the link is still heard without asking (WebRTC: the server's stream of
    silence; WebSocket: the kernel's acknowledgments of the muted track's silent appends)."""
    server = await start_server()
    session, log = make_session(server, source=SilenceSource(48_000, 1), transport=transport, renew=True,
                                vad={"type": "disabled"})
    await asyncio.wait_for(session.connect(), WAIT)
    session.mute()
    link = session._transport
    watch = link.watch
    heard = (lambda: packets_received(link.pc)) if transport == "webrtc" else link._tcp_count()
    assert heard is not None
    try:
        first = await heard()
        deadline = asyncio.get_running_loop().time() + WAIT
        while session.renewal.count == 0 and await heard() < first + 150:  # 3 s or more of a live, quiet link
            assert asyncio.get_running_loop().time() < deadline, "the link was not heard"
            await asyncio.sleep(0.05)
        assert session.renewal.count == 0 and session.connected, session.reason
        assert watch.probes == 0 and watch.longest < 1.0
    finally:
        await session.disconnect()
    await assert_released(session, registry)


class Discard:
    """A playback sink that drops what it gets."""

    sample_rate, channels = 24_000, 1

    def write(self, frame: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_websocket_with_nothing_to_send_is_pinged_and_stays_up(start_server) -> None:
    """A connection with no microphone (one opened ahead of a handover) and a quiet service: nothing flows either
    way unless the watch asks, so it asks about once a second, and each question is answered."""
    server = await start_server()
    ended: list[str] = []
    transport = WebSocketTransport(server.base_url, "gpt-realtime", TransportCallbacks(
        on_message=lambda message: None, on_state=lambda link, channel: None,
        on_closed=lambda reason, error: ended.append(reason)))
    config = SessionConfig.build(base_url=server.base_url)
    secret = await DirectSecretProvider("sk-test-key", base_url=server.base_url).mint(config)
    await asyncio.wait_for(transport.open(secret, AudioPaths(send=None, receive=Discard(), receive_rate=24_000,
                                                             receive_channels=1)), WAIT)
    try:
        await until(lambda: ended or transport.watch.probes >= 4, "the quiet link was not asked")
        assert not ended, ended
        assert transport.watch.unanswered <= 1 and transport.watch.longest < 1.5
    finally:
        await transport.close()
