"""Shared fixtures: an isolated audio registry, a fake clock, and the real recordings' presence check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audio.base.clock import FakeClock
from audio.base.registry import AudioRegistry


@pytest.fixture(autouse=True)
def _node_types_restored() -> Iterator[None]:
    """Node types a test registers (test-gate, test-tool-user, ...) do not leak into the next test."""
    from flow.nodes import registry as node_registry

    before = set(node_registry.type_names())
    yield
    for name in set(node_registry.type_names()) - before:
        node_registry.unregister(name)


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
