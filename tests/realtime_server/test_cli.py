"""``voxflow serve-realtime`` serves until interrupted, says where, and never prints the key."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx

from tests.checkout import checkout_env

KEY = "sk-local-secret-value"


def test_serve_realtime_runs_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "serve-realtime", "--port", "0", "--no-speech"],
        stderr=subprocess.PIPE, text=True, env=checkout_env({"VOXFLOW_LOCAL_API_KEY": KEY}),
    )
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline() for _ in range(3)]  # read by line: communicate() skips Python's buffer
        first = "".join(lines)
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        base_url = match.group(0)
        wrong = httpx.post(f"{base_url}/v1/realtime/client_secrets", json={}, timeout=20,
                           headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = httpx.post(f"{base_url}/v1/realtime/client_secrets", json={}, timeout=20,
                           headers={"Authorization": f"Bearer {KEY}"})
        assert right.status_code == 200
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=20)  # nothing is left in the line buffer after 3 lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    output = first + rest
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
    (paced, a reply takes about its own length to arrive)."""
    import asyncio

    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "serve-realtime", "--port", "0", "--no-speech", "--websocket-burst"],
        stderr=subprocess.PIPE, text=True, env=checkout_env(),
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert "WebSocket replies sent at once" in first, first
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        audio_seconds, arrival_seconds = asyncio.run(_reply_timing(match.group(0)))
        assert audio_seconds > 1.0 and arrival_seconds < audio_seconds / 2, (audio_seconds, arrival_seconds)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
