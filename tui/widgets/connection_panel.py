"""The connection panel: everything about the live session's link and turn-taking.

State and its reason (with the fix, when the session gave one), ICE and
data-channel state, call id, model, voice, VAD, PTT, mute, microphone and
speaker meters, last-turn latency, token usage, the latency budget (once the
session publishes one) and rate limits. It paints from
:class:`~tui.session_view.SessionView` copy in its ``view`` reactive (the app
assigns a new one when the session view changed) and relays itself out only
when a change can alter its height. Eight
lines (plus error, rate-limit and output-file lines when there are any) so it fits 80x24.
"""

from __future__ import annotations

from dataclasses import replace

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from audio.session.events import LatencyBudget, PttState, SessionState
from tui.format import meter
from tui.session_view import SessionView
from tui.widgets.badges import state_badge

PTT_WORDS = {PttState.OFF: "off", PttState.TALKING: "TALKING", PttState.SENDING: "sending…"}


def link_text(transport: str | None, link: str, channel: str) -> str:
    """Which transport carries the session, and its state."""
    if transport == "WebSocket":
        return f"WebSocket {channel}"
    prefix = f"{transport} · " if transport else ""
    return f"{prefix}ICE {link} · DC {channel}"


def vad_enabled(vad: str | None) -> bool:
    """Whether the service detects turns itself (PTT then does not apply)."""
    return vad is not None and vad != "" and vad.lower() not in ("none", "off", "disabled", "manual", "null", "push-to-talk")


def budget_line(budget: LatencyBudget) -> str:
    """The latency budget in one line: RTT · jitter buffer (its target) · playout · last turn."""

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.0f}"

    jitter = ms(budget.jitter_buffer_ms)
    if budget.jitter_target_ms is not None:
        jitter += f"/{ms(budget.jitter_target_ms)}"
    lost = f" · {budget.concealed_frames} concealed" if budget.concealed_frames else ""
    return (f"RTT {ms(budget.network_rtt_ms)} · jitter {jitter} · play {ms(budget.playout_ms)}"
            f" · turn {ms(budget.turn_latency_ms)} ms{lost}")


FREQUENT = frozenset({"input_dbfs", "output_dbfs", "elapsed", "remaining", "warning", "budget", "echo", "echo_removed_db"})


def layout_key(view: SessionView) -> tuple[object, ...]:
    """What can change the panel's height; meters and timers (the frequent updates) cannot."""
    return (view.budget is not None, *(value for name, value in vars(view).items() if name not in FREQUENT))


class ConnectionPanel(Widget):
    DEFAULT_CSS = """
    ConnectionPanel { height: auto; border: round $primary-darken-1; padding: 0 1; }
    """

    view: reactive[SessionView] = reactive(SessionView)
    output_note: reactive[str | None] = reactive(None, layout=True)
    """Where the assistant's audio is written, when it is."""

    def __init__(self, view: SessionView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(ConnectionPanel.view, replace(view))
        self.border_title = "Connection"

    def watch_view(self, old: SessionView, new: SessionView) -> None:
        if layout_key(old) != layout_key(new):
            self.refresh(layout=True)

    def render(self) -> Table:
        view = self.view
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(style="dim", no_wrap=True, width=6)
        grid.add_column(ratio=1, overflow="fold")
        state = Text.assemble(state_badge(view.state, view.reason))
        if view.reason and view.state != SessionState.ERROR:
            state.append(f" {view.reason}", style="italic")
        grid.add_row("state", state)
        if view.error:
            grid.add_row(Text("error", style="bold red"), Text(view.error, style="red"))
        grid.add_row("link", link_text(view.transport, view.ice_state, view.datachannel_state))
        grid.add_row("model", f"{view.model or '–'} · voice {view.voice or '–'}")
        turns = Text(f"VAD {view.vad or '–'} · PTT ")
        turns.append(PTT_WORDS[view.ptt], style="bold red" if view.ptt == PttState.TALKING else "")
        grid.add_row("turns", turns)
        mic = meter(view.input_dbfs)
        mic.append(" MUTED" if view.muted else "", style="bold red")
        grid.add_row("mic", mic)
        spk = meter(view.output_dbfs)
        if view.echo:
            removed = f" {view.echo_removed_db:.0f} dB removed" if view.echo_removed_db is not None else ""
            spk.append(f" · echo {view.echo}{removed}", style="dim")
        grid.add_row("spk", spk)
        latency = "–" if view.latency is None else f"{view.latency * 1000:.0f} ms"
        usage = view.usage
        grid.add_row("usage", f"{latency} · {usage.total_tokens:,} tok ({usage.input_tokens:,}↑ {usage.output_tokens:,}↓)")
        if view.budget is not None:
            grid.add_row("delay", budget_line(view.budget))
        if view.rate_limits:
            grid.add_row("limits", " · ".join(f"{limit.name} {limit.remaining:,}/{limit.limit:,}" for limit in view.rate_limits))
        grid.add_row("call", view.call_id or "–")
        if self.output_note:
            grid.add_row("audio", self.output_note)
        return grid
