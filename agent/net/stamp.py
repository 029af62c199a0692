"""RFC 8762 STAMP session-sender, unauthenticated mode: codec, statistics, session.

Session-Sender test packet (44 octets)::

    Sequence Number (4) | Timestamp (8, NTP) | Error Estimate (2) | MBZ (30)

Session-Reflector test packet (44 octets, §4.3.1)::

    Sequence Number (4) | Timestamp (8) | Error Estimate (2) | MBZ (2) |
    Receive Timestamp (8) | Session-Sender Sequence Number (4) |
    Session-Sender Timestamp (8) | Session-Sender Error Estimate (2) | MBZ (2) |
    Ses-Sender TTL (1) | MBZ (3)

Round-trip time per packet is ``(T4 - T1) - (T3 - T2)``: the sender's own
clock for T1/T4 and the reflector's receive/send timestamps for its dwell time
(both from one clock, so no synchronisation is needed). Packets carry DSCP EF
like real media, so the WAN treats them as it will treat the meeting.
"""

from __future__ import annotations

import math
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Callable

SENDER = struct.Struct("!IQH30x")
REFLECTOR = struct.Struct("!IQH2xQIQH2xB3x")
PACKET_SIZE = SENDER.size  # 44
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
# RFC 4656 §4.1.2: S=0 (no external sync asserted), Z=0 (NTP format), scale 0, multiplier 1.
SENDER_ERROR_ESTIMATE = 0x0001
DSCP_EF = 46
# RFC 3550 §6.4.1: the jitter estimate moves 1/16 of the way towards each new sample.
JITTER_GAIN = 1 / 16


def to_ntp(unix_time: float) -> int:
    """Unix seconds to the 64-bit NTP format (32-bit seconds since 1900, 32-bit fraction)."""
    whole = math.floor(unix_time)
    fraction = min(int((unix_time - whole) * 2**32), 2**32 - 1)
    return (((whole + NTP_UNIX_OFFSET) % 2**32) << 32) | fraction


def ntp_seconds(ntp: int) -> float:
    """A 64-bit NTP timestamp as seconds (within its era); differences are what matter."""
    return (ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32


def build_sender_packet(
    seq: int, timestamp: int, error_estimate: int = SENDER_ERROR_ESTIMATE
) -> bytes:
    return SENDER.pack(seq & 0xFFFFFFFF, timestamp, error_estimate)


@dataclass(frozen=True)
class ReflectorPacket:
    seq: int
    timestamp: int  # T3: when the reflector sent this packet
    error_estimate: int
    receive_timestamp: int  # T2: when the reflector received the test packet
    sender_seq: int
    sender_timestamp: int
    sender_error_estimate: int
    sender_ttl: int

    @property
    def dwell_s(self) -> float:
        """Time the packet spent inside the reflector (T3 - T2)."""
        return ntp_seconds(self.timestamp) - ntp_seconds(self.receive_timestamp)


def parse_reflector_packet(data: bytes) -> ReflectorPacket | None:
    """The reflector's fields, or None when ``data`` is too short to be one."""
    if len(data) < REFLECTOR.size:
        return None
    return ReflectorPacket(*REFLECTOR.unpack_from(data))


def round_trip_ms(local_s: float, reply: ReflectorPacket) -> float:
    """``(T4 - T1) - (T3 - T2)`` in ms; the dwell is ignored when implausible."""
    dwell = reply.dwell_s
    if not 0 <= dwell < local_s:
        dwell = 0.0
    return (local_s - dwell) * 1000


@dataclass(frozen=True)
class StampStats:
    sent: int
    received: int  # distinct sequence numbers answered
    duplicates: int
    reordered: int  # replies with a lower sequence number than one already received
    rtt_min_ms: float | None
    rtt_avg_ms: float | None
    rtt_p95_ms: float | None
    jitter_ms: float | None  # RFC 3550 interarrival jitter over the round trip
    rtts_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.lost / self.sent if self.sent else 0.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def rfc3550_jitter(rtts_in_arrival_order: list[float]) -> float | None:
    """RFC 3550 §6.4.1 estimator J += (|D| - J)/16 over successive round-trip times."""
    if len(rtts_in_arrival_order) < 2:
        return None
    jitter = 0.0
    for previous, current in zip(rtts_in_arrival_order, rtts_in_arrival_order[1:]):
        jitter += (abs(current - previous) - jitter) * JITTER_GAIN
    return jitter


def stamp_statistics(sent: int, replies: list[tuple[int, float]]) -> StampStats:
    """Statistics of a session: ``replies`` are (sequence number, RTT ms) in arrival order."""
    seen: set[int] = set()
    first: list[float] = []
    duplicates = reordered = 0
    highest = -1
    for seq, rtt in replies:
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
        first.append(rtt)
    jitter = rfc3550_jitter(first)
    return StampStats(
        sent=sent,
        received=len(seen),
        duplicates=duplicates,
        reordered=reordered,
        rtt_min_ms=round(min(first), 3) if first else None,
        rtt_avg_ms=round(sum(first) / len(first), 3) if first else None,
        rtt_p95_ms=round(percentile(first, 95), 3) if first else None,
        jitter_ms=round(jitter, 3) if jitter is not None else None,
        rtts_ms=first,
    )


def run_session(
    address: str,
    port: int,
    count: int = 100,
    interval: float = 0.020,
    wait: float = 1.0,
    dscp: int = DSCP_EF,
    progress: Callable[[int, int], None] | None = None,
) -> StampStats:
    """Send ``count`` test packets ``interval`` apart and collect replies until ``wait`` after the last.

    Raises OSError when the socket cannot be set up (no route, ...).
    """
    sent_at: dict[int, float] = {}
    replies: list[tuple[int, float]] = []
    answered: set[int] = set()
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, dscp << 2)
        sock.connect((address, port))
        sock.setblocking(False)
        start = time.perf_counter()
        deadline = start + (count - 1) * interval + wait
        seq = 0
        while True:
            now = time.perf_counter()
            if seq < count and now >= start + seq * interval:
                sent_at[seq] = time.perf_counter()
                try:
                    sock.send(build_sender_packet(seq, to_ntp(time.time())))
                except OSError:
                    pass  # an ICMP error from an earlier packet surfaces here; keep pacing
                seq += 1
                if progress:
                    progress(seq, count)
                continue
            if seq >= count and (len(answered) >= count or now >= deadline):
                break
            until = start + seq * interval if seq < count else deadline
            readable, _, _ = select.select([sock], [], [], max(0.0, until - now))
            if readable:
                _drain(sock, sent_at, replies, answered)
    return stamp_statistics(count, replies)


def _drain(
    sock: socket.socket,
    sent_at: dict[int, float],
    replies: list[tuple[int, float]],
    answered: set[int],
) -> None:
    while True:
        try:
            data = sock.recv(2048)
        except BlockingIOError:
            return
        except OSError:
            return  # ICMP port unreachable from a down responder: counted as loss
        arrived = time.perf_counter()
        reply = parse_reflector_packet(data)
        if reply is None or reply.sender_seq not in sent_at:
            continue
        replies.append(
            (reply.sender_seq, round_trip_ms(arrived - sent_at[reply.sender_seq], reply))
        )
        answered.add(reply.sender_seq)
