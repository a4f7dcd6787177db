"""Which Realtime service a run talks to: the one precedence both the header and the run use.

Order: ``--provider``; a token service (``--token-service``, with a share
token or the caller's own key); the ``provider`` a realtime node names; an
``OPENAI_API_KEY`` (OpenAI); otherwise the local Realtime server, labelled
``local (no OPENAI_API_KEY)`` so the user sees why. The choice is a pure
function of the run options and the node's setting, so the header
(``tui/provider.py``) and the node (``flow/nodes/realtime.py``) cannot
disagree. See docs/ARCHITECTURE.md ("Providers").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from audio.transports.service_http import host_of
from flow.model import Flow
from flow.options import RunOptions

REALTIME_NODE_TYPE = "realtime-conversation"
PROVIDERS = ("openai", "local")
LOCAL_NO_KEY = "local (no OPENAI_API_KEY)"
NO_KEY_MESSAGE = "OPENAI_API_KEY is not set: export it, pass --share-token/--token-service, or use --provider local"

Service = Literal["openai", "local", "token-service"]


@dataclass(frozen=True)
class ProviderChoice:
    """Where the run's ephemeral secret comes from, the header's label for it, and why it cannot run."""

    service: Service
    label: str
    error: str | None = None
    """Set when this choice cannot run (the run fails with it; the header still shows the label)."""


def choose_provider(options: RunOptions, node_provider: str | None) -> ProviderChoice:
    """The service for a realtime node whose ``provider`` setting is ``node_provider``."""
    explicit = options.provider
    if explicit is not None and explicit not in PROVIDERS:
        return ProviderChoice("local", explicit, f"unknown provider {explicit!r}: use --provider openai or --provider local")
    if explicit == "local":
        return ProviderChoice("local", "local")
    if options.share_token or options.token_service:
        if not options.token_service:
            return ProviderChoice("token-service", "token service", "a share token needs a token service: pass --token-service URL")
        label = f"token service {host_of(options.token_service)}"
        if not options.share_token and not options.api_key:
            return ProviderChoice(
                "token-service", label,
                "the token service needs a share token or an OpenAI key: pass --share-token or export OPENAI_API_KEY",
            )
        return ProviderChoice("token-service", label)
    choice = explicit or node_provider or options.defaults.provider  # the config file's, below the node's
    if choice == "local":
        return ProviderChoice("local", "local")
    if choice is None and not options.api_key:
        return ProviderChoice("local", LOCAL_NO_KEY)
    if not options.api_key:
        return ProviderChoice("openai", "openai", NO_KEY_MESSAGE)
    return ProviderChoice("openai", "openai")


def node_provider(flow: Flow) -> str | None:
    """The ``provider`` the flow's first realtime node names (None: left to the default)."""
    for spec in flow.nodes:
        if spec.type == REALTIME_NODE_TYPE:
            value = getattr(spec.settings, "provider", None)
            return None if value is None else str(value)
    return None


def header_label(flow: Flow, options: RunOptions) -> str:
    """The header's name for the service this run of ``flow`` uses (``none`` without a realtime node)."""
    if not any(spec.type == REALTIME_NODE_TYPE for spec in flow.nodes):
        return "none"
    return choose_provider(options, node_provider(flow)).label
