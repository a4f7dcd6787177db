"""The adaptive jitter buffer, fed packet timelines on simulated time (no sleeping, no sockets)."""

from __future__ import annotations

from audio.impairment import Impairment, replay
from audio.jitter import AdaptiveJitterBuffer, Conceal, Play

FRAME = 0.02


def feed(buffer: AdaptiveJitterBuffer, timeline: list[tuple[float, int]]) -> list[Play | Conceal]:
    """Push (arrival, index) packets in arrival order, popping at every deadline in between."""
    out: list[Play | Conceal] = []
    for arrival, i in sorted(timeline):
        while (deadline := buffer.next_deadline()) is not None and deadline < arrival:  # arrivals first on ties
            out += buffer.pop(deadline)
        buffer.push(i % 65536, (i * 960) % (1 << 32), bytes([i % 256]), arrival)
    while buffer.buffered:
        deadline = buffer.next_deadline()
        assert deadline is not None
        out += buffer.pop(deadline)
    return out


def played_indices(out: list[Play | Conceal]) -> list[int]:
    return [item.packet.seq for item in out if isinstance(item, Play)]


def test_clean_link_holds_exactly_one_frame_and_never_underruns() -> None:
    buffer = AdaptiveJitterBuffer()
    out = feed(buffer, [(i * FRAME + 0.005, i) for i in range(500)])
    assert played_indices(out) == list(range(500))
    assert buffer.stats.concealed == 0
    assert buffer.stats.target_ms == 20.0
    assert max(buffer.stats.waits_ms) == 20.0 and min(buffer.stats.waits_ms) == 20.0


def test_a_single_loss_is_concealed_once_and_leaves_no_inflation() -> None:
    buffer = AdaptiveJitterBuffer()
    out = feed(buffer, [(i * FRAME, i) for i in range(200) if i != 50])
    conceals = [item for item in out if isinstance(item, Conceal)]
    assert len(conceals) == 1 and conceals[0].seq == 50
    assert conceals[0].fec_from is not None and conceals[0].fec_from.seq == 51  # the next packet is there: FEC
    assert buffer.stats.concealed == 1 and buffer.stats.late == 0
    assert list(buffer.stats.waits_ms)[60:] == [20.0] * 139  # right back at one frame


def test_reordered_packets_play_in_order_without_concealment() -> None:
    timeline = [(i * FRAME, i) for i in range(100)]
    timeline[41] = (41 * FRAME - 0.01, 41)  # 41 comes early, 40 late (both within 40's deadline)
    timeline[40] = (41 * FRAME - 0.005, 40)
    buffer = AdaptiveJitterBuffer()
    out = feed(buffer, timeline)
    assert played_indices(out) == list(range(100))
    assert buffer.stats.concealed == 0


def test_sequence_numbers_wrap() -> None:
    buffer = AdaptiveJitterBuffer()
    out = feed(buffer, [(i * FRAME, 65500 + i) for i in range(100)])
    assert len(played_indices(out)) == 100 and buffer.stats.concealed == 0
    assert played_indices(out) == sorted(played_indices(out))


def test_duplicates_and_late_packets_are_counted_not_played() -> None:
    buffer = AdaptiveJitterBuffer()
    timeline = [(i * FRAME, i) for i in range(50)] + [(10 * FRAME + 0.001, 10), (30 * FRAME, 20)]
    out = feed(buffer, timeline)
    assert played_indices(out) == list(range(50))
    assert buffer.stats.duplicates == 1 and buffer.stats.late == 1


def test_jitter_grows_the_target_and_a_burst_shrinks_back() -> None:
    buffer = AdaptiveJitterBuffer()
    timeline = [(i * FRAME, i) for i in range(100)]
    # a 200 ms stall: packets 100..109 all arrive together at 2.2 s, then the link is clean again
    timeline += [(2.2 + 0.0001 * k, 100 + k) for k in range(10)]
    timeline += [(i * FRAME, i) for i in range(111, 800)]
    feed(buffer, [(t, i) for t, i in timeline])
    waits = list(buffer.stats.waits_ms)
    assert max(waits) > 100  # it grew for the burst
    assert buffer.stats.skipped > 0  # and skipped frames to come back down
    assert waits[-100:] == [20.0] * 100 or max(waits[-100:]) <= 20.0 + 1e-6
    assert buffer.stats.target_ms == 20.0


def test_idle_gap_reanchors_instead_of_concealing_forever() -> None:
    buffer = AdaptiveJitterBuffer()
    first = [(i * FRAME, i) for i in range(50)]
    # the sender pauses 3 s without advancing its timestamps, then resumes
    second = [(4.0 + k * FRAME, 50 + k) for k in range(50)]
    out = feed(buffer, first + second)
    assert len(played_indices(out)) == 100
    assert buffer.stats.concealed <= 5 and buffer.stats.resets == 1
    assert list(buffer.stats.waits_ms)[-10:] == [20.0] * 10


def test_one_and_five_percent_loss_with_20ms_jitter() -> None:
    for loss, seed in ((0.01, 1), (0.05, 2)):
        result = replay(AdaptiveJitterBuffer(), Impairment(loss=loss, jitter=0.02, seed=seed), 15_000)
        # every link loss is concealed; jitter-late packets stay rare
        # (a loss at the very start or end has nothing to be concealed between)
        assert result.dropped_by_link - 2 <= result.concealed - result.late <= result.dropped_by_link
        assert result.late <= 15  # <= 0.1 % of frames
        # latency: the buffer holds about the link's spread (40 ms) plus half a frame, not aiortc's 80+ ms
        assert result.wait_p95_ms <= 55
        assert 40 <= result.target_ms <= 55


def test_clean_link_ten_minutes_zero_underruns() -> None:
    result = replay(AdaptiveJitterBuffer(), Impairment(), 30_000)
    assert result.concealed == 0 and result.played == 30_000
    assert result.wait_p95_ms == 20.0


def test_packets_held_up_by_our_own_stall_do_not_grow_the_target() -> None:
    def run(observe_stall: bool) -> AdaptiveJitterBuffer:
        buffer = AdaptiveJitterBuffer()
        for i in range(200):
            arrival = i * FRAME if not 100 <= i < 110 else 2.2  # our loop stalled 200 ms, then caught up
            while (deadline := buffer.next_deadline()) is not None and deadline < arrival:
                buffer.pop(deadline)
            buffer.push(i, i * 960, b"", arrival, observe=observe_stall or not 100 <= i < 110)
        return buffer

    grown = run(observe_stall=True)
    assert max(grown.stats.waits_ms) > 100 and grown.stats.skipped > 0  # as network jitter it grows (then shrinks)
    held = run(observe_stall=False)
    assert max(held.stats.waits_ms) <= 20.0 and held.stats.skipped == 0 and held.stats.late > 0  # as our stall: no
