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

What the answer says comes from the kernel and the clock, not from this process:

- Receive Timestamp: SO_TIMESTAMPNS, when the packet reached the socket, so the time
  this thread waited for the CPU (heartbeat ingest on the same host) is not in it;
- the traffic class (DSCP, ECN) it arrived with (IPV6_RECVTCLASS / IP_RECVTOS) is the
  class of the answer (a per-packet IPV6_TCLASS / IP_TOS), so a room measures the path
  of the class it asked for, both ways;
- Error Estimate: S and the estimated error from adjtimex(2), re-read every second.

Runs on a thread with a blocking socket: ``recvmsg`` gives the ancillary data that
asyncio's datagram transport would hide.
"""

from __future__ import annotations

import ctypes
import logging
import math
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
# Error Estimate (RFC 8762 §4.2.1, the format of RFC 4656 §4.1.2), 16 bits:
#   S (1 bit): the clock is synchronised to UTC by an external source
#   Z (1 bit): 0 = NTP 64-bit timestamps (what this reflector sends), 1 = PTPv2
#   Scale (6 bits), Multiplier (8 bits, never 0): error = Multiplier x 2^-32 x 2^Scale seconds
ERROR_ESTIMATE = 0x0001  # S=0, Z=0, scale 0, multiplier 1: a sender's "no claim"
S_BIT = 0x8000
MAX_SCALE = 63
# The clock's state could not be read (adjtimex refused by a seccomp filter): S=0 and
# the largest error the format holds, so no receiver trusts these timestamps' absolute value.
UNKNOWN_ERROR_ESTIMATE = (MAX_SCALE << 8) | 0xFF
_HOPLIMIT_UNKNOWN = 255
# Linux's SO_TIMESTAMPNS (asm-generic/socket.h); the socket module does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
# Linux's IP_RECVTTL (linux/in.h): Python 3.11's socket module does not name it either.
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
_TIMESPEC = struct.Struct("@qq")  # struct timespec on 64-bit Linux: tv_sec, tv_nsec
_ANCILLARY = socket.CMSG_SPACE(4) * 2 + socket.CMSG_SPACE(_TIMESPEC.size)  # hop limit, traffic class, time
CLOCK_REFRESH_S = 1.0  # adjtimex is read at most this often, not once per packet


def ntp_timestamp(unix_time: float) -> int:
    """Unix time to the 64-bit NTP timestamp format (32.32 fixed point since 1900)."""
    seconds = int(unix_time)
    fraction = int((unix_time - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | fraction


def ntp_from_timespec(seconds: int, nanoseconds: int) -> int:
    """Pure: a kernel timespec to NTP format, exactly (no float rounding of the seconds)."""
    fraction = (nanoseconds << 32) // 1_000_000_000
    return ((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | (fraction & 0xFFFFFFFF)


def error_estimate(synchronized: bool, error_s: float) -> int:
    """Pure: the 16-bit Error Estimate for a clock within ``error_s`` seconds.

    The smallest scale whose multiplier fits 8 bits, the multiplier rounded up so the
    estimate is never smaller than the error; at least 1 (the multiplier must not be 0).
    """
    units = max(1, math.ceil(error_s * (1 << 32))) if error_s > 0 else 1
    scale = 0
    while scale < MAX_SCALE and -(-units // (1 << scale)) > 0xFF:
        scale += 1
    multiplier = min(0xFF, max(1, -(-units // (1 << scale))))
    return (S_BIT if synchronized else 0) | (scale << 8) | multiplier


def estimate_seconds(estimate: int) -> tuple[bool, bool, float]:
    """Pure: (S, Z, error in seconds) of an Error Estimate."""
    scale, multiplier = (estimate >> 8) & 0x3F, estimate & 0xFF
    return bool(estimate & S_BIT), bool(estimate & 0x4000), multiplier * 2.0 ** (scale - 32)


@dataclass(frozen=True)
class ClockState:
    synchronized: bool
    error_s: float | None  # None: unknown


STA_UNSYNC = 0x0040
TIME_ERROR = 5


class _Timex(ctypes.Structure):
    """glibc's struct timex (sys/timex.h); ctypes adds the same padding the C compiler does."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
                ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_reserved", ctypes.c_int * 11)]


def clock_from_timex(state: int, status: int, esterror_us: int) -> ClockState:
    """Pure: adjtimex's answer (its return value, STA_* status bits, estimated error in µs)."""
    synchronized = state != TIME_ERROR and not status & STA_UNSYNC
    return ClockState(synchronized, max(0, esterror_us) / 1e6)


