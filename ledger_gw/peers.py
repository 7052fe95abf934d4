"""Whom a connection counts for, when a server shares its room among its clients."""

from __future__ import annotations

import ipaddress
from typing import Any


def source(peer: Any) -> str:
    """A peer's IPv4 address, or its IPv6 address's /64 (a host is commonly given a
    whole /64); ``peer`` is an address, or a socket's (address, port, ...) tuple."""
    address = str(peer[0] if isinstance(peer, tuple) and peer else peer)
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return address
