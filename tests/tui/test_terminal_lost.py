"""A lost terminal ends the session (issue #26): the demo app in real tmux and GNU screen, then its terminal goes.

``python -m tui run flows/demo.yaml --start`` runs as a window's program (see ``terminals.py``). Once the
conversation is idle between turns, or while the assistant's first reply is on screen, the window, the pane
or the whole multiplexer is killed; the app must be gone (by pid, polled) within ``EXIT_WITHIN`` s, with
every turn finished before the kill in the session history and the ``--transcript`` file, the reply it was
giving written as the session's end left it, a complete WAV recording, and no process of its own left.

A terminal that stops reading (the tmux server stopped) must not hold a quit signal up either. Two cases
use a bare pty, where the test is the terminal: a terminal gone without any signal (the app notices on its
next write) and a SIGCONT with no suspend before it (what a hang-up also sends), which must not restart
the screen.

Before the fix a ``tmux kill-window`` left the app running with its session open: the SIGCONT restarted
Textual's application mode with a writer thread that died on the dead terminal, and the app's thread
then waited forever for room in that thread's queue.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.checkout import checkout_env

from tests.tui.terminals import (
    DEMO,
    HEIGHT,
    MULTIPLEXERS,
    WIDTH,
    DemoFiles,
    Multiplexer,
    Tmux,
    app_env,
    available,
    finished,
    idle,
    records,
    replying,
    until,
    wait_gone,
)

EXIT_WITHIN = 2.0  # seconds from the kill to the process being gone (issue #26)
STARTUP = 120.0  # the demo's first exchange, on a loaded machine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def descendants(pid: int) -> set[int]:
    """The process's children, grandchildren, ... (the local server's speech worker)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except FileNotFoundError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def lived(pid: int) -> str:
    """For a failure message: how much longer the process lived (it is killed after 20 s more)."""
    more = wait_gone(pid, 20)
    if more is None:
        os.kill(pid, signal.SIGKILL)
        return "still running 20 s later: killed"
    return f"gone {EXIT_WITHIN + more:.2f} s after it"


def check_files(files: DemoFiles, kept_before: list[dict[str, object]]) -> list[dict[str, object]]:
    """Every turn finished before the terminal went is in the history and the transcript; the recording is complete."""
    history = files.history()
    assert history is not None
    after = records(history)
    ids = [record["item_id"] for record in after]
    assert [record["item_id"] for record in kept_before] == ids[: len(kept_before)], "a finished turn was lost"
    assert [record["item_id"] for record in finished(files.transcript)] == [r["item_id"] for r in finished(history)]
    assert files.recording_frames() > 0
    return after


def start_demo(mux: Multiplexer, when: str) -> int:
    pid = mux.start()
    if when == "idle":
        until(lambda: idle(mux.files), STARTUP, "the first exchange", pid)
    else:
        until(lambda: replying(mux.files, mux.screen_text), STARTUP, "the first reply on screen", pid)
    return pid


CASES = [
    ("tmux", "kill-window", "idle"),
    ("tmux", "kill-window", "reply"),
    ("tmux", "kill-pane", "idle"),
    ("tmux", "kill-server", "reply"),
    ("screen", "quit", "idle"),
    ("screen", "kill", "reply"),
]


@pytest.mark.parametrize(("multiplexer", "kill", "when"), CASES, ids=["-".join(case) for case in CASES])
def test_closing_the_terminal_ends_the_app(tmp_path: Path, multiplexer: str, kill: str, when: str) -> None:
    if not available(multiplexer):
        pytest.skip(f"{multiplexer} is not installed (Debian package {multiplexer})")
    mux = MULTIPLEXERS[multiplexer](tmp_path)
    try:
        pid = start_demo(mux, when)
        before = mux.files.finished_turns()
        children = descendants(pid)
        mux.kill(kill)
        took = wait_gone(pid, EXIT_WITHIN)
        assert took is not None, f"the app still runs {EXIT_WITHIN:g} s after {multiplexer} {kill} ({lived(pid)})"
        assert all(wait_gone(child, EXIT_WITHIN) is not None for child in children), "the app left a process running"
    finally:
        mux.close()
    after = check_files(mux.files, before)
    if when == "reply":  # the reply being given was written when the session ended, as it stood
        assert len(after) > len(before) and after[len(before)]["role"] == "assistant"
        assert str(after[len(before)]["text"]).startswith("You said")


