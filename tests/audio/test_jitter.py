"""The adaptive jitter buffer, fed packet timelines on simulated time (no sleeping, no sockets)."""

from __future__ import annotations

from collections.abc import Callable

from audio.transports.impairment import Impairment, replay
from audio.dsp.jitter import AdaptiveJitterBuffer, Conceal, Play

FRAME = 0.02


def feed(buffer: AdaptiveJitterBuffer, timeline: list[tuple[float, int]],
         quiet: Callable[[int], bool] = lambda i: True) -> list[Play | Conceal]:
    """Push (arrival, index) packets in arrival order, popping at every deadline in between.

    Plays the decoder's part too: a frame offered for shrinking (``Play.shrink``)
    is dropped when ``quiet(index)``; dropped frames are left out of the result.
    """
    out: list[Play | Conceal] = []

    def pop(deadline: float) -> None:
        for item in buffer.pop(deadline):
            if isinstance(item, Play) and item.shrink and quiet(item.packet.seq):
                buffer.shrunk()
            else:
                out.append(item)

    for arrival, i in sorted(timeline):
        while (deadline := buffer.next_deadline()) is not None and deadline < arrival:  # arrivals first on ties
            pop(deadline)
        buffer.push(i % 65536, (i * 960) % (1 << 32), bytes([i % 256]), arrival)
    while buffer.buffered:
        deadline = buffer.next_deadline()
        assert deadline is not None
        pop(deadline)
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


def stalled_run(resume: bool) -> tuple[AdaptiveJitterBuffer, list[Play | Conceal]]:
    """200 packets on a clean link; our loop stalls from 2.0 to 2.2 s, so packets 100..109 are read at 2.2 s.

    Mirrors the playout task: it wakes late at 2.2 s, calls resume_after_stall
    (or not), pops what is due, then the packets waiting in the socket are read.
    Frames from 150 on are quiet (a pause the buffer may drop to shrink).
    """
    buffer = AdaptiveJitterBuffer()
    out: list[Play | Conceal] = []

    def pop(now: float) -> None:
        for item in buffer.pop(now):
            if isinstance(item, Play) and item.shrink and item.packet.seq >= 150:
                buffer.shrunk()
            else:
                out.append(item)

    for i in range(300):
        arrival = i * FRAME if not 100 <= i < 110 else 2.2
        if i == 100:
            if resume:
                buffer.resume_after_stall(2.2)
            pop(2.2)
        while (deadline := buffer.next_deadline()) is not None and deadline < arrival:
            pop(deadline)
        buffer.push(i, i * 960, b"", arrival, observe=not 100 <= i < 110)  # our stall, not the network's
    while (deadline := buffer.next_deadline()) is not None and buffer.buffered:
        pop(deadline)
    return buffer, out


def test_our_own_stall_pauses_the_playout_clock_instead_of_losing_audio() -> None:
    lost, _ = stalled_run(resume=False)
    assert lost.stats.late >= 5 and lost.stats.concealed >= 5  # conceal at once: the packets in our socket are lost
    held, out = stalled_run(resume=True)
    assert held.stats.late == 0 and held.stats.concealed == 0 and held.stats.stalls == 1
    played = played_indices(out)
    assert played[:150] == list(range(150))  # every frame of the talk spurt, in order
    assert held.stats.target_ms == 20.0  # our stall never looks like network jitter
    assert max(held.stats.waits_ms) > 100  # the stall became delay...
    assert held.stats.skipped > 0 and held.stats.forced == 0  # ...taken back in the pause that followed
    assert list(held.stats.waits_ms)[-20:] == [20.0] * 20


def test_shrinking_drops_quiet_frames_and_cuts_words_only_when_no_pause_comes() -> None:
    burst = [(i * FRAME, i) for i in range(100)] + [(2.2 + 0.0001 * k, 100 + k) for k in range(10)]
    clean_after = [(i * FRAME, i) for i in range(110, 400)]  # the link is clean again
    talk_then_pause = AdaptiveJitterBuffer()
    out = feed(talk_then_pause, burst + clean_after, quiet=lambda i: i >= 140)
    played = played_indices(out)
    assert talk_then_pause.stats.concealed == 10  # the burst itself came too late (network jitter: the target grows)
    assert set(range(140)) - set(range(100, 110)) <= set(played)  # the excess it left cost no word of the talk spurt
    assert talk_then_pause.stats.skipped > 0 and talk_then_pause.stats.forced == 0
    assert list(talk_then_pause.stats.waits_ms)[-20:] == [20.0] * 20
    endless_talk = AdaptiveJitterBuffer(force_after=20)
    feed(endless_talk, burst + clean_after, quiet=lambda i: False)
    assert endless_talk.stats.forced > 0 and endless_talk.stats.skipped == endless_talk.stats.forced
    assert list(endless_talk.stats.waits_ms)[-20:] == [20.0] * 20  # the excess is gone all the same
