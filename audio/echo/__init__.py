"""Keeping the assistant from hearing itself: WebRTC echo cancellation, the echo guard, local barge-in, the echo probe.

How a session with an open speaker decides between cancellation and the guard (``echo_setup``), the
canceller itself (livekit's APM), the guard that mutes the microphone under loud echo, the local
barge-in detector, and the offline tools behind ``voxflow echo-test`` and ``echo-cancel``.

May import: ``audio.base``, ``audio.dsp``, ``audio.io``, ``audio.speech``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "AUDIBLE_DBFS": "echo_guard",
    "cancel_files": "echo_pair",
    "echo_probe": "echo_probe",
    "EchoGuard": "echo_guard",
    "EchoSetup": "echo_setup",
    "measure": "echo_probe",
    "phrase_audio": "echo_probe",
    "plan_echo": "echo_setup",
    "record_probe": "echo_probe",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
