"""``voxflow serve-realtime`` in a subprocess, as a user starts it, for the command-line tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.checkout import checkout_env


@dataclass
class Served:
    process: subprocess.Popen[str]
    banner: str
    """The first line on stderr: ``Local Realtime server on URL (...)``."""
    rest: str = ""
    """Everything after the lines read, once the server has stopped."""

    @property
    def base_url(self) -> str:
        match = re.search(r"http://127\.0\.0\.1:\d+", self.banner)
        assert match, self.banner
        return match.group(0)

    def readline(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.readline()  # by line: communicate() would skip what Python buffered


@contextmanager
def serve_realtime(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start ``serve-realtime --port 0 ARGS``, yield it once its banner is out, then stop it with Ctrl-C (SIGINT).

    After the block, ``served.rest`` holds the rest of its stderr and ``process.returncode`` is set.
    """
    process = subprocess.Popen([sys.executable, "-m", "tui", "serve-realtime", "--port", "0", *args],
                               stderr=subprocess.PIPE, text=True, env=checkout_env(env or {}))
    try:
        assert process.stderr is not None
        served = Served(process, process.stderr.readline())
        yield served
        process.send_signal(signal.SIGINT)
        _, served.rest = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
