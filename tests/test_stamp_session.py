"""The STAMP session-sender against the real reflector, through a relay that injects known faults.

netem is not on every kernel, so a userspace UDP relay between sender and
reflector delays every packet by a known time and drops, duplicates or holds
back exactly the packets named by sequence number. Loss must come out exact
and the round trip within 0.5 ms of the injected delay.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import pytest

from agent.net.stamp import run_session
from collector.probe import StampReflector
from tests.conftest import REPO


@contextmanager
def relay(*args: str) -> Iterator[int]:
    """The relay process (tests/udp_relay.py) with its own reflector; yields the relay's port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.udp_relay", *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(5)
        proc.stdout.close()


@pytest.fixture
def reflector() -> Iterator[StampReflector]:
    with StampReflector("::1", 0) as running:
        yield running


def test_exact_loss_and_injected_delay() -> None:
    # The path's own round trip (two extra processes on loopback) is measured first,
    # so the assertion is about the delay the relay injects, not the machine's speed.
    with relay("--delay-ms", "0") as port:
        baseline = run_session("::1", port, count=50, interval=0.010)
    with relay("--delay-ms", "10", "--drop", "3,17,40,41,99") as port:
        stats = run_session("::1", port, count=100, interval=0.020)
    assert stats.sent == 100
    assert stats.received == 95 and stats.lost == 5
    assert stats.loss_pct == pytest.approx(5.0)
    assert stats.duplicates == 0 and stats.reordered == 0
    assert (
        baseline.received == 50 and baseline.rtt_min_ms is not None and stats.rtt_min_ms is not None
    )
    added_min = stats.rtt_min_ms - baseline.rtt_min_ms
    added_median = statistics.median(stats.rtts_ms) - statistics.median(baseline.rtts_ms)
    # The fastest packet shows the injected delay to within 0.5 ms even on a busy machine.
    # Slower packets also carry the relay's own scheduling delays when the CPUs are
    # saturated (measured: median +1.7 ms with both cores busy), so for them only the
    # lower bound is exact: nothing comes back faster than the delay.
    assert abs(added_min - 10.0) <= 0.5, (baseline, stats)
    assert added_median >= 9.5, (baseline, stats)
    assert stats.rtt_min_ms <= stats.rtt_avg_ms <= stats.rtt_p95_ms
    assert stats.jitter_ms is not None  # its estimator is checked exactly in test_stamp_codec


def test_duplicates_and_reordering_counted() -> None:
    # seq 20 held back 50 ms arrives after 21 and 22: one reordered packet; 10 and 60 twice.
    with relay("--duplicate", "10,60", "--hold", "20:50") as port:
        stats = run_session("::1", port, count=100, interval=0.020)
    assert stats.received == 100 and stats.lost == 0
    assert stats.duplicates == 2
    assert stats.reordered == 1


def test_silent_responder_is_total_loss() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as silent:
        silent.bind(("::1", 0))  # receives and never answers
        started = time.perf_counter()
        stats = run_session("::1", silent.getsockname()[1], count=10, interval=0.010, wait=0.3)
        elapsed = time.perf_counter() - started
    assert stats.received == 0 and stats.loss_pct == 100.0
    assert stats.rtt_avg_ms is None and stats.jitter_ms is None
    assert elapsed < 2.0


def test_packets_marked_dscp_ef_and_hop_limit_reflected(reflector: StampReflector) -> None:
    # Capture what the sender puts on the wire: a receiver asking for the traffic class.
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sink:
        sink.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
        sink.bind(("::1", 0))
        sink.settimeout(2)
        done = threading.Thread(
            target=run_session, args=("::1", sink.getsockname()[1], 1, 0.01, 0.2)
        )
        done.start()
        data, cmsgs, _, _ = sink.recvmsg(2048, socket.CMSG_SPACE(4))
        done.join()
    tclass = [
        int.from_bytes(v[:4], "little") for level, kind, v in cmsgs if kind == socket.IPV6_TCLASS
    ]
    assert tclass == [46 << 2]
    assert len(data) == 44


def test_session_through_reflector_counts_every_reply(reflector: StampReflector) -> None:
    before = reflector.reflected
    stats = run_session("::1", reflector.port, count=50, interval=0.002)
    assert stats.received == 50
    # The reflector counts after its send returns, which can be just after our receive.
    deadline = time.monotonic() + 2
    while reflector.reflected - before < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reflector.reflected - before == 50
