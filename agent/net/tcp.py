"""Timed TCP connects over IPv6, with the cause of a failure in words."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from agent.net.route import os_error_words


@dataclass(frozen=True)
class TcpOutcome:
    address: str
    port: int
    ok: bool
    ms: float
    error: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"TCP {self.port} to {self.address}: connected in {self.ms:.0f} ms"
        return f"TCP {self.port} to {self.address}: {self.error} after {self.ms:.0f} ms"


def tcp_connect(address: str, port: int, timeout: float = 3.0) -> TcpOutcome:
    """Open and close one TCP connection to ``[address]:port``, timing the handshake."""
    started = time.perf_counter()
    try:
        with socket.create_connection((address, port), timeout=timeout):
            pass
    except OSError as err:
        ms = (time.perf_counter() - started) * 1000
        return TcpOutcome(address, port, False, round(ms, 2), os_error_words(err))
    ms = (time.perf_counter() - started) * 1000
    return TcpOutcome(address, port, True, round(ms, 2))
