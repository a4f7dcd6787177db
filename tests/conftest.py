"""Shared fixtures: an isolated audio registry and a fake clock per test."""

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
