"""The header's name for the Realtime service a run uses.

The precedence lives in one place, ``flow/provider.py``; the realtime node uses
the same function, so the header always names the service the run talks to.
"""

from __future__ import annotations

from flow.model import Flow
from flow.options import RunOptions
from flow.provider import REALTIME_NODE_TYPE, header_label

__all__ = ["REALTIME_NODE_TYPE", "choose_provider"]


def choose_provider(flow: Flow, options: RunOptions) -> str:
    """The header's label for the service this run will use."""
    return header_label(flow, options)
