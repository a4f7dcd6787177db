"""``voxflow serve-realtime`` serves until interrupted, says where, and never prints the key."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.checkout import checkout_env
from tests.realtime_server.serve_process import serve_realtime

pytestmark = pytest.mark.slow

KEY = "sk-local-secret-value"


def test_serve_realtime_runs_until_interrupted() -> None:
    with serve_realtime("--no-speech", env={"VOXFLOW_LOCAL_API_KEY": KEY}) as served:
        first = served.banner + served.readline() + served.readline()
        base_url = served.base_url
        wrong = httpx.post(f"{base_url}/v1/realtime/client_secrets", json={}, timeout=20,
                           headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = httpx.post(f"{base_url}/v1/realtime/client_secrets", json={}, timeout=20,
                           headers={"Authorization": f"Bearer {KEY}"})
        assert right.status_code == 200
    assert served.process.returncode == 0
    output = first + served.rest
    assert f"OPENAI_BASE_URL={base_url}" in output
    assert KEY not in output and "Traceback" not in output


def test_script_without_file_is_a_short_error() -> None:
    result = subprocess.run([sys.executable, "-m", "tui", "serve-realtime", "--reply", "script"],
                            capture_output=True, text=True, env=checkout_env(), timeout=60)
    assert result.returncode == 2
    assert "--script FILE" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_a_short_error() -> None:
    import socket

    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "tui", "serve-realtime", "--port", str(port), "--no-speech"],
                                capture_output=True, text=True, env=checkout_env(), timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr


async def _reply_timing(base_url: str) -> tuple[float, float]:
    """Over the SDK's WebSocket: seconds of reply audio, and seconds from its first delta to its last."""
    import base64
    import time

    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="sk-test", base_url=base_url + "/v1", max_retries=0)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "say something long enough to take a few seconds to play"}]})
        await connection.response.create()
        samples, first, last = 0, None, None
        async for event in connection:
            if event.type == "response.output_audio.delta":
                samples += len(base64.b64decode(event.delta)) // 2
                last = time.monotonic()
                first = first or last
            elif event.type == "response.done":
                break
    assert first is not None and last is not None
    return samples / 24_000, last - first


def test_websocket_burst_sends_each_reply_at_once() -> None:
    """``--websocket-burst`` sends a reply's audio faster than it plays, as the paid service does over WebSocket
    (paced, a reply takes about its own length to arrive: 4.2 s for 4.6 s of audio)."""
    import asyncio

    with serve_realtime("--no-speech", "--websocket-burst") as served:
        assert "WebSocket replies sent at once" in served.banner, served.banner
        audio_seconds, arrival_seconds = asyncio.run(_reply_timing(served.base_url))
        assert audio_seconds > 1.0 and arrival_seconds < audio_seconds / 2, (audio_seconds, arrival_seconds)
    assert served.process.returncode == 0
