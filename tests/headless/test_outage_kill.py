"""A headless run loses no words when its server is killed mid-input and comes back 4 s later.

``voxflow serve-realtime`` runs in a subprocess on a fixed port; the input is
a recording of three people's phrases (``alsa-utils``), each followed by 10 s
of silence. The moment the second phrase starts, the server gets SIGKILL (no
goodbye on any socket) and a new one is started on the same port 4 s later.
The run reconnects by default (no ``renew``): the phrase said into the dead
link is held and handed to the new session, which answers it. Every phrase
must come back answered, the run must exit 0, and the transcript's divider
must say how much speech was handed over.

Over WebSocket the kernel closes the dead server's socket, so the drop is
seen at once. Over WebRTC nothing tells the client: it notices after its
dead-link timeout (made 3 s by the transports' dead-link detection); until
that lands, the test reports the drop itself through the session's connection
callback 3 s after the kill, as that detector will.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
import signal
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from audio.session import renewal
from audio.session.backoff import Backoff
from audio.session.events import SessionEvent, SessionState, SpeechStarted
from flow.headless import EXIT_OK, HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.options import RunOptions
from tests.checkout import checkout_env
from tests.headless.test_end_of_input import read_mono, speech_span

VOICES = [Path(f"/usr/share/sounds/alsa/{name}.wav") for name in ("Front_Center", "Rear_Right", "Side_Left")]
GAP_SECONDS = 10.0
DOWN_SECONDS = 4.0

FLOW = """
version: 1
name: Outage
nodes:
  - id: talk
    type: realtime-conversation
    provider: openai
    vad: server_vad
    transport: {transport}
  - id: notes
    type: preview-output
edges:
  - from: talk.transcript
    to: notes.text
"""


def write_input(path: Path) -> tuple[Path, list[float]]:
    """The recording, and each phrase's length in seconds."""
    parts, lengths, rate = [], [], 0
    for voice in VOICES:
        samples, rate = read_mono(voice)
        start, end = speech_span(samples, rate)
        parts += [np.zeros(int(0.5 * rate), np.int16), samples[start:end], np.zeros(int(GAP_SECONDS * rate), np.int16)]
        lengths.append((end - start) / rate)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.concatenate(parts).tobytes())
    return path, lengths


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(port: int) -> subprocess.Popen[str]:
    """``voxflow serve-realtime`` on ``port``, once its banner is out."""
    process = subprocess.Popen([sys.executable, "-m", "tui", "serve-realtime", "--port", str(port), "--no-speech"],
                               stderr=subprocess.PIPE, text=True, env=checkout_env())
    assert process.stderr is not None
    banner = process.stderr.readline()
    assert "Local Realtime server on" in banner, banner
    return process


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_a_server_killed_mid_input_and_back_4_s_later_loses_no_phrase(tmp_path: Path, transport: str, monkeypatch) -> None:
    # retries every 0.5-1 s, so the run reconnects as soon as the new server listens (the schedule is not the point)
    monkeypatch.setattr(renewal, "Backoff", functools.partial(Backoff, base=0.5, cap=1.0, tries=60))
    port = free_port()
    servers = [await asyncio.to_thread(serve, port)]
    try:
        recording, lengths = write_input(tmp_path / "in.wav")
        flow = load_flow_text(FLOW.format(transport=transport), "outage.yaml")
        options = RunOptions(input_file=recording, provider="openai", api_key="sk-test", base_url=f"http://127.0.0.1:{port}")
        err = io.StringIO()
        runner = HeadlessRun(flow, options, HeadlessOptions(max_duration=120), out=io.StringIO(), err=err)
        run = asyncio.ensure_future(runner.run())

        started: list[float] = []

        def speech(event: SessionEvent) -> None:
            if isinstance(event, SpeechStarted):
                started.append(time.monotonic())

        while not any(e.role == "assistant" and e.final for e in runner.transcript_entries()):  # the first phrase
            assert not run.done(), err.getvalue()
            await asyncio.sleep(0.02)
        session = runner.sessions["talk"]
        session.events.add_callback(speech)
        seen: list[str] = []
        session.events.add_callback(lambda e: seen.append(f"{time.monotonic():.2f} {e}"[:160]) if type(e).__name__ not in ("Levels", "TimerTick", "LatencyBudget", "ConnectionInfo") else None)
        while not started:  # the second phrase begins: kill the server under it
            await asyncio.sleep(0.01)
        servers[0].kill()  # SIGKILL: no close frame, no BYE, nothing
        killed = time.monotonic()
        while time.monotonic() - killed < DOWN_SECONDS and session.state is SessionState.CONNECTED:
            await asyncio.sleep(0.02)
        # the transport's own dead-link watch noticed (within 3 s: tests/realtime_session/test_dead_link.py times it)
        assert session.state is not SessionState.CONNECTED, "the dead link was not noticed before the server came back"
        await asyncio.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - killed)))
        servers.append(await asyncio.to_thread(serve, port))

        code = await asyncio.wait_for(run, 150)
        log = err.getvalue()
        assert code == EXIT_OK, log + "\n".join(seen)
        switches = list(session.renewal.switches)
        assert [s.kind for s in switches] == ["reconnection"], (switches, log)
        outage = switches[0].outage
        assert outage is not None and outage.sent_seconds >= 0.8 * lengths[1], (outage, lengths, log)
        entries = runner.transcript_entries()
        users = [e for e in entries if e.role == "user"]
        assert len(users) == len(VOICES) and all(e.final and not e.pending for e in users), (entries, log)
        for user, length in zip(users, lengths, strict=True):  # every phrase answered, and heard whole
            after = entries[entries.index(user) + 1:]
            assert next(e for e in after if e.role != "session").role == "assistant", entries
            heard = float(re.search(r"\(speech, ([\d.]+) s\)", user.text).group(1))  # type: ignore[union-attr]
            assert heard >= 0.9 * length, (user.text, length, entries)
        dividers = [e.text for e in entries if e.role == "session"]
        assert len(dividers) == 1 and "s said during the outage sent" in dividers[0], dividers
    finally:
        for process in servers:
            stop(process)