def read_clock() -> ClockState:
    """The system clock's state from adjtimex(2) with modes 0: a read, which needs no privilege."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return ClockState(False, None)
    if state < 0:  # EPERM from a seccomp filter that denies the @clock calls outright
        return ClockState(False, None)
    return clock_from_timex(state, timex.status, timex.esterror)


def clock_error_estimate(clock: ClockState) -> int:
    if clock.error_s is None:
        return UNKNOWN_ERROR_ESTIMATE
    return error_estimate(clock.synchronized, clock.error_s)


@dataclass(frozen=True)
class SenderPacket:
    seq: int
    timestamp: int
    error_estimate: int


def parse_sender_packet(data: bytes) -> SenderPacket | None:
    """The sender's fields, or None for a datagram that is not an unauthenticated test packet."""
    if len(data) != PACKET_SIZE:
        return None
    seq, timestamp, error_estimate_ = SENDER_PACKET.unpack_from(data)
    return SenderPacket(seq, timestamp, error_estimate_)


def build_reflector_packet(sender: SenderPacket, received: int, sent: int, sender_ttl: int,
                           error_estimate_: int = ERROR_ESTIMATE) -> bytes:
    """The 44-octet answer (REFLECTOR_PACKET is as long as SENDER_PACKET)."""
    return REFLECTOR_PACKET.pack(
        sender.seq, sent, error_estimate_, received, sender.seq, sender.timestamp,
        sender.error_estimate, sender_ttl & 0xFF,
    )


@dataclass(frozen=True)
class Arrival:
    """What the kernel said about a received test packet."""

    ttl: int = _HOPLIMIT_UNKNOWN
    tclass: int | None = None  # IPv6 traffic class / IPv4 TOS byte, DSCP and ECN
    kernel_ntp: int | None = None  # SO_TIMESTAMPNS receive time, NTP format


def parse_ancillary(cmsgs: list[tuple[int, int, bytes]]) -> Arrival:
    """Pure: hop limit, traffic class and receive timestamp from recvmsg's ancillary data."""
    ttl, tclass, kernel = _HOPLIMIT_UNKNOWN, None, None
    for level, kind, value in cmsgs:
        if (level, kind) in ((socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT), (socket.IPPROTO_IP, socket.IP_TTL)):
            ttl = int.from_bytes(value[:4], sys.byteorder)
        elif (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_TCLASS):
            tclass = int.from_bytes(value[:4], sys.byteorder) & 0xFF
        elif (level, kind) == (socket.IPPROTO_IP, socket.IP_TOS):
            tclass = value[0]  # one octet for IPv4
        elif (level, kind) == (socket.SOL_SOCKET, SCM_TIMESTAMPNS) and len(value) >= _TIMESPEC.size:
            kernel = ntp_from_timespec(*_TIMESPEC.unpack_from(value))
    return Arrival(ttl, tclass, kernel)


def _is_ipv4(peer: tuple) -> bool:
    return "." in str(peer[0])  # an IPv4 or IPv4-mapped (::ffff:a.b.c.d) sender


class StampReflector:
    """A STAMP reflector on ``host``:``port`` (port 0 picks a free one; see ``.port``)."""

    def __init__(self, host: str = "::", port: int = 862) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            if host == "::":
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
        if family == socket.AF_INET or host == "::":  # IPv4 senders, on a dual-stack socket too
            self._sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        # The receive time from the kernel, when the packet arrived, not when this thread woke up.
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._sock.bind((host, port))
        self._sock.settimeout(0.2)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.reflected = 0
        self.kernel_timestamps = 0  # answers whose receive timestamp came from the kernel
        self._clock = read_clock()
        self._clock_read_at = time.monotonic()
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

    def _error_estimate(self) -> int:
        now = time.monotonic()
        if now - self._clock_read_at >= CLOCK_REFRESH_S:
            self._clock, self._clock_read_at = read_clock(), now
        return clock_error_estimate(self._clock)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, cmsgs, _flags, peer = self._sock.recvmsg(65535, _ANCILLARY)
            except socket.timeout:
                continue
            except OSError as err:
                if self._stop.is_set() or self._sock.fileno() < 0:
                    return
                # A queued ICMP error or a transient failure must not end the reflector.
                log.warning("stamp reflector receive failed: %s", err)
                continue
            woke = ntp_timestamp(time.time())
            sender = parse_sender_packet(data)
            if sender is None:
                continue  # not an unauthenticated STAMP test packet: discard, never answer
            arrival = parse_ancillary(cmsgs)
            received = arrival.kernel_ntp if arrival.kernel_ntp is not None else woke
            estimate = self._error_estimate()
            ancillary = []
            if arrival.tclass is not None:
                # Answer in the class the packet came in, so the path is measured for that class.
                level, kind = ((socket.IPPROTO_IP, socket.IP_TOS) if _is_ipv4(peer)
                               else (socket.IPPROTO_IPV6, socket.IPV6_TCLASS))
                ancillary.append((level, kind, struct.pack("i", arrival.tclass)))
            reply = build_reflector_packet(sender, received, ntp_timestamp(time.time()), arrival.ttl, estimate)
            try:
                self._sock.sendmsg([reply], ancillary, 0, peer)
                self.reflected += 1
                self.kernel_timestamps += arrival.kernel_ntp is not None
            except OSError as err:  # an unreachable sender must not stop the reflector
                log.debug("stamp reply to %s failed: %s", peer, err)
