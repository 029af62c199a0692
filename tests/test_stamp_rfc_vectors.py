"""The reflector's codec against byte vectors worked out by hand from RFC 8762, and what the
running reflector takes from the kernel: receive timestamps, traffic class, the clock's state.

Layouts (RFC 8762 §4.2.1 sender, §4.3.1 reflector, unauthenticated mode, 44 octets each);
Error Estimate (RFC 4656 §4.1.2): |S|Z| Scale (6) | Multiplier (8) |, error =
Multiplier x 2^-32 x 2^Scale s, S = synchronised to an external source, Z = 0 for NTP.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

import pytest

from collector.probe.stamp import (
    UNKNOWN_ERROR_ESTIMATE,
    Arrival,
    ClockState,
    StampReflector,
    build_reflector_packet,
    clock_error_estimate,
    clock_from_timex,
    error_estimate,
    estimate_seconds,
    ntp_from_timespec,
    ntp_timestamp,
    parse_ancillary,
    parse_sender_packet,
    read_clock,
)

# Sender test packet, seq 1, timestamp E8FE6F80.80000000 (2023-11-14T22:13:20.5Z), Error Estimate 0x0001.
SENDER_HEX = (
    "00000001"            # Sequence Number
    "e8fe6f80" "80000000"  # Timestamp: seconds since 1900 | fraction (0.5 = 0x80000000)
    "0001"                # Error Estimate: S=0 Z=0 Scale=0 Multiplier=1
    + "00" * 30           # MBZ
)
# The reflector's answer: received at .75 s (fraction 0xC0000000), sent 2^-16 s later
# (fraction 0xC0010000), clock synchronised within 1 ms (0x8F84, below), hop limit 64.
REFLECTOR_HEX = (
    "00000001"            # Sequence Number: the sender's (stateless reflector, §4.3.1)
    "e8fe6f80" "c0010000"  # Timestamp: when the answer left
    "8f84" "0000"         # Error Estimate | MBZ
    "e8fe6f80" "c0000000"  # Receive Timestamp
    "00000001"            # Session-Sender Sequence Number
    "e8fe6f80" "80000000"  # Session-Sender Timestamp
    "0001" "0000"         # Session-Sender Error Estimate | MBZ
    "40" "000000"         # Ses-Sender TTL | MBZ
)


def test_sender_vector_parses_and_the_answer_is_the_hand_made_vector() -> None:
    sender = parse_sender_packet(bytes.fromhex(SENDER_HEX))
    assert sender is not None
    assert (sender.seq, sender.timestamp, sender.error_estimate) == (1, 0xE8FE6F8080000000, 0x0001)
    reply = build_reflector_packet(sender, 0xE8FE6F80C0000000, 0xE8FE6F80C0010000, 64, 0x8F84)
    assert reply.hex() == REFLECTOR_HEX and len(reply) == 44


def test_ntp_timestamps_by_hand() -> None:
    # 1,700,000,000 + 2,208,988,800 (1900 -> 1970) = 3,908,988,800 = 0xE8FE6F80; .5 s = 0x80000000.
    assert ntp_timestamp(1_700_000_000.5) == 0xE8FE6F80_80000000
    # A kernel timespec: 250,000,000 ns = 0.25 s = 0x40000000, exactly.
    assert ntp_from_timespec(1_700_000_000, 250_000_000) == 0xE8FE6F80_40000000
    assert ntp_from_timespec(0, 0) == 0x83AA7E80_00000000  # 2,208,988,800 = 0x83AA7E80


@pytest.mark.parametrize(("synced", "error_s", "expected"), [
    # 1 µs = 4294.97 units of 2^-32 s: Scale 4 needs 269 > 255, Scale 5 -> ceil(134.2) = 135 = 0x87.
    # S=1 Z=0 Scale=5 -> first octet 1000 0101 = 0x85.
    (True, 1e-6, 0x8587),
    # 1 ms = 4,294,967.3 units: / 2^15 = 131.07 -> 132 = 0x84; 1000 1111 = 0x8F.
    (True, 1e-3, 0x8F84),
    # Unsynchronised, 16 s (the kernel's esterror before NTP): 2^36 units = 128 x 2^29; 0001 1101 = 0x1D.
    (False, 16.0, 0x1D80),
    # No error at all still has Multiplier 1 (it must not be zero).
    (True, 0.0, 0x8001),
])
def test_error_estimate_vectors(synced: bool, error_s: float, expected: int) -> None:
    estimate = error_estimate(synced, error_s)
    assert estimate == expected, hex(estimate)
    s_bit, z_bit, seconds = estimate_seconds(estimate)
    assert (s_bit, z_bit) == (synced, False)
    assert error_s <= seconds <= max(error_s * 1.01, 2 ** -32)  # rounded up, never understated


def test_clock_state_from_adjtimex_fields() -> None:
    assert clock_from_timex(0, 0x2001, 500) == ClockState(True, 0.0005)  # TIME_OK, STA_PLL|STA_NANO
    assert clock_from_timex(0, 0x0040, 500).synchronized is False  # STA_UNSYNC
    assert clock_from_timex(5, 0x0000, 500).synchronized is False  # TIME_ERROR
    assert clock_error_estimate(ClockState(False, None)) == UNKNOWN_ERROR_ESTIMATE
    assert estimate_seconds(UNKNOWN_ERROR_ESTIMATE)[0] is False


def test_ancillary_data_parsing() -> None:
    native = sys.byteorder
    arrival = parse_ancillary([
        (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, (61).to_bytes(4, native)),
        (socket.IPPROTO_IPV6, socket.IPV6_TCLASS, (0xB8).to_bytes(4, native)),  # DSCP EF (46 << 2)
        (socket.SOL_SOCKET, 35, struct.pack("@qq", 1_700_000_000, 500_000_000)),
    ])
    assert arrival == Arrival(61, 0xB8, 0xE8FE6F80_80000000)
    assert parse_ancillary([(socket.IPPROTO_IP, socket.IP_TOS, b"\x28")]).tclass == 0x28
    assert parse_ancillary([]) == Arrival()


def _exchange(port: int, tclass: int) -> tuple[bytes, int | None, float]:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tclass)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
        before = time.time()
        sock.sendto(bytes.fromhex(SENDER_HEX), ("::1", port))
        data, cmsgs, _flags, _peer = sock.recvmsg(100, socket.CMSG_SPACE(4))
    return data, parse_ancillary(cmsgs).tclass, before


def test_the_reflector_answers_in_the_class_it_received_with_kernel_time_and_the_clock_state() -> None:
    with StampReflector("::1", 0) as reflector:
        for tclass in (0xB8, 0x28, 0x00):  # EF, AF11, best effort
            data, answered_in, before = _exchange(reflector.port, tclass)
            assert answered_in == tclass
    # Counted after each answer went out: read once the reflector thread has stopped.
    assert reflector.reflected == reflector.kernel_timestamps == 3
    fields = struct.unpack("!IQH2xQIQH2xB3x", data)
    _seq, sent, estimate, received, _sseq, _sts, _serr, ttl = fields
    assert received <= sent  # the kernel's receive time precedes the answer
    assert abs(received / 2 ** 32 - 2_208_988_800 - before) < 1.0
    assert ttl == 64  # loopback hop limit
    clock = read_clock()
    expected = clock_error_estimate(clock)
    # The same S bit as adjtimex says now; the error may have moved by a little since.
    assert estimate & 0x8000 == expected & 0x8000
    assert estimate_seconds(estimate)[2] == pytest.approx(estimate_seconds(expected)[2], rel=0.5)


def test_the_responder_unit_lets_the_reflector_read_the_clock() -> None:
    """Under bridge-collector-probe.service's system call filter adjtimex still answers (not 0x3FFF)."""
    import subprocess

    from tests.conftest import REPO

    try:
        import seccomp  # noqa: F401  (python3-seccomp, used by packaging/unit-seccomp)
    except ImportError:
        pytest.skip("needs python3-seccomp (Debian package) for packaging/unit-seccomp")
    unit = REPO / "packaging/debian/bridge-room-collector.bridge-collector-probe.service"
    code = ("from collector.probe.stamp import read_clock, clock_error_estimate;"
            "print(clock_error_estimate(read_clock()))")
    done = subprocess.run(["/usr/bin/python3", str(REPO / "packaging/unit-seccomp"), str(unit), "--",
                           sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) != UNKNOWN_ERROR_ESTIMATE


def test_the_reflector_listens_on_every_address_as_the_package_runs_it() -> None:
    # "::" is the packaged default: a dual-stack socket, with the IPv4 receive options too
    # (IP_RECVTTL, which Python 3.11's socket module does not name).
    with StampReflector("::", 0) as reflector:
        data, answered_in, _before = _exchange(reflector.port, 0x28)
        assert answered_in == 0x28 and len(data) >= 44
