"""ICMPv6 echo (ping) over a raw socket, which needs CAP_NET_RAW.

The kernel fills in the ICMPv6 checksum on raw ICMPv6 sockets (RFC 3542 §3.1),
so the request is just type, code, zero checksum, identifier, sequence, payload.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from dataclasses import dataclass

ECHO_REQUEST = 128
ECHO_REPLY = 129
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence


class NoRawSocket(Exception):
    """The process lacks CAP_NET_RAW."""


@dataclass(frozen=True)
class EchoOutcome:
    address: str
    sent: int
    received: int
    rtts_ms: list[float]

    @property
    def ok(self) -> bool:
        return self.received > 0


def build_echo_request(identifier: int, sequence: int, payload: bytes = b"bridge-agent") -> bytes:
    return _HEADER.pack(ECHO_REQUEST, 0, 0, identifier & 0xFFFF, sequence & 0xFFFF) + payload


def parse_echo_reply(data: bytes) -> tuple[int, int] | None:
    """(identifier, sequence) of an echo reply; None for any other ICMPv6 message."""
    if len(data) < _HEADER.size:
        return None
    kind, _code, _sum, identifier, sequence = _HEADER.unpack_from(data)
    if kind != ECHO_REPLY:
        return None
    return identifier, sequence


def open_raw_socket() -> socket.socket:
    try:
        return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except PermissionError:
        raise NoRawSocket("a raw ICMPv6 socket needs CAP_NET_RAW") from None


def ping(address: str, count: int = 3, interval: float = 0.05, timeout: float = 1.0) -> EchoOutcome:
    """``count`` echo requests to ``address``; raises NoRawSocket without CAP_NET_RAW."""
    identifier = (os.getpid() ^ int(time.monotonic() * 1000)) & 0xFFFF
    sent_at: dict[int, float] = {}
    answered: set[int] = set()
    rtts: list[float] = []
    with open_raw_socket() as sock:
        sock.setblocking(False)
        next_send = time.monotonic()
        deadline = next_send + (count - 1) * interval + timeout
        while time.monotonic() < deadline and len(rtts) < count:
            now = time.monotonic()
            if len(sent_at) < count and now >= next_send:
                sequence = len(sent_at) + 1
                sent_at[sequence] = time.perf_counter()
                sock.sendto(build_echo_request(identifier, sequence), (address, 0))
                next_send += interval
            wake = min(deadline, next_send if len(sent_at) < count else deadline)
            readable, _, _ = select.select([sock], [], [], max(0.0, wake - time.monotonic()))
            if not readable:
                continue
            data, peer = sock.recvfrom(65535)
            reply = parse_echo_reply(data)
            # A raw socket sees every ICMPv6 message: keep only our echo replies from the target.
            if (
                reply
                and reply[0] == identifier
                and reply[1] in sent_at
                and reply[1] not in answered
                and _same(peer[0], address)
            ):
                answered.add(reply[1])
                rtts.append(round((time.perf_counter() - sent_at[reply[1]]) * 1000, 3))
    return EchoOutcome(address, len(sent_at), len(rtts), rtts)


def _same(a: str, b: str) -> bool:
    try:
        return socket.inet_pton(socket.AF_INET6, a.split("%")[0]) == socket.inet_pton(
            socket.AF_INET6, b
        )
    except OSError:
        return False
