"""Parsing of ``--listen`` addresses: ``[::]:8443``, ``[::1]:0``, ``127.0.0.1:8080``."""

from __future__ import annotations

import ipaddress


class ListenError(ValueError):
    """A --listen value that is not HOST:PORT."""


def parse_listen(value: str) -> tuple[str, int]:
    """``"[::1]:8443"`` -> ``("::1", 8443)``; IPv6 addresses need brackets."""
    if value.startswith("["):
        host, sep, port_text = value[1:].partition("]:")
        if not sep:
            raise ListenError(f"{value!r}: expected [IPV6]:PORT, e.g. [::]:8443")
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep or ":" in host:
            raise ListenError(f"{value!r}: expected HOST:PORT, with IPv6 in brackets, e.g. [::]:8443")
    try:
        port = int(port_text)
    except ValueError:
        raise ListenError(f"{value!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ListenError(f"{value!r}: port must be 0-65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ListenError(f"{value!r}: {host!r} is not an IP address") from None
    return host, port
