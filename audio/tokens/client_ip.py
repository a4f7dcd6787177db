"""Which address a request counts against: the peer, or a trusted proxy's word.

``X-Forwarded-For`` is believed only when the connection comes from a proxy
named with ``--trusted-proxy`` (none by default, not even loopback). The
header is walked from the right, skipping trusted hops; the first untrusted
address is the client. IPv6 clients are counted per /64, since one host
usually owns a whole /64.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from audio.base.errors import VoxflowError

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_trusted(cidrs: Iterable[str]) -> tuple[IpNetwork, ...]:
    networks: list[IpNetwork] = []
    for text in cidrs:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise VoxflowError(
                f"--trusted-proxy {text!r} is not an IP address or CIDR block.",
                hint="Use e.g. --trusted-proxy 10.0.0.0/8 or --trusted-proxy 127.0.0.1.",
            ) from None
    return tuple(networks)


def _parse(text: str) -> IpAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientIpResolver:
    """Resolves the client address of a request from its peer and proxy headers."""

    def __init__(self, trusted_proxies: Sequence[IpNetwork] = ()) -> None:
        self.trusted_proxies = tuple(trusted_proxies)

    def _trusted(self, address: IpAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.trusted_proxies)

    def resolve(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> IpAddress | None:
        """The client address, or None when even the peer is unknown."""
        current = _parse(peer) if peer else None
        if current is None:
            return None
        if not self._trusted(current):
            return current
        hops = [hop for header in forwarded_for for hop in header.split(",")]
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                # garbage from beyond the trusted chain: stop at the last trusted hop
                return current
            current = address
            if not self._trusted(address):
                return address
        return current


def rate_limit_key(address: IpAddress | None) -> str:
    """IPv4 as is; IPv6 as its /64; unknown peers share one bucket."""
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
