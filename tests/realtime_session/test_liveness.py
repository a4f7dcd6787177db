"""The link watch: a vanished peer is declared dead within 3 s, a live one never, whatever the network does.

The rule (``audio/transports/liveness.py``) runs here on simulated time
against the two kinds of peer a session meets: one that *streams* (RTP every
20 ms: the local server over WebRTC, and its RTCP) and one that is *quiet*
and only answers the watch's questions (any WebSocket service with nothing to
say, or a WebRTC service that pauses its media). Both go through the
seeded link model of ``audio/transports/impairment.py``: a 2 s outage is
ridden through by a streaming peer (the deadline is 2.5 s, docs/always-on.md
says why; a quiet one brings up to a second of silence into the cut), 20 %
loss for 10 s never drops the link, and a peer that dies is declared dead
2.5 s after its last packet. Then the same watch on real aiortc peers and real
sockets (marked slow), and the WebSocket's TCP facts: acknowledgments count
as hearing the peer, and a link that was losing segments gets TCP's backoff
(6.5 s) before it is declared dead.
"""

from __future__ import annotations

import asyncio
import heapq
import socket
import struct
import time
from dataclasses import dataclass, replace

import pytest
from aiortc import RTCPeerConnection

from audio.base.clock import FakeClock, SystemClock
from audio.transports.impairment import Impairment, impair_link
from audio.transports.liveness import DEADLINE, POLL, LinkLost, LinkWatch, Verdict, watch_link
from audio.transports.tcp_segments import (
    LOSSY_DEADLINE,
    LOSSY_MEMORY,
    LOSSY_RETRANSMISSIONS,
    DSACK_DUPS_OFFSET,
    LAST_ACK_RECV_OFFSET,
    LAST_DATA_RECV_OFFSET,
    SEGS_IN_OFFSET,
    TOTAL_RETRANS_OFFSET,
    TcpHearing,
    read_counts,
)
from audio.transports.webrtc import ask_peer, packets_received

REQUIRED = 3.0  # the requirement: a vanished peer is noticed within 3 s


# ---------------------------------------------------------------- the rule
def test_silence_asks_after_a_second_then_every_tenth_and_is_death_at_the_deadline() -> None:
    watch = LinkWatch()
    verdicts = [(round(t * POLL, 2), watch.tick(t * POLL)) for t in range(0, 60)]
    asked = [t for t, verdict in verdicts if verdict is Verdict.PROBE]
    assert asked == [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.3, 2.4]
    assert next(t for t, verdict in verdicts if verdict is Verdict.DEAD) == DEADLINE
    assert watch.unanswered == 15


def test_hearing_the_peer_starts_the_silence_over() -> None:
    watch = LinkWatch()
    for step in range(1, 200):  # ten seconds, heard every 2 s: never dead, asked once per quiet spell past a second
        if step % 40 == 0:
            watch.heard()
        assert watch.tick(step * POLL) is not Verdict.DEAD
    assert watch.silent < 2.0
    assert watch.unanswered <= 10


def test_a_stall_of_this_process_counts_as_half_a_second_of_silence() -> None:
    watch = LinkWatch()
    watch.tick(0.0)
    assert watch.tick(10.0) is Verdict.ALIVE  # our loop was stopped for 10 s: the peer's packets wait in our socket
    assert watch.silent == pytest.approx(0.5) and watch.stalls == 1
    watch.heard()  # they are read
    assert watch.tick(10.05) is Verdict.ALIVE and watch.silent == 0.0


# ---------------------------------------------------------------- on simulated time, through the link model
@dataclass(frozen=True)
class Peer:
    streams: bool  # RTP every 20 ms (and RTCP every second); otherwise it only answers questions
    rtt: float = 0.06


STREAMING, QUIET = Peer(streams=True), Peer(streams=False)
PEERS = pytest.mark.parametrize("peer", [STREAMING, QUIET], ids=["streaming", "quiet"])


def simulate(peer: Peer, link: Impairment, seconds: float, *, dies_at: float = float("inf")) -> tuple[float | None, LinkWatch]:
    """When (if) the watch declares the link dead; every packet each way goes through ``link``."""
    watch = LinkWatch()
    inbound = link.plan()
    outbound = replace(link, seed=link.seed + 7919).plan()
    arrivals: list[float] = []  # when something from the peer reaches us
    if peer.streams:
        t = 0.0
        while t < min(seconds, dies_at):
            if inbound.delay(t) is not None:
                heapq.heappush(arrivals, t + peer.rtt / 2)
            t += 0.02
    t = 0.0
    watch.tick(t)
    while t < seconds:
        t += POLL
        while arrivals and arrivals[0] <= t:
            heapq.heappop(arrivals)
            watch.heard()
        verdict = watch.tick(t)
        if verdict is Verdict.DEAD:
            return t, watch
        if verdict is Verdict.PROBE:  # the question reaches the peer, which answers if it is still there
            at_peer = t + peer.rtt / 2
            if at_peer < dies_at and outbound.delay(t) is not None and inbound.delay(at_peer) is not None:
                heapq.heappush(arrivals, t + peer.rtt)
    return None, watch


