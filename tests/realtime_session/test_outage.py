"""An outage loses no words: what the person says while the server is down is answered once it is back.

The local server runs in this process and is stopped (its calls closed, as a
restart does) just before a person starts speaking; it comes back on the same
port once the utterance is over. The session reconnects by default (no
``renew``), holds the microphone meanwhile and hands the speech to the new
session: appended over WebSocket, as a user audio item over WebRTC.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from audio.io.sources import FileSource, SilenceSource
from audio.server import LocalRealtimeServer, ServerConfig
from audio.session.backoff import Backoff
from audio.session.events import ResponseDone, SessionState, StateChanged
from tests.real_speech import CARDS, shortest
from tests.realtime_session.conftest import SequenceSource, assert_released
from tests.realtime_session.test_renewal import stop_for_good, turns, until


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_what_is_said_while_the_server_is_down_is_answered_after_it_is_back(make_session, registry, transport) -> None:
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    port = int(server.base_url.rsplit(":", 1)[1])
    words = FileSource(shortest(CARDS).path, sample_rate=48_000, channels=1)  # "ten of clubs", 1.1 s
    source = SequenceSource(SilenceSource(48_000, 1, duration=2.0), words, SilenceSource(48_000, 1, duration=60.0))
    session, log = make_session(server, source=source, vad={"type": "server_vad"}, transport=transport)
    session.renewal.backoff = Backoff(session.clock, base=0.3, cap=0.5, tries=40, rng=random.Random(7))  # spans the outage
    again: LocalRealtimeServer | None = None
    try:
        await session.connect()
        await stop_for_good(server)  # down before the person speaks (at 2 s)
        await log.wait_for(StateChanged, lambda e: e.state is SessionState.RECONNECTING)
        await until(lambda: words.ended)  # the whole utterance was said while the server was down
        again = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."], port=port))
        await again.start()
        await log.wait(lambda: session.renewal.switches and session.connected)
        outage = session.renewal.switches[-1].outage
        assert outage is not None and 1.0 <= outage.sent_seconds <= 2.5, outage  # the speech, not the silence
        assert outage.heard_seconds >= 2.0 and outage.dropped_seconds == 0
        await log.wait_for(ResponseDone, lambda e: e.status == "completed")
        await log.wait(lambda: [(e.role, e.final) for e in session.transcript.entries()][-2:] == [("user", True), ("assistant", True)])
        roles_texts = turns(session)
        # a server going down may accept one last connection while it stops (seen under load): a divider with
        # nothing carried may come first; the one that counts is the divider of the reconnection after the outage
        while len(roles_texts) > 3 and roles_texts[0][0] == roles_texts[1][0] == "session":
            assert "said during the outage" not in roles_texts[0][1], roles_texts
            roles_texts = roles_texts[1:]
        assert [r for r, _ in roles_texts] == ["session", "user", "assistant"], roles_texts
        assert roles_texts[0][1].endswith(f"; {outage.sent_seconds:.1f} s said during the outage sent")
        assert roles_texts[1][1].startswith("(speech, ") and roles_texts[2][1] == "Okay."
        call = again.calls[next(iter(again.calls))]
        if transport == "websocket":  # appended faster than real time, ahead of the live audio
            assert call.received_types.count("input_audio_buffer.append") >= 2
        else:  # a user audio item and a request for its answer
            created = [e for e in call.received if e.get("type") == "conversation.item.create"
                       and e["item"]["content"][0]["type"] == "input_audio"]
            assert len(created) == 1 and "response.create" in call.received_types
        await session.disconnect()
        await assert_released(session, registry)
    finally:
        await server.stop()
        if again is not None:
            await again.stop()


async def test_a_question_the_drop_left_unanswered_is_answered_by_the_new_session(registry) -> None:
    """Nothing was said during the outage, but the last question was transcribed and never answered: ask for it."""
    from tests.realtime_session.test_handover import carried, make_session as loopback_session, run_until

    session, log, transports = loopback_session(registry)
    await asyncio.wait_for(session.connect(), 10)
    transports[0].server({"type": "conversation.item.added", "item": {
        "id": "u1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "what time is it"}]}})
    transports[0].callbacks.on_closed("ICE connection failed", True)  # before any reply
    await run_until(session, lambda: session.renewal.switches)
    sent = [event["type"] for event in transports[1].sent]
    assert carried(transports[1]) == ["what time is it"] and sent[-1] == "response.create", sent
    assert session.renewal.switches[0].outage is not None and session.renewal.switches[0].outage.sent_seconds == 0
    await session.disconnect()


def test_the_data_channel_message_size_comes_from_the_answer() -> None:
    from audio.transports.webrtc import DEFAULT_MAX_MESSAGE_SIZE, max_message_size

    assert max_message_size("v=0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n") == 262_144
    assert max_message_size("v=0\r\na=sctp-port:5000\r\n") == DEFAULT_MAX_MESSAGE_SIZE == 65_536  # RFC 8841
    assert max_message_size("a=max-message-size:0\r\n") is None  # no limit
