"""Client addresses: the peer unless a trusted proxy vouches; IPv6 counted per /64."""

from __future__ import annotations

import ipaddress

import pytest

from audio.base.errors import VoxflowError
from audio.tokens.client_ip import ClientIpResolver, parse_trusted, rate_limit_key


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_untrusted_peer_forged_header_ignored() -> None:
    resolver = ClientIpResolver(parse_trusted(["10.0.0.0/8"]))
    assert resolver.resolve("203.0.113.7", ["198.51.100.1"]) == ip("203.0.113.7")


def test_loopback_is_not_trusted_by_default() -> None:
    assert ClientIpResolver().resolve("127.0.0.1", ["198.51.100.1"]) == ip("127.0.0.1")


def test_trusted_proxy_counts_the_real_client_walking_from_the_right() -> None:
    resolver = ClientIpResolver(parse_trusted(["10.0.0.0/8", "127.0.0.1"]))
    # the client forged the leftmost entry; the proxies appended the real hops
    assert resolver.resolve("127.0.0.1", ["6.6.6.6, 198.51.100.9, 10.1.2.3"]) == ip("198.51.100.9")
    assert resolver.resolve("127.0.0.1", ["6.6.6.6", "198.51.100.9"]) == ip("198.51.100.9")  # repeated headers


def test_trusted_chain_with_garbage_or_only_proxies() -> None:
    resolver = ClientIpResolver(parse_trusted(["10.0.0.0/8"]))
    assert resolver.resolve("10.0.0.1", ["not-an-ip, 10.0.0.2"]) == ip("10.0.0.2")
    assert resolver.resolve("10.0.0.1", ["10.0.0.3, 10.0.0.2"]) == ip("10.0.0.3")
    assert resolver.resolve("10.0.0.1", []) == ip("10.0.0.1")
    assert resolver.resolve("10.0.0.1", ["[2001:db8::5]:443"]) == ip("2001:db8::5")
    assert resolver.resolve("10.0.0.1", ["198.51.100.4:5555"]) == ip("198.51.100.4")


def test_ipv6_counted_per_64_and_mapped_ipv4_unwrapped() -> None:
    a = ClientIpResolver().resolve("2001:db8:1:2:aaaa::1")
    b = ClientIpResolver().resolve("2001:db8:1:2:ffff::9")
    c = ClientIpResolver().resolve("2001:db8:1:3::1")
    assert rate_limit_key(a) == rate_limit_key(b) == "2001:db8:1:2::/64"
    assert rate_limit_key(c) != rate_limit_key(a)
    assert rate_limit_key(ClientIpResolver().resolve("::ffff:203.0.113.7")) == "203.0.113.7"
    assert rate_limit_key(None) == "unknown"


def test_bad_trusted_proxy_is_a_voxflow_error() -> None:
    with pytest.raises(VoxflowError, match="--trusted-proxy"):
        parse_trusted(["example.com"])