def main_thread_waits(pid: int) -> bool:
    """Whether the app's main thread sleeps on a lock (not in its event loop's poll): stuck handing over the screen."""
    try:
        return "futex" in Path(f"/proc/{pid}/task/{pid}/wchan").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminal_that_stopped_reading_does_not_hold_up_a_quit(tmp_path: Path, sig: signal.Signals) -> None:
    if not available("tmux"):
        pytest.skip("tmux is not installed (Debian package tmux)")
    mux = Tmux(tmp_path)
    server = None
    try:
        pid = start_demo(mux, "idle")
        before = mux.files.finished_turns()
        server = int(mux.tmux("display-message", "-p", "#{pid}").stdout)
        os.kill(server, signal.SIGSTOP)  # tmux reads the pane no more: the pty fills and the app's writes wait

        def blocked() -> bool:  # the app's thread has waited for the terminal for a whole second
            since = time.monotonic()
            while main_thread_waits(pid):
                if time.monotonic() - since >= 1.0:
                    return True
                time.sleep(0.01)
            return False

        until(blocked, 60, "the app's thread to wait for the stopped terminal", pid)
        os.kill(pid, sig)
        took = wait_gone(pid, EXIT_WITHIN)
        assert took is not None, f"the app still runs {EXIT_WITHIN:g} s after {sig.name} with its terminal not reading ({lived(pid)})"
    finally:
        if server is not None:
            os.kill(server, signal.SIGCONT)
        mux.close()
    check_files(mux.files, before)


class PtyApp:
    """The demo app in a bare pty: the test is the terminal (and may stop being one)."""

    def __init__(self, folder: Path) -> None:
        self.files = DemoFiles(folder)
        self.master, slave = pty.openpty()
        argv = [sys.executable, "-m", "tui", "run", str(DEMO), "--start", "--output", str(folder / "reply.wav"),
                "--record", str(self.files.recording), "--transcript", str(self.files.transcript)]
        self.process = subprocess.Popen(argv, cwd=folder, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                        env=checkout_env(app_env(self.files) | {"COLUMNS": str(WIDTH), "LINES": str(HEIGHT)}))
        os.close(slave)
        self.shown = bytearray()
        self.open = True

    def pump(self, seconds: float = 0.05) -> None:
        """Read what the app draws (a full pty would block it)."""
        if self.open and select.select([self.master], [], [], seconds)[0]:
            try:
                self.shown.extend(os.read(self.master, 65536))
            except OSError:
                pass

    def until(self, condition: Callable[[], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not condition():
            assert self.process.poll() is None, f"the app exited while waiting for {what}"
            assert time.monotonic() < deadline, f"{what} did not happen within {within:g} s"
            self.pump()

    def hang_up(self) -> None:
        """The terminal goes away (its master side closes): every later write of the app fails."""
        os.close(self.master)
        self.open = False

    def wait_gone(self, within: float) -> float | None:
        start = time.monotonic()
        while self.process.poll() is None:
            if time.monotonic() - start > within:
                return None
            if self.open:
                self.pump(0.01)
            else:
                time.sleep(0.01)
        return time.monotonic() - start

    def drain(self) -> None:
        """Everything the app wrote before it exited (its end of the pty is closed once it is gone)."""
        while self.open and select.select([self.master], [], [], 0.5)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: nothing left and no writer
                return
            if not data:
                return
            self.shown.extend(data)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.open:
            os.close(self.master)


def test_a_terminal_gone_without_a_signal_ends_the_app(tmp_path: Path) -> None:
    """No SIGHUP reaches the app (it does not own the pty): the failed write itself ends the session."""
    app = PtyApp(tmp_path)
    try:
        app.until(lambda: idle(app.files), STARTUP, "the first exchange")
        before = app.files.finished_turns()
        app.hang_up()
        took = app.wait_gone(EXIT_WITHIN)
        assert took is not None, f"the app still runs {EXIT_WITHIN:g} s after its terminal went away"
        assert app.process.returncode == 0
    finally:
        app.close()
    check_files(app.files, before)


def test_a_sigcont_without_a_suspend_leaves_the_screen_alone(tmp_path: Path) -> None:
    """Textual restarts application mode on any SIGCONT; a hang-up sends one, with no suspend before it."""
    app = PtyApp(tmp_path)
    try:
        app.until(lambda: idle(app.files), STARTUP, "the first exchange")
        app.process.send_signal(signal.SIGCONT)
        app.process.send_signal(signal.SIGTERM)
        assert app.wait_gone(30) is not None, "the app did not quit on SIGTERM"
        app.drain()
        assert app.process.returncode == 0
    finally:
        app.close()
    assert bytes(app.shown).count(b"\x1b[?1049h") == 1, "application mode was started again (the alternate screen twice)"
