"""RFC 8762 STAMP session-reflector, unauthenticated mode, stateless (§4.3.1).

The reflector answers a Session-Sender test packet of exactly 44 octets (the
unauthenticated format, RFC 8762 §4.2.1, which is what bridge-agent sends) with a
Session-Reflector test packet of the same 44 octets. Any other size is dropped
unanswered: authenticated packets (112 octets) cannot be verified here, RFC 8972
extensions are not implemented, and nothing else is STAMP. So the reflector can
never amplify: an answer is never larger than its request.

     0                   1                   2                   3
    |  Sequence Number (= sender's, stateless)                      |
    |  Timestamp (64-bit NTP, when this packet is sent)             |
    |  Error Estimate  |  MBZ                                       |
    |  Receive Timestamp (64-bit NTP, when the test packet arrived) |
    |  Session-Sender Sequence Number                               |
    |  Session-Sender Timestamp                                     |
    |  Session-Sender Error Estimate | MBZ                          |
    |  Ses-Sender TTL  |  MBZ (3 octets)                            |

Runs on a thread with a blocking socket: ``recvmsg`` gives the received hop
limit (IPV6_RECVHOPLIMIT) that asyncio's datagram transport would hide.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

SENDER_PACKET = struct.Struct("!IQH30x")  # seq, timestamp, error estimate, MBZ
REFLECTOR_PACKET = struct.Struct("!IQH2xQIQH2xB3x")
PACKET_SIZE = SENDER_PACKET.size  # 44 octets in unauthenticated mode, request and answer
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
# Error estimate (RFC 4656 §4.1.2): S=0 (not asserting external sync), Z=0 (NTP format),
# scale 0, multiplier 1; the multiplier must not be zero.
ERROR_ESTIMATE = 0x0001
_HOPLIMIT_UNKNOWN = 255


def ntp_timestamp(unix_time: float) -> int:
    """Unix time to the 64-bit NTP timestamp format (32.32 fixed point since 1900)."""
    seconds = int(unix_time)
    fraction = int((unix_time - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | fraction


@dataclass(frozen=True)
class SenderPacket:
    seq: int
    timestamp: int
    error_estimate: int


def parse_sender_packet(data: bytes) -> SenderPacket | None:
    """The sender's fields, or None for a datagram that is not an unauthenticated test packet."""
    if len(data) != PACKET_SIZE:
        return None
    seq, timestamp, error_estimate = SENDER_PACKET.unpack_from(data)
    return SenderPacket(seq, timestamp, error_estimate)


def build_reflector_packet(sender: SenderPacket, received: int, sent: int, sender_ttl: int) -> bytes:
    """The 44-octet answer (REFLECTOR_PACKET is as long as SENDER_PACKET)."""
    return REFLECTOR_PACKET.pack(
        sender.seq, sent, ERROR_ESTIMATE, received, sender.seq, sender.timestamp,
        sender.error_estimate, sender_ttl & 0xFF,
    )


class StampReflector:
    """A STAMP reflector on ``host``:``port`` (port 0 picks a free one; see ``.port``)."""

    def __init__(self, host: str = "::", port: int = 862) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            if host == "::":
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        else:
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTTL, 1)
        self._sock.bind((host, port))
        self._sock.settimeout(0.2)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.reflected = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="stamp-reflector", daemon=True)

    def start(self) -> "StampReflector":
        self._thread.start()
        log.info("stamp reflector listening on [%s]:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> "StampReflector":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        ancillary = socket.CMSG_SPACE(4)
        while not self._stop.is_set():
            try:
                data, cmsgs, _flags, peer = self._sock.recvmsg(65535, ancillary)
            except socket.timeout:
                continue
            except OSError as err:
                if self._stop.is_set() or self._sock.fileno() < 0:
                    return
                # A queued ICMP error or a transient failure must not end the reflector.
                log.warning("stamp reflector receive failed: %s", err)
                continue
            received = ntp_timestamp(time.time())
            sender = parse_sender_packet(data)
            if sender is None:
                continue  # not an unauthenticated STAMP test packet: discard, never answer
            ttl = _HOPLIMIT_UNKNOWN
            for level, kind, value in cmsgs:
                if (level, kind) in ((socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT), (socket.IPPROTO_IP, socket.IP_TTL)):
                    ttl = int.from_bytes(value[:4], sys.byteorder)
            reply = build_reflector_packet(sender, received, ntp_timestamp(time.time()), ttl)
            try:
                self._sock.sendto(reply, peer)
                self.reflected += 1
            except OSError as err:  # an unreachable sender must not stop the reflector
                log.debug("stamp reply to %s failed: %s", peer, err)