@PEERS
def test_a_peer_that_vanishes_is_declared_dead_within_3_s(peer: Peer) -> None:
    for seed in range(20):
        dies_at = 30.0 + seed * 0.037  # every phase against the polls and the questions
        dead_at, watch = simulate(peer, Impairment(seed=seed), 60.0, dies_at=dies_at)
        assert dead_at is not None
        assert DEADLINE - 1.1 <= dead_at - dies_at < REQUIRED - 0.3, (seed, dead_at - dies_at)


def test_a_two_second_outage_is_ridden_through_by_a_streaming_peer() -> None:
    """The WebRTC case: the service's audio resumes the moment the network does (silence 2.0 s < 2.5 s)."""
    for seed in range(50):
        start = 10.0 + seed * 0.029  # every phase against the polls
        dead_at, _ = simulate(STREAMING, Impairment(seed=seed, outages=((start, start + 2.0),)), 20.0)
        assert dead_at is None, seed


def test_a_quiet_peer_rides_through_a_one_second_outage_and_a_two_second_one_only_just_after_an_answer() -> None:
    """A peer heard only through its answers (once a second) brings up to a second of silence into the cut."""
    for seed in range(50):
        start = 10.0 + seed * 0.029
        dead_at, _ = simulate(QUIET, Impairment(seed=seed, outages=((start, start + 1.0),)), 20.0)
        assert dead_at is None, seed
    outcomes = set()
    for seed in range(50):
        start = 10.0 + seed * 0.029
        dead_at, _ = simulate(QUIET, Impairment(seed=seed, outages=((start, start + 2.0),)), 20.0)
        outcomes.add(dead_at is None)
        if dead_at is not None:
            assert start + DEADLINE - 1.2 <= dead_at < start + 2.0 + 0.3  # within the cut, or as it ends
    assert outcomes == {True, False}  # which one depends on when the cut begins


@PEERS
def test_an_outage_longer_than_the_deadline_is_a_dead_link(peer: Peer) -> None:
    dead_at, _ = simulate(peer, Impairment(outages=((10.0, 13.5),)), 20.0)
    assert dead_at is not None and 10.0 + DEADLINE - 1.1 <= dead_at < 10.0 + REQUIRED


@PEERS
def test_twenty_percent_loss_for_ten_seconds_is_no_drop(peer: Peer) -> None:
    for seed in range(200):
        dead_at, watch = simulate(peer, Impairment(loss=0.2, seed=seed), 10.0)
        assert dead_at is None, seed


def test_a_quiet_peer_for_ten_minutes_is_asked_about_once_a_second_and_never_dropped() -> None:
    dead_at, watch = simulate(QUIET, Impairment(), 600.0)
    assert dead_at is None
    assert 500 <= watch.probes <= 600  # a question per quiet second, each answered at once


def test_a_streaming_peer_is_never_asked() -> None:
    dead_at, watch = simulate(STREAMING, Impairment(loss=0.05, seed=3), 120.0)
    assert dead_at is None and watch.probes == 0


# ---------------------------------------------------------------- the runner, on a fake clock
async def test_the_runner_reads_the_count_asks_and_reports_once() -> None:
    clock = FakeClock()
    count = 0
    asked: list[float] = []
    found: list[LinkLost] = []
    answering = True

    async def read() -> int:
        return count

    async def probe() -> None:
        asked.append(clock.monotonic())
        if answering:
            nonlocal count
            count += 1  # the answer arrives

    task = asyncio.get_running_loop().create_task(
        watch_link(LinkWatch(), clock=clock, signal="no answer", probe=probe, lost=found.append, count=read)
    )
    await clock.advance(0)
    for _ in range(200):  # ten seconds of a quiet, answering peer
        await clock.advance(POLL)
    assert not found and 8 <= len(asked) <= 10
    answering = False
    dead_from = clock.monotonic()
    while not task.done():
        await clock.advance(POLL)
        assert clock.monotonic() - dead_from < REQUIRED
    assert len(found) == 1 and found[0].signal == "no answer" and found[0].unanswered == 15
    assert found[0].reason.startswith("the link to the service is dead: no answer for 2.5 s")


