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
