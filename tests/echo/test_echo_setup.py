"""Choosing the echo defence (auto / aec / guard / off) and wiring it between a microphone, a pipe and the guard."""

from __future__ import annotations

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.dsp.pipe import AudioPipe
from audio.echo.echo_guard import EchoGuard
from audio.echo.echo_setup import plan_echo
from audio.io.sources import SilenceSource
from tests.echo.devices import SimulatedDevices
from tests.echo.room import Room
from flow.nodes.realtime import RealtimeConversationSettings


def microphone() -> SimulatedDevices:
    return SimulatedDevices(Room(48_000))


def test_auto_cancels_with_a_real_microphone_and_leaves_a_file_alone() -> None:
    auto = plan_echo("auto", microphone())
    assert auto.canceller is not None and auto.guard and auto.notice is None
    assert auto.label == "guard"  # no speaker attached yet: nothing to cancel against
    file_input = plan_echo("auto", SilenceSource(48_000, 1, realtime=False))
    assert file_input.canceller is None and not file_input.guard  # no room: nothing to guard against


def test_auto_without_the_package_keeps_the_guard_and_says_how_to_install() -> None:
    setup = plan_echo("auto", microphone(), available=lambda: False)
    assert setup.canceller is None and setup.guard
    assert setup.notice is not None and "pip install livekit" in setup.notice and "\n" not in setup.notice


def test_aec_without_the_package_is_a_clear_error() -> None:
    with pytest.raises(VoxflowError, match="livekit") as info:
        plan_echo("aec", microphone(), available=lambda: False)
    assert "pip install livekit" in (info.value.hint or "")


@pytest.mark.parametrize(("mode", "guard"), [("guard", True), ("off", False)])
def test_guard_and_off(mode: str, guard: bool) -> None:
    setup = plan_echo(mode, microphone())  # type: ignore[arg-type]
    assert setup.canceller is None and setup.guard is guard and setup.label == ("guard" if guard else "off")


def test_attach_opens_the_guard_and_the_canceller_gates_its_own_convergence() -> None:
    devices = microphone()
    setup = plan_echo("auto", devices)
    pipe = AudioPipe(24_000, 1)
    guard = EchoGuard(FakeClock(), enabled=setup.guard)
    setup.attach(devices, pipe, guard)
    assert devices.capture_processor is not None and pipe.playback_taps
    canceller = setup.canceller
    assert canceller is not None and not canceller.active and guard.enabled  # no speaker yet: the guard defends
    for notify in pipe.on_speaker:  # a speaker starts playing the pipe
        notify()
    assert canceller.active and not guard.enabled and not setup.guard and setup.label == "aec (converging)"
    assert canceller.gate is not None
    tone = (3000 * np.sin(np.arange(960) * 0.05)).astype(np.int16).reshape(-1, 1)
    for _ in range(160):  # 3.2 s of audible far end
        canceller.note_played(tone, 48_000)
        devices.capture_processor(tone // 4, 48_000)
    assert canceller.converged and not guard.enabled and setup.label == "aec"
    setup.detach(devices)
    assert devices.capture_processor is None


def test_without_the_echo_guard_setting_the_convergence_gate_is_off_too() -> None:
    devices = microphone()
    setup = plan_echo("aec", devices)
    setup.attach(devices, AudioPipe(24_000, 1), EchoGuard(FakeClock(), enabled=False), allow_guard=False)
    assert setup.canceller is not None and setup.canceller.gate is None


def test_node_settings() -> None:
    settings = RealtimeConversationSettings(echo_cancellation="aec", noise_suppression=True)
    assert settings.echo_cancellation == "aec" and settings.noise_suppression
    with pytest.raises(ValueError):
        RealtimeConversationSettings(echo_cancellation="on")  # type: ignore[arg-type]