async def test_a_count_that_cannot_be_read_is_nothing_heard() -> None:
    clock = FakeClock()
    found: list[LinkLost] = []

    async def broken() -> int:
        raise ConnectionError("closing")

    async def probe() -> None:
        raise ConnectionError("closing")  # a failing question is an unanswered one

    task = asyncio.get_running_loop().create_task(
        watch_link(LinkWatch(), clock=clock, signal="x", probe=probe, lost=found.append, count=broken)
    )
    while not task.done():
        await clock.advance(POLL)
        assert clock.monotonic() < REQUIRED
    assert len(found) == 1


# ---------------------------------------------------------------- real aiortc peers (real time)
async def quiet_pair() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """Two aiortc peers with the event channel open and no media either way: nothing flows unless asked."""
    caller, callee = RTCPeerConnection(), RTCPeerConnection()
    channel = caller.createDataChannel("oai-events")
    caller.addTransceiver("audio", direction="recvonly")
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription)
    await asyncio.wait_for(opened.wait(), 20)
    return caller, callee


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_quiet_webrtc_peer_answers_heartbeats_rides_through_a_cut_and_dies_within_3_s() -> None:
    """No media at all: only the SCTP heartbeats' answers keep the link alive (a service that pauses its audio)."""
    caller, callee = await quiet_pair()
    clock = SystemClock()
    try:
        before = await packets_received(caller)
        await ask_peer(caller)
        await ask_peer(caller)
        deadline = clock.monotonic() + 5
        while await packets_received(caller) < before + 2:  # both answered, through the count the watch reads
            assert clock.monotonic() < deadline, "the heartbeats were not answered"
            await asyncio.sleep(0.02)
        # a 1 s cut from 3 s, then the link for good from 8 s
        inbound, _ = impair_link(caller, Impairment(outages=((3.0, 4.0), (8.0, 1e9))))
        started = clock.monotonic()
        watch = LinkWatch()
        found: list[LinkLost] = []
        await asyncio.wait_for(watch_link(watch, clock=clock, signal="no heartbeat answer", probe=lambda: ask_peer(caller),
                                          lost=found.append, count=lambda: packets_received(caller)), 30)
        dead_after = clock.monotonic() - started - 8.0
        assert len(found) == 1
        assert 0 < dead_after < REQUIRED, f"declared dead {dead_after:.2f} s after the cut"  # not at the 1 s outage
        assert watch.probes >= 5 and inbound.passed >= 3  # the quiet spells were answered questions
    finally:
        await caller.close()
        await callee.close()


# ---------------------------------------------------------------- TCP, as the kernel reports it
class KernelSocket:
    """``getsockopt(TCP_INFO)`` with the facts the WebSocket watch reads, set by the test."""

    def __init__(self) -> None:
        self.segments_in = 0
        self.retransmitted = 0
        self.heard_ago = 0.0  # seconds since the last segment arrived
        self.data_ago = 60.0  # seconds since the last data segment (a quiet peer: acknowledgments only)
        self.duplicates = 0  # retransmissions the peer reported as duplicates (D-SACK)

    def getsockopt(self, level: int, option: int, size: int) -> bytes:
        info = bytearray(size)
        struct.pack_into("=I", info, TOTAL_RETRANS_OFFSET, self.retransmitted)
        struct.pack_into("=I", info, SEGS_IN_OFFSET, self.segments_in)
        struct.pack_into("=I", info, LAST_ACK_RECV_OFFSET, round(self.heard_ago * 1000))
        struct.pack_into("=I", info, LAST_DATA_RECV_OFFSET, round(self.data_ago * 1000))
        if size >= DSACK_DUPS_OFFSET + 4:
            struct.pack_into("=I", info, DSACK_DUPS_OFFSET, self.duplicates)
        return bytes(info)


def test_the_kernel_counts_acknowledgments_as_segments_received() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    try:
        before = read_counts(client)
        assert before is not None and before.segments_in == 1  # the SYN-ACK (segments out: the SYN and its ACK)
        client.sendall(b"audio")  # the peer's kernel acknowledges it; its process sends nothing
        deadline = time.monotonic() + 5
        while (now := read_counts(client)) is not None and now.segments_in == before.segments_in:
            assert time.monotonic() < deadline, "no acknowledgment counted"
            time.sleep(0.01)
        assert now is not None and now.retransmitted == before.retransmitted == 0
    finally:
        for s in (client, peer, server):
            s.close()
    assert read_counts(client) is None  # closed: the watch keeps its last count


