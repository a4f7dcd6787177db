"""A headless ``renew: true`` run talks through two renewals and a server restart and ends with exit 0.

Four real human utterances (``alsa-utils``' recordings), each followed by
silence, go to a realtime node whose session cap is 6 s, so the run renews
its session twice; after the first renewal the test stops the local server
and starts it again on the same port, at a turn boundary. Every utterance
must come back answered, in one transcript with a divider per switch.
"""

from __future__ import annotations

import asyncio
import functools
import io
import wave
from pathlib import Path

import numpy as np
import pytest

from audio.session import renewal
from audio.session.backoff import Backoff
from audio.server import LocalRealtimeServer, ServerConfig
from flow.headless import EXIT_FAILED, EXIT_OK, HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.nodes import realtime as realtime_node
from flow.options import RunOptions
from tests.headless.test_end_of_input import read_mono, speech_span
from tests.realtime_session.test_renewal import stop_for_good

pytestmark = [pytest.mark.slow]

VOICES = [Path(f"/usr/share/sounds/alsa/{name}.wav") for name in ("Front_Center", "Front_Left", "Rear_Right", "Side_Left")]
GAP_SECONDS = 3.0

FLOW = """
version: 1
name: Always on
nodes:
  - id: talk
    type: realtime-conversation
    provider: openai
    vad: server_vad
    renew: true
    max_duration: 0.1
  - id: notes
    type: preview-output
edges:
  - from: talk.transcript
    to: notes.text
"""


def write_input(path: Path) -> Path:
    parts = []
    rate = 0
    for voice in VOICES:
        samples, rate = read_mono(voice)
        start, end = speech_span(samples, rate)
        parts += [np.zeros(int(0.3 * rate), np.int16), samples[start:end], np.zeros(int(GAP_SECONDS * rate), np.int16)]
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.concatenate(parts).tobytes())
    return path


async def test_two_renewals_and_a_server_restart(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(realtime_node, "END_GRACE_SECONDS", 0.5)
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    port = int(server.base_url.rsplit(":", 1)[1])
    servers = [server]
    try:
        flow = load_flow_text(FLOW, "always-on.yaml")
        options = RunOptions(input_file=write_input(tmp_path / "in.wav"), provider="openai", api_key="sk-test",
                             base_url=server.base_url)
        err = io.StringIO()
        runner = HeadlessRun(flow, options, HeadlessOptions(max_duration=60), out=io.StringIO(), err=err)
        run = asyncio.ensure_future(runner.run())

        async def restart_after_the_first_renewal() -> None:
            while True:
                session = runner.sessions.get("talk")
                renewal = getattr(session, "renewal", None)
                if renewal is not None and renewal.switches and session.connected and renewal.at_boundary():
                    break
                await asyncio.sleep(0.02)
            await stop_for_good(servers[-1])
            again = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."], port=port))
            await again.start()
            servers.append(again)

        await asyncio.wait_for(restart_after_the_first_renewal(), 30)
        code = await asyncio.wait_for(run, 60)
        assert code == EXIT_OK, err.getvalue()
        session = runner.sessions["talk"]
        kinds = [switch.kind for switch in session.renewal.switches]
        assert kinds.count("renewal") >= 2 and kinds.count("reconnection") >= 1, (kinds, err.getvalue())
        entries = runner.transcript_entries()
        users = [e for e in entries if e.role == "user"]
        assert len(users) == len(VOICES) and all(e.final and not e.pending for e in users), entries
        for user in users:  # every turn answered, in order
            after = entries[entries.index(user) + 1:]
            assert next(e for e in after if e.role != "session").text == "Okay.", entries
        dividers = [e for e in entries if e.role == "session"]
        assert len(dividers) == len(kinds) and "reconnecting" in err.getvalue()
        assert all(switch.gap_seconds < 1.0 for switch in session.renewal.switches if switch.kind == "renewal")
        first = session.renewal.switches[0]  # before the restart: opened ahead, the microphone moved at a boundary
        assert first.kind == "renewal" and first.ahead and first.gap_seconds < 0.05, session.renewal.switches
    finally:
        for each in servers:
            await each.stop()


async def _killed_mid_run(tmp_path: Path, settings: str) -> tuple[int, str]:
    """A run (no renewal; ``settings`` added to the node) whose server goes away for good after the first answered turn."""
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    try:
        flow = load_flow_text(FLOW.replace("renew: true", settings).replace("max_duration: 0.1", ""), "killed.yaml")
        options = RunOptions(input_file=write_input(tmp_path / "in.wav"), provider="openai", api_key="sk-test",
                             base_url=server.base_url)
        err = io.StringIO()
        runner = HeadlessRun(flow, options, HeadlessOptions(max_duration=60), out=io.StringIO(), err=err)
        run = asyncio.ensure_future(runner.run())
        while not any(e.role == "assistant" and e.final for e in runner.transcript_entries()):
            await asyncio.sleep(0.02)
        await stop_for_good(server)
        return await asyncio.wait_for(run, 60), err.getvalue()
    finally:
        await server.stop()


async def test_a_server_that_vanishes_fails_a_run_without_reconnection(tmp_path: Path) -> None:
    code, err = await _killed_mid_run(tmp_path, "reconnect: false")
    assert code == EXIT_FAILED, err
    assert err.splitlines()[-1].startswith("voxflow: failed: node 'talk': the session ended before the input did: "), err
    assert "reconnecting" not in err


async def test_spent_retries_fail_the_run_with_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    """Reconnection is on by default (no ``renew``); when its retries are spent the run fails with one line."""
    monkeypatch.setattr(renewal, "Backoff", functools.partial(Backoff, tries=3, base=0.05, cap=0.1))
    code, err = await _killed_mid_run(tmp_path, "")
    assert code == EXIT_FAILED, err
    last = err.splitlines()[-1]
    assert last.startswith("voxflow: failed: node 'talk': realtime session failed: gave up reconnecting after 3 attempt(s): "), err
    assert "session talk: reconnecting (attempt " in err and "Traceback" not in err
