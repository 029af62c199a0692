"""STAMP codec and statistics: the sender's side against the reflector's, and hand-made sessions."""

from __future__ import annotations

import pytest

from agent.net.stamp import (
    PACKET_SIZE,
    build_sender_packet,
    ntp_seconds,
    parse_reflector_packet,
    percentile,
    rfc3550_jitter,
    round_trip_ms,
    stamp_statistics,
    to_ntp,
)
from collector.probe.stamp import build_reflector_packet, ntp_timestamp, parse_sender_packet


def test_sender_packet_is_44_octets_with_zeroed_mbz() -> None:
    packet = build_sender_packet(7, to_ntp(1_700_000_000.5))
    assert len(packet) == PACKET_SIZE == 44
    assert packet[:4] == b"\x00\x00\x00\x07"
    assert packet[12:14] == b"\x00\x01"  # error estimate: multiplier 1, never zero
    assert packet[14:] == bytes(30)


def test_ntp_timestamps_agree_with_the_reflector() -> None:
    for moment in (0.0, 1_700_000_000.25, 1_900_000_000.999):
        assert abs(to_ntp(moment) - ntp_timestamp(moment)) <= 1
    assert ntp_seconds(to_ntp(1.5)) == pytest.approx(2_208_988_801.5)


def test_reflector_reply_round_trip_through_both_codecs() -> None:
    sent = build_sender_packet(42, to_ntp(1_700_000_000.0))
    parsed = parse_sender_packet(sent)
    assert parsed is not None and parsed.seq == 42
    received, replied = to_ntp(1_700_000_000.010), to_ntp(1_700_000_000.012)
    reply = parse_reflector_packet(build_reflector_packet(parsed, received, replied, 61))
    assert reply is not None
    assert reply.sender_seq == 42 and reply.seq == 42  # stateless reflector copies the number
    assert reply.sender_timestamp == to_ntp(1_700_000_000.0)
    assert reply.sender_ttl == 61
    assert reply.dwell_s == pytest.approx(0.002, abs=1e-6)
    # 25 ms locally, 2 ms of it inside the reflector.
    assert round_trip_ms(0.025, reply) == pytest.approx(23.0, abs=0.01)
    assert parse_reflector_packet(b"short") is None


def test_reflector_takes_only_unauthenticated_test_packets_and_never_grows_them() -> None:
    sent = build_sender_packet(1, to_ntp(1_700_000_000.0))
    for wrong in (sent[:43], sent + b"\0", bytes(112), b"", bytes(1400)):
        assert parse_sender_packet(wrong) is None, len(wrong)
    parsed = parse_sender_packet(sent)
    assert parsed is not None
    assert len(build_reflector_packet(parsed, 0, 0, 64)) == len(sent) == 44


def test_statistics_count_loss_duplicates_reordering() -> None:
    replies = [(0, 10.0), (1, 12.0), (3, 11.0), (2, 14.0), (3, 11.5), (4, 10.0)]
    stats = stamp_statistics(6, replies)
    assert stats.received == 5 and stats.lost == 1
    assert stats.loss_pct == pytest.approx(100 / 6)
    assert stats.duplicates == 1 and stats.reordered == 1
    assert stats.rtt_min_ms == 10.0 and stats.rtt_avg_ms == pytest.approx(11.4)
    assert stats.rtt_p95_ms == 14.0


def test_rfc3550_jitter_estimator() -> None:
    # |D| = 2, 2, 2 ...: J converges on 2 from 0 by 1/16 steps.
    rtts = [10.0, 12.0] * 50
    jitter = rfc3550_jitter(rtts)
    assert jitter == pytest.approx(2 * (1 - (15 / 16) ** 99))
    assert rfc3550_jitter([10.0, 10.0, 10.0]) == 0.0
    assert rfc3550_jitter([5.0]) is None
    assert rfc3550_jitter([10.0, 26.0]) == pytest.approx(1.0)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0], 50) == 1.0


def test_empty_session() -> None:
    stats = stamp_statistics(100, [])
    assert stats.loss_pct == 100.0 and stats.rtt_min_ms is None and stats.jitter_ms is None
