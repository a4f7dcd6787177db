"""The demo app in a real terminal multiplexer (tmux or GNU screen), for hang-up tests and the benchmark.

The app runs as the window's program, the way a user starts it, through a
shell that records its pid and then ``exec``s it, so the app is the pty's
session leader: when the window goes, the kernel sends it SIGHUP together with
SIGCONT, and the multiplexer closes the pty's master side. The demo runs
against the in-process local Realtime server (no API key, no sound card);
progress is read from its session history file and what the multiplexer shows.
"""

from __future__ import annotations

import abc

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.checkout import ROOT, checkout_env

DEMO = ROOT / "flows" / "demo.yaml"
NO_SERVICE = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VOXFLOW_SHARE_TOKEN", "VOXFLOW_TOKEN_SERVICE")
WIDTH, HEIGHT = 100, 30


def records(path: Path) -> list[dict[str, object]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def finished(path: Path) -> list[dict[str, object]]:
    return [record for record in records(path) if record.get("final")]


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, dead but not yet reaped by its parent, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_gone(pid: int, within: float) -> float | None:
    """Seconds until ``pid`` was gone, polled every 10 ms; None if it still runs after ``within``."""
    start = time.monotonic()
    while alive(pid):
        if time.monotonic() - start > within:
            return None
        time.sleep(0.01)
    return time.monotonic() - start


@dataclass
class DemoFiles:
    folder: Path

    @property
    def data_home(self) -> Path:
        return self.folder / "data"

    @property
    def transcript(self) -> Path:
        return self.folder / "transcript.jsonl"

    @property
    def recording(self) -> Path:
        return self.folder / "both.wav"

    @property
    def pid_file(self) -> Path:
        return self.folder / "app.pid"

    def history(self) -> Path | None:
        files = sorted((self.data_home / "voxflow" / "history").glob("*.jsonl"))
        return files[0] if files else None

    def finished_turns(self) -> list[dict[str, object]]:
        path = self.history()
        return finished(path) if path is not None else []

    def recording_frames(self) -> int:
        """Frames of the recording; raises unless it is a complete WAV (header sizes match the data)."""
        with wave.open(str(self.recording), "rb") as handle:
            frames = handle.getnframes()
            data = handle.readframes(frames)
            if len(data) != frames * handle.getnchannels() * handle.getsampwidth():
                raise ValueError(f"{self.recording}: the header says {frames} frames, the file holds {len(data)} bytes")
            return frames


def app_command(files: DemoFiles) -> str:
    """The shell line a window runs: write the pid, then become the app (same pid)."""
    argv = [sys.executable, "-m", "tui", "run", str(DEMO), "--start", "--output", str(files.folder / "reply.wav"),
            "--record", str(files.recording), "--transcript", str(files.transcript)]
    return f"echo $$ > {shlex.quote(str(files.pid_file))}; exec {shlex.join(argv)}"


def app_env(files: DemoFiles) -> dict[str, str]:
    return checkout_env(drop=NO_SERVICE) | {
        "XDG_DATA_HOME": str(files.data_home), "VOXFLOW_STATE_DIR": str(files.folder / "state"),
        "TERM": "xterm-256color",
    }


class Multiplexer(abc.ABC):
    """One private tmux server or screen session running the demo app in one window (tmux and screen subclass it)."""

    kinds: tuple[str, ...] = ()

    def __init__(self, folder: Path) -> None:
        self.files = DemoFiles(folder)
        self.env = app_env(self.files)

    @abc.abstractmethod
    def start(self) -> int:
        """Start the app in a window; returns its pid."""

    @abc.abstractmethod
    def kill(self, kind: str) -> None:
        """Close the app's window, pane or server the way ``kind`` names."""

    @abc.abstractmethod
    def screen_text(self) -> str:
        """What the window shows now."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the multiplexer, whatever is left of it."""

    def wait_pid(self, within: float = 30) -> int:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                return int(self.files.pid_file.read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
        raise AssertionError(f"the app did not start within {within:g} s")


class Tmux(Multiplexer):
    kinds = ("kill-window", "kill-pane", "kill-server")

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.socket = folder / "tmux.sock"

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-S", str(self.socket), "-f", "/dev/null", *args],
                              env=self.env, capture_output=True, text=True, timeout=30)

    def start(self) -> int:
        result = self.tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", "voxflow", app_command(self.files))
        assert result.returncode == 0, result.stderr
        return self.wait_pid()

    def kill(self, kind: str) -> None:
        assert kind in self.kinds, kind
        self.tmux(kind, *(() if kind == "kill-server" else ("-t", "voxflow")))

    def screen_text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "voxflow").stdout

    def close(self) -> None:
        self.tmux("kill-server")


class Screen(Multiplexer):
    kinds = ("quit", "kill")  # the whole session / the app's window

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        # a private socket folder (mode 700, as screen requires), short: a socket's path has at most 107 bytes
        self.sockets = Path(tempfile.mkdtemp(prefix="vs-"))
        self.name = "voxflow"
        self.env["SCREENDIR"] = str(self.sockets)

    def screen(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["screen", *args], env=self.env, capture_output=True, text=True, timeout=30)

    def start(self) -> int:
        rc = self.files.folder / "screenrc"
        rc.write_text(f"startup_message off\nheight {HEIGHT} {WIDTH}\n")
        result = self.screen("-c", str(rc), "-dmS", self.name, "sh", "-c", app_command(self.files))
        assert result.returncode == 0, result.stderr
        return self.wait_pid()

    def kill(self, kind: str) -> None:
        assert kind in self.kinds, kind
        self.screen("-S", self.name, "-X", kind)

    def screen_text(self) -> str:
        dump = self.files.folder / "hardcopy.txt"
        self.screen("-S", self.name, "-X", "hardcopy", str(dump))
        try:
            return dump.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        self.screen("-S", self.name, "-X", "quit")
        shutil.rmtree(self.sockets, ignore_errors=True)


MULTIPLEXERS: dict[str, type[Multiplexer]] = {"tmux": Tmux, "screen": Screen}


def available(name: str) -> bool:
    return shutil.which(name) is not None


def until(condition: Callable[[], bool], within: float, what: str, pid: int | None = None) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail after ``within`` s (or when ``pid`` died)."""
    deadline = time.monotonic() + within
    while not condition():
        if pid is not None and not alive(pid):
            raise AssertionError(f"the app exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within:g} s")
        time.sleep(0.02)


def idle(files: DemoFiles) -> bool:
    """Between turns: the first exchange is finished (its reply last) and the session is still open."""
    turns = files.finished_turns()
    return len(turns) >= 2 and turns[-1]["role"] == "assistant"


def replying(files: DemoFiles, shown: Callable[[], str]) -> bool:
    """Mid-reply: the person's turn is finished, and the assistant's answer is on screen but not finished."""
    turns = files.finished_turns()
    if not turns or turns[-1]["role"] != "user":
        return False
    answers = sum(1 for turn in turns if turn["role"] == "assistant")
    return shown().count("You said") > answers  # the local server answers "You said: ..."
