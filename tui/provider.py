"""Which Realtime service a run talks to, and how the header names it.

Order: ``--provider``; a share token (the token service's host is shown); a
``provider`` written in the flow; an ``OPENAI_API_KEY`` (openai); otherwise
the local Realtime server, and the header says why.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flow.model import Flow
from flow.options import RunOptions

REALTIME_NODE_TYPE = "realtime-conversation"


def flow_provider(flow: Flow) -> str | None:
    """The provider a realtime node of ``flow`` names explicitly, if any."""
    for spec in flow.nodes:
        if spec.type == REALTIME_NODE_TYPE and "provider" in spec.settings.model_fields_set:
            return str(getattr(spec.settings, "provider"))
    return None


def choose_provider(flow: Flow, options: RunOptions) -> str:
    """The header's label for the service this run will use (the realtime node makes the same choice)."""
    if options.provider:
        return options.provider
    if options.share_token and options.token_service:
        host = urlsplit(options.token_service).hostname or options.token_service
        return f"token service {host}"
    named = flow_provider(flow)
    if named:
        return named
    if options.api_key:
        return "openai"
    if any(spec.type == REALTIME_NODE_TYPE for spec in flow.nodes):
        return "local (no OPENAI_API_KEY)"
    return "none"
