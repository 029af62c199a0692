"""Name resolution for the MCU and the responder: AAAA first, A only to say why not."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from agent.config import is_ipv6_literal


@dataclass(frozen=True)
class Resolution:
    host: str
    aaaa: list[str] = field(default_factory=list)
    a: list[str] = field(default_factory=list)
    ms: float = 0.0
    error: str | None = None  # resolver's words when there is no AAAA
    literal: bool = False


def _lookup(host: str, family: int) -> tuple[list[str], str | None]:
    try:
        infos = socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)
    except socket.gaierror as err:
        return [], err.strerror
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen, None


def resolve(host: str, want_a: bool = True) -> Resolution:
    """Look ``host`` up: AAAA timed; A only when AAAA is missing (to report "only A")."""
    if is_ipv6_literal(host):
        return Resolution(host, aaaa=[host.strip("[]")], literal=True)
    started = time.perf_counter()
    aaaa, error = _lookup(host, socket.AF_INET6)
    ms = (time.perf_counter() - started) * 1000
    a: list[str] = []
    if not aaaa and want_a:
        a, _ = _lookup(host, socket.AF_INET)
    return Resolution(host, aaaa=aaaa, a=a, ms=round(ms, 2), error=error)
