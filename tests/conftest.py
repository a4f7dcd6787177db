"""Shared fixtures: an isolated audio registry, a fake clock, and the real recordings' presence check."""

from __future__ import annotations

import pytest

from audio.clock import FakeClock
from audio.registry import AudioRegistry


@pytest.fixture
def registry() -> AudioRegistry:
    return AudioRegistry()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def real_recordings() -> None:
    """The Debian packages' human recordings must be installed: a test that needs them fails, never skips."""
    from tests.real_speech import require

    require()
