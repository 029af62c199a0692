"""Name resolution for the MCU and the responder: AAAA first, A only to say why not.

``getaddrinfo`` has no timeout of its own (glibc retries every nameserver of
resolv.conf): each lookup runs in a helper thread and is given up after
``timeout`` seconds. A lookup given up keeps its thread until the resolver
returns; it holds nothing the agent needs.
"""

from __future__ import annotations

import socket
import threading
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


RESOLVE_TIMEOUT_S = 5.0
NO_ANSWER = "no answer from the name server"


def _lookup_within(host: str, family: int, timeout: float) -> tuple[list[str], str | None]:
    answer: list[tuple[list[str], str | None]] = []
    helper = threading.Thread(target=lambda: answer.append(_lookup(host, family)), name="resolve", daemon=True)
    helper.start()
    helper.join(timeout)
    if not answer:
        return [], f"{NO_ANSWER} within {timeout:g} s"
    return answer[0]


def resolve(host: str, want_a: bool = True, timeout: float = RESOLVE_TIMEOUT_S) -> Resolution:
    """Look ``host`` up: AAAA timed; A only when AAAA is missing (to report "only A")."""
    if is_ipv6_literal(host):
        return Resolution(host, aaaa=[host.strip("[]")], literal=True)
    started = time.perf_counter()
    aaaa, error = _lookup_within(host, socket.AF_INET6, timeout)
    ms = (time.perf_counter() - started) * 1000
    a: list[str] = []
    if not aaaa and want_a and not (error or "").startswith(NO_ANSWER):  # a silent server: say so at once
        a, _ = _lookup_within(host, socket.AF_INET, timeout)
    return Resolution(host, aaaa=aaaa, a=a, ms=round(ms, 2), error=error)
