"""Which source address and interface the kernel picks towards a host.

Connecting a UDP socket makes the kernel do the route lookup and choose the
source address without sending a packet; ``getsockname`` reveals the choice.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from agent.errors import NetworkError
from agent.net.addresses import Inet6Address, interface_of

# Any port will do: a connected UDP socket sends nothing until written to.
_DISCARD_PORT = 9


@dataclass(frozen=True)
class Route:
    destination: str
    source: str
    interface: str | None


def os_error_words(err: OSError) -> str:
    """The cause of a socket error in words a technician can act on."""
    words = {
        errno.ECONNREFUSED: "connection refused",
        errno.ENETUNREACH: "network unreachable (no route)",
        errno.EHOSTUNREACH: "host unreachable",
        errno.ETIMEDOUT: "timed out",
        errno.EADDRNOTAVAIL: "no usable source address",
        errno.ECONNRESET: "connection reset",
        errno.EACCES: "blocked by local policy (permission denied)",
        errno.EPERM: "blocked by local policy (operation not permitted)",
    }
    if isinstance(err, socket.timeout):
        return "timed out"
    return words.get(err.errno or 0, err.strerror or str(err))


def route_source(destination: str, addresses: list[Inet6Address]) -> Route:
    """The kernel's source address and interface for ``destination`` (an IPv6 literal).

    Raises NetworkError naming the destination when there is no route.
    """
    target = destination.strip("[]")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((target, _DISCARD_PORT))
        except OSError as err:
            raise NetworkError(f"no route to {target}: {os_error_words(err)}") from None
        source = sock.getsockname()[0]
    return Route(destination=target, source=source, interface=interface_of(source, addresses))
