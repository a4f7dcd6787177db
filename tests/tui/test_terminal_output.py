"""The screen's output on a real pty: it reaches a terminal that reads, and never blocks on one that does not.

The test holds the pty's master side, so it decides whether the terminal reads, stalls or hangs up.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import threading
import time
import tty
from collections.abc import Callable, Iterator
from typing import TextIO

import pytest

from tui.terminal_output import TerminalOutput


@pytest.fixture
def terminal() -> Iterator[tuple[int, TextIO]]:
    """(master fd, the app's side as a text stream, like ``sys.__stderr__``)."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # as the app's terminal is: bytes pass unchanged (no \n to \r\n)
    stream = os.fdopen(slave, "w", encoding="utf-8")
    yield master, stream
    stream.close()
    try:
        os.close(master)
    except OSError:
        pass  # the test hung the terminal up


def read_all(master: int) -> bytes:
    data = b""
    while select.select([master], [], [], 0.2)[0]:
        chunk = os.read(master, 65536)
        if not chunk:
            break
        data += chunk
    return data


def until(condition: Callable[[], bool], what: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {within:g} s"
        time.sleep(0.005)


def fill(output: TerminalOutput, until: threading.Event) -> threading.Thread:
    """The writer thread: draws screens until told to stop (or for good, when blocked)."""

    def draw() -> None:
        while not until.is_set():
            output.write("x" * 4096)

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    return thread


def test_what_is_written_reaches_the_terminal_and_its_stream_stays_blocking(terminal: tuple[int, TextIO]) -> None:
    master, stream = terminal
    output = TerminalOutput(stream)
    output.write("\x1b[?1049hhello ✓")
    assert read_all(master).endswith("\x1b[?1049hhello ✓".encode())
    # O_NONBLOCK is on the output's own description: the shell sharing the stream's would get EAGAIN
    assert not fcntl.fcntl(stream.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
    assert output.fileno() == stream.fileno() and output.isatty()
    output.close()


def test_a_hung_up_terminal_is_lost_once_and_later_writes_return_at_once(terminal: tuple[int, TextIO]) -> None:
    master, stream = terminal
    output = TerminalOutput(stream)
    lost: list[str] = []
    output.on_lost = lambda: lost.append(threading.current_thread().name)
    output.write("first screen")
    os.close(master)  # the terminal went away (tmux kill-window, a dropped SSH connection)
    output.write("second screen")
    output.write("third screen")
    assert output.lost and len(lost) == 1
    output.close()


def test_after_the_cut_off_a_stalled_terminal_is_abandoned(terminal: tuple[int, TextIO]) -> None:
    master, stream = terminal
    output = TerminalOutput(stream)
    stop = threading.Event()
    writer = fill(output, stop)  # nobody reads the master: the pty fills and the writer waits for room
    probe = os.open(os.ttyname(stream.fileno()), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        until(lambda: not select.select([], [probe], [], 0)[1], "the pty to fill")
    finally:
        os.close(probe)
    assert writer.is_alive() and not output.abandoned
    output.cut_off(0.05)  # a quit signal
    until(lambda: output.abandoned, "the writer to give up on the terminal")
    stop.set()
    writer.join(10)
    assert not writer.is_alive() and not output.lost
    read_all(master)  # the terminal reads again: nothing more is drawn on it
    output.write("after")
    assert read_all(master) == b""
    output.close()


def test_before_the_cut_off_a_slow_terminal_gets_everything(terminal: tuple[int, TextIO]) -> None:
    """Backpressure, as Textual expects: the writer waits for a terminal that is slow but reading."""
    master, stream = terminal
    output = TerminalOutput(stream)
    text = "".join(f"line {n}\r\n" for n in range(20_000))  # far more than a pty holds
    writer = threading.Thread(target=output.write, args=(text,), daemon=True)
    writer.start()
    received = b""
    while len(received) < len(text):
        assert select.select([master], [], [], 10)[0], "the output stopped writing"
        received += os.read(master, 1024)  # a slow reader
    writer.join(10)
    assert received == text.encode(), "the terminal did not get exactly what was written"
    assert not output.abandoned
    output.close()
