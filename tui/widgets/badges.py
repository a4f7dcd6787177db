"""Session-state and push-to-talk badges: words and colours, never colour alone."""

from __future__ import annotations

import re

from rich.text import Text

from audio.session.events import PttState, SessionState

_STATE_BADGES: dict[SessionState, tuple[str, str]] = {
    SessionState.IDLE: ("○ IDLE", "bold white on grey30"),
    SessionState.CONNECTING: ("◌ CONNECTING…", "bold black on yellow"),
    SessionState.CONNECTED: ("● CONNECTED", "bold black on green"),
    SessionState.DISCONNECTED: ("◼ DISCONNECTED", "bold white on blue"),
    SessionState.ERROR: ("✖ ERROR", "bold white on red"),
    SessionState.RENEWING: ("↻ RENEWING…", "bold black on yellow"),
    SessionState.RECONNECTING: ("⟳ RECONNECTING…", "bold black on dark_orange"),
}
_ATTEMPT = re.compile(r"attempt (\d+)")

_PTT_BADGES: dict[PttState, tuple[str, str]] = {
    PttState.OFF: ("PTT OFF", "bold white on grey30"),
    PttState.TALKING: ("● TALKING", "bold white on red"),
    PttState.SENDING: ("SENDING…", "bold black on yellow"),
}


def state_badge(state: SessionState, reason: str | None = None) -> Text:
    """The state's badge; ``reconnecting`` names its attempt (from the reason, ``attempt n: ...``)."""
    label, style = _STATE_BADGES[state]
    attempt = _ATTEMPT.search(reason or "") if state is SessionState.RECONNECTING else None
    if attempt is not None:
        label = f"⟳ RECONNECTING (attempt {attempt.group(1)})"
    return Text(f" {label} ", style=style)


def ptt_badge(state: PttState) -> Text:
    label, style = _PTT_BADGES[state]
    return Text(f" {label} ", style=style)


def mute_badge(muted: bool) -> Text:
    return Text(" MIC MUTED ", style="bold white on dark_red") if muted else Text(" mic on ", style="green")