def test_the_kernel_says_how_long_ago_the_peer_was_heard() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    try:
        peer.sendall(b"hello")
        assert client.recv(5) == b"hello"
        time.sleep(0.3)  # a positive assertion on the kernel's clock: nothing arrives meanwhile
        counts = read_counts(client)
        assert counts is not None and 0.25 <= counts.heard_ago < 5.0, counts
    finally:
        for s in (client, peer, server):
            s.close()


async def test_a_late_poll_after_a_cut_is_not_taken_for_a_lossy_link() -> None:
    """A loaded machine polls late: one poll sees the last segments from before a cut and the cut's first
    retransmissions together. The kernel says when the segments came; the retransmissions are after them."""
    clock = FakeClock()
    sock = KernelSocket()
    hearing = TcpHearing(sock, clock)
    watch = LinkWatch(patience=hearing.patience)
    await hearing.count()
    watch.tick(clock.monotonic())
    await clock.advance(POLL)
    sock.segments_in += 2  # acknowledgments of our audio; the cut starts right after them
    await clock.advance(0.7)  # our process was stalled: the next poll comes 0.75 s after the previous one
    sock.heard_ago = 0.7
    sock.retransmitted += LOSSY_RETRANSMISSIONS  # a tail-loss probe, then RTOs after 0.2 and 0.6 s
    await hearing.count()
    watch.heard()
    watch.tick(clock.monotonic())
    assert not hearing.lossy and hearing.patience() == 0.0
    while watch.tick(clock.monotonic()) is not Verdict.DEAD:  # the cut goes on
        await clock.advance(POLL)
        sock.heard_ago += POLL
        sock.retransmitted += 1
        await hearing.count()
        assert watch.silent < REQUIRED, "a cut on a clean link was given the lossy link's patience"


async def test_retransmissions_the_peer_reports_as_duplicates_are_no_loss() -> None:
    """A loaded machine's TCP retransmits segments whose acknowledgment was merely late (seen on loopback: one
    every second or so, each reported back as a duplicate); that is no lossy link, and a cut after it is noticed
    at the usual deadline."""
    clock = FakeClock()
    sock = KernelSocket()
    hearing = TcpHearing(sock, clock)
    await hearing.count()
    for _ in range(LOSSY_RETRANSMISSIONS + 2):
        await clock.advance(0.5)
        sock.retransmitted += 1  # a tail-loss probe...
        await hearing.count()
        await clock.advance(POLL)
        sock.segments_in += 2
        sock.duplicates += 1  # ...whose original had arrived: the peer says so
        await hearing.count()
    assert not hearing.lossy and hearing.patience() == 0.0
    sock.retransmitted += LOSSY_RETRANSMISSIONS  # real loss: nothing reported back as a duplicate
    await clock.advance(POLL)
    await hearing.count()
    await clock.advance(POLL)
    sock.segments_in += 1
    await hearing.count()
    assert hearing.lossy


async def test_a_link_losing_segments_when_last_heard_gets_the_longer_deadline() -> None:
    clock = FakeClock()
    sock = KernelSocket()
    hearing = TcpHearing(sock, clock)
    watch = LinkWatch(patience=hearing.patience)

    async def poll_until_dead(limit: float) -> float:
        start = clock.monotonic()
        watch.heard()
        watch.tick(start)
        while watch.tick(clock.monotonic()) is not Verdict.DEAD:
            await clock.advance(POLL)
            await hearing.count()
            assert clock.monotonic() - start < limit
        return clock.monotonic() - start

    await hearing.count()
    sock.segments_in += 10
    await hearing.count()
    sock.retransmitted += 1  # a cut on a clean link: the retransmissions come after the last segment heard
    assert not hearing.lossy
    assert await poll_until_dead(REQUIRED) == pytest.approx(DEADLINE, abs=POLL)

    await clock.advance(1.0)
    sock.retransmitted += 1  # one retransmission (a tail-loss probe) is no sign of a lossy link
    await hearing.count()
    sock.segments_in += 3
    await hearing.count()
    assert not hearing.lossy
    sock.retransmitted += LOSSY_RETRANSMISSIONS  # a lossy link: retransmissions, then the peer heard, then nothing
    await clock.advance(1.0)
    await hearing.count()
    sock.segments_in += 3
    await hearing.count()
    assert hearing.lossy
    assert await poll_until_dead(LOSSY_DEADLINE + 1) == pytest.approx(LOSSY_DEADLINE, abs=POLL)

    await clock.advance(LOSSY_MEMORY + 0.5)  # heard again long after the last retransmission: clean again
    sock.segments_in += 1
    await hearing.count()
    assert not hearing.lossy and hearing.patience() == 0.0
