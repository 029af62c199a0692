"""Which source address and interface the kernel picks towards a host.

Connecting a UDP socket makes the kernel do the route lookup and choose the
source address without sending a packet; ``getsockname`` reveals the choice.
The outgoing interface comes from ``ip -j -6 route get`` (iproute2): the source
address may sit on another interface than the one the packets leave by (a
VPN's address used over the LAN, an on-link route without an address of its
own). Without iproute2 the source address's interface stands in.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from typing import Any

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
    interface = route_interface(target) or interface_of(source, addresses)
    return Route(destination=target, source=source, interface=interface)


def parse_route_get(text: str) -> str | None:
    """The ``dev`` of ``ip -j -6 route get`` output (JSON), or None."""
    try:
        routes: Any = json.loads(text)
    except ValueError:
        return None
    if isinstance(routes, list) and routes and isinstance(routes[0], dict):
        dev = routes[0].get("dev")
        return dev if isinstance(dev, str) and dev else None
    return None


def route_interface(destination: str, timeout: float = 2.0) -> str | None:
    """The interface the kernel sends to ``destination`` by; None when unknown."""
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)
    if ip is None:
        return None
    try:
        done = subprocess.run([ip, "-j", "-6", "route", "get", destination], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_route_get(done.stdout) if done.returncode == 0 else None
