"""Readiness and liveness: what ``/healthz`` and ``/livez`` answer, from the clock and the published events.

* **Liveness** (:class:`Heartbeat`): the process's event loop still runs. A
  task on the loop calls :meth:`Heartbeat.beat` every second; ``/livez`` fails
  once no beat came for ``stale_after`` seconds (a stuck loop: restart it).
* **Readiness** (:class:`SessionReadiness`): the flow runs and every realtime
  session is connected, or is renewing or reconnecting for less than its
  budget since it was last connected. A session that has never connected is
  not ready yet; one that ended is not ready.

Both are updated on the event loop and read from the exporter's thread, so
their state sits behind a lock. Times come from an injected clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from audio.base.clock import Clock
from audio.session.events import SessionState

DEFAULT_RECONNECT_BUDGET = 30.0
"""Seconds a session may spend reconnecting (or renewing) before the run reports itself unhealthy."""
STALE_AFTER = 10.0
"""Seconds without a heartbeat before the process counts as stuck."""

_SWITCHING = (SessionState.RECONNECTING, SessionState.RENEWING, SessionState.CONNECTING)


@dataclass(frozen=True)
class HealthReport:
    """One answer of a health endpoint: HTTP 200 when ``ok``, else 503; ``state`` and ``reason`` in its JSON."""

    ok: bool
    state: str
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "unhealthy", "state": self.state, "reason": self.reason}


class Heartbeat:
    """Liveness: fresh while :meth:`beat` keeps being called."""

    def __init__(self, clock: Clock, stale_after: float = STALE_AFTER) -> None:
        self.clock = clock
        self.stale_after = stale_after
        self._last = clock.monotonic()

    def beat(self) -> None:
        self._last = self.clock.monotonic()

    def report(self) -> HealthReport:
        silent = self.clock.monotonic() - self._last
        if silent > self.stale_after:
            return HealthReport(False, "stuck", f"the event loop has not run for {silent:.0f} s")
        return HealthReport(True, "live", "the event loop runs")


@dataclass
class _Session:
    state: SessionState
    reason: str | None
    since: float  # when the state began
    connected_once: bool
    left_connected: float | None  # when it last stopped being connected


class SessionReadiness:
    """Readiness of one run: the flow's state and each session's, by node id."""

    def __init__(self, clock: Clock, reconnect_budget: float = DEFAULT_RECONNECT_BUDGET) -> None:
        self.clock = clock
        self.reconnect_budget = reconnect_budget
        self._lock = threading.Lock()
        self._flow = "starting"  # starting, running, finished
        self._sessions: dict[str, _Session] = {}

    def flow_running(self, running: bool) -> None:
        with self._lock:
            self._flow = "running" if running else "finished"

    def session_state(self, node_id: str, state: SessionState, reason: str | None = None) -> None:
        now = self.clock.monotonic()
        with self._lock:
            known = self._sessions.get(node_id)
            if known is None:
                known = self._sessions[node_id] = _Session(state, reason, now, False, None)
            if known.state is SessionState.CONNECTED and state is not SessionState.CONNECTED:
                known.left_connected = now
            if state is SessionState.CONNECTED:
                known.connected_once, known.left_connected = True, None
            if state is not known.state:
                known.since = now
            known.state, known.reason = state, reason

    def new_session(self, node_id: str) -> None:
        """A node started a new session (the app ran the flow again): forget the old one's history."""
        with self._lock:
            self._sessions.pop(node_id, None)

    def report(self) -> HealthReport:
        now = self.clock.monotonic()
        with self._lock:
            flow = self._flow
            sessions = dict(self._sessions)
        if flow != "running":
            return HealthReport(False, flow, "the flow has not started yet" if flow == "starting" else "the flow has finished")
        worst: HealthReport | None = None
        for node_id, session in sorted(sessions.items()):
            report = self._session_report(node_id, session, now)
            if not report.ok:
                return report
            if worst is None or report.state != SessionState.CONNECTED:
                worst = report
        return worst or HealthReport(True, "running", "the flow runs")

    def _session_report(self, node_id: str, session: _Session, now: float) -> HealthReport:
        state, reason = session.state, f": {session.reason}" if session.reason else ""
        if state is SessionState.CONNECTED:
            return HealthReport(True, state.value, f"session {node_id} is connected")
        if state in _SWITCHING and session.connected_once and session.left_connected is not None:
            away = now - session.left_connected
            within = away <= self.reconnect_budget
            verdict = "within" if within else "past"
            return HealthReport(within, state.value, f"session {node_id} {state.value} for {away:.0f} s, {verdict} its "
                                                     f"{self.reconnect_budget:g} s budget{reason}")
        if state in _SWITCHING or state is SessionState.IDLE:
            return HealthReport(False, state.value, f"session {node_id} has not connected yet{reason}")
        return HealthReport(False, state.value, f"session {node_id} ended{reason}")


def serving(started: Callable[[], bool], what: str) -> Callable[[], HealthReport]:
    """Readiness of a server: ready while ``started()`` says it serves."""

    def report() -> HealthReport:
        if started():
            return HealthReport(True, "serving", f"the {what} is serving")
        return HealthReport(False, "stopped", f"the {what} is not serving")

    return report
