"""Shared fixtures: an isolated audio registry, a fake clock, and the real recordings' presence check.

Also how tests share the machine under pytest-xdist (``-n 4 --dist loadgroup``, pyproject's addopts):
each worker is its own process, so session fixtures (the throwaway PostgreSQL cluster) are per
worker; a module whose tests share a module-scoped fixture runs on one worker, which builds it once.
Real-time tests run beside each other: they claim behaviour, and leave how fast to the benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audio.base.clock import FakeClock
from audio.base.registry import AudioRegistry


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        if item.get_closest_marker("xdist_group") is None and definitions is not None and any(
            defs and defs[-1].scope == "module" for defs in definitions.name2fixturedefs.values()
        ):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


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
