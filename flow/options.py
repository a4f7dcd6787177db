"""How one run of a flow is wired to the outside world.

Front ends (TUI, headless runner) build a :class:`RunOptions` from the command
line and environment; nodes read it through their context. Overrides let the
same flow run on a desk with a headset and in CI with files, unedited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from audio.base.clock import Clock, SystemClock
from audio.session.tools import Approver

if TYPE_CHECKING:  # numpy: loaded when a run has a live source, not by ``voxflow validate``
    from audio.dsp.frames import AudioSource


@dataclass
class ConfigDefaults:
    """The config file's defaults for a run (``$XDG_CONFIG_HOME/voxflow/config.toml``, see :mod:`flow.run_config`).

    They rank below the command line and below a node's own setting: a node
    uses one only where the flow leaves that setting out (:func:`node_setting`).
    """

    provider: str | None = None
    transport: str | None = None
    input_device: str | int | None = None
    output_device: str | int | None = None
    renew: bool | None = None
    reconnect: bool | None = None


def node_setting(settings: BaseModel, name: str, default: object | None) -> Any:
    """A node's setting as the flow wrote it; where the flow leaves it out, the config file's ``default`` if any."""
    if default is None or name in settings.model_fields_set:
        return getattr(settings, name)
    return default


@dataclass
class RunOptions:
    input_file: Path | None = None
    """Replaces every microphone source (``--input IN.wav``)."""
    input_source: AudioSource | None = None
    """A live source that replaces every microphone, ahead of ``input_file`` (``voxflow test``'s caller)."""
    output_file: Path | None = None
    """Replaces every speaker sink (``--output OUT.wav``)."""
    input_device: str | int | None = None
    output_device: str | int | None = None
    realtime_pacing: bool = True
    """File sources send in real time; False sends as fast as the consumer reads (tests)."""
    provider: str | None = None
    """Overrides each realtime node's ``provider`` (``openai`` or ``local``)."""
    api_key: str | None = field(default=None, repr=False)
    """OpenAI API key (from ``OPENAI_API_KEY``); never logged, never in repr()."""
    base_url: str | None = None
    """Realtime service base URL (``OPENAI_BASE_URL``), e.g. a local server."""
    share_token: str | None = field(default=None, repr=False)
    token_service: str | None = None
    transport: str | None = None
    """Overrides each realtime node's ``transport`` (``webrtc``, ``websocket`` or ``auto``)."""
    max_duration: float | None = None
    """Seconds; caps every realtime session of the run."""
    renew: bool = False
    """Every realtime session renews before its cap (``--renew``)."""
    reconnect: bool = True
    """False: no realtime session reconnects after a drop, whatever its node says (``--no-reconnect``)."""
    record_path: Path | None = None
    """Stereo recording: user left, assistant right."""
    unattended: bool = False
    """Nobody at the keys (headless runs): with ``vad: disabled`` the whole input is one push-to-talk turn."""
    defaults: ConfigDefaults = field(default_factory=ConfigDefaults)
    """The config file's defaults, below flags and node settings."""
    clock: Clock = field(default_factory=SystemClock)
    local_server_url: str | None = None
    """A local Realtime server already running (``voxflow test`` shares one between its conversations): the local
    provider connects there instead of starting a server of its own. Its rule script must be the node's."""
    tool_stubs: dict[str, str] = field(default_factory=dict)
    """Tools answered with a fixed output instead of running (``voxflow test``'s ``tools:`` stubs), by function name."""
    tool_approver: Approver | None = None
    """Asks the operator about each call of a tool marked ``confirm`` (the app's y/n screen; headless
    ``--approve-tools`` approves all); None refuses those calls."""
