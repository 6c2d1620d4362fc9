"""Which addresses a feed fetch may connect to, and which hosts are exempt.

``is_public_address`` is True only for a globally routable unicast address. IPv6 forms
that carry an IPv4 address inside are unwrapped first and the IPv4 address must itself be
global: IPv4-mapped (::ffff:0:0/96), NAT64 with the well-known prefix (64:ff9b::/96),
6to4 (2002::/16), Teredo (2001::/32, server and client) and an ISATAP interface id
(``::5efe:a.b.c.d``). Ranges that are never a feed's address are refused whatever they
carry: IPv4-compatible (::/96, deprecated), NAT64 local-use (64:ff9b:1::/48), site-local
(fec0::/10), documentation (2001:db8::/32, 3fff::/20), SRv6 SIDs (5f00::/16), and every
range ``ipaddress`` does not call global. A redirect to ``64:ff9b::127.0.0.1`` is thus
refused like one to ``127.0.0.1``.

``AllowList`` holds the ``allow_hosts`` setting: entries are ``host:port`` (``[v6]:port``
for an IPv6 literal); a bare ``host`` means its default ports only (80 for http, 443 for
https), never every port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

_ALWAYS_REFUSED = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",  # IPv4-compatible (RFC 4291 2.5.5.1: deprecated), :: and ::1 included
        "64:ff9b:1::/48",  # NAT64 local-use prefix (RFC 8215): never globally routed
        "fec0::/10",  # site-local (RFC 3879: deprecated, still routed inside some sites)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 segment identifiers (RFC 9602)
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # the upper half of an ISATAP interface id (RFC 5214)


def _ipv4_ok(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not ip.is_multicast


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo, ISATAP)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if (int(ip) >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public_address(addr: str) -> bool:
    """True for a globally routable unicast address; metadata (169.254.169.254) is link-local."""
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_ok(ip)
    if ip.is_multicast or any(ip in net for net in _ALWAYS_REFUSED):
        return False
    inner = embedded_ipv4(ip)
    if inner:  # the IPv4 address decides: the packet ends up there
        return all(_ipv4_ok(v4) for v4 in inner)
    return ip.is_global


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


@dataclass(frozen=True)
class AllowList:
    """``allow_hosts`` entries as (host, port or None for the default ports)."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def parse(cls, raw: Iterable[str]) -> AllowList:
        entries: set[tuple[str, int | None]] = set()
        for item in raw:
            entries.add(parse_entry(item))
        return cls(frozenset(entries))

    def allows(self, host: str, port: int, scheme: str) -> bool:
        host = host.lower().rstrip(".")
        if (host, port) in self.entries:
            return True
        return (host, None) in self.entries and port == _default_port(scheme)

    def __bool__(self) -> bool:
        return bool(self.entries)


def parse_entry(item: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> (lower-case host, port or None); ValueError if not."""
    text = item.strip().lower()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host:
            raise ValueError(f"allow_hosts entry {item!r}: unclosed [")
        port_text = rest.removeprefix(":") if rest else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"allow_hosts entry {item!r}: expected :port after ]")
    elif text.count(":") > 1:  # a bare IPv6 literal: no port can be told apart
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
    host = host.rstrip(".")
    if not host:
        raise ValueError(f"allow_hosts entry {item!r} names no host")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"allow_hosts entry {item!r}: port must be 1-65535")
    return host, int(port_text)
