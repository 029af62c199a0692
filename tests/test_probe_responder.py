"""The responder rooms measure against (``bridge-collector probe-serve``), as a real process on [::1]."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from agent.net.bandwidth import http_bandwidth
from agent.net.stamp import build_sender_packet, parse_reflector_packet, to_ntp
from tests.conftest import REPO


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET6, kind) as sock:
        sock.bind(("::1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def responder_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("responder") / "stderr.log"


@pytest.fixture(scope="module")
def responder(responder_log: Path) -> Iterator[tuple[str, int]]:
    http_port, stamp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    log = responder_log.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector",
            "probe-serve",
            "--listen",
            f"[::1]:{http_port}",
            "--stamp-port",
            str(stamp_port),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    base = f"http://[::1]:{http_port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"responder did not start: {responder_log.read_text()}")
        time.sleep(0.1)
    yield base, stamp_port
    proc.terminate()
    proc.wait(10)
    log.close()


def test_download_streams_exactly_the_bytes_asked(responder: tuple[str, int]) -> None:
    base, _ = responder
    response = httpx.get(base + "/api/v1/probe/download", params={"bytes": 1_000_001})
    assert response.status_code == 200
    assert len(response.content) == 1_000_001
    assert response.headers["content-length"] == "1000001"
    assert httpx.get(base + "/api/v1/probe/download", params={"bytes": 0}).content == b""


@pytest.mark.parametrize("value", ["abc", "-1", "", str(2**40)])
def test_download_rejects_bad_sizes_as_client_errors(
    responder: tuple[str, int], value: str
) -> None:
    base, _ = responder
    response = httpx.get(base + "/api/v1/probe/download", params={"bytes": value})
    assert response.status_code == 422
    assert "bytes" in response.json()["error"]


def test_upload_counts_the_body(responder: tuple[str, int]) -> None:
    base, _ = responder

    def body() -> Iterator[bytes]:
        for _ in range(10):
            yield bytes(100_000)

    response = httpx.post(base + "/api/v1/probe/upload", content=body())
    assert response.status_code == 200
    assert response.json()["bytes"] == 1_000_000


def test_stamp_reflects_sequence_size_and_hop_limit(responder: tuple[str, int]) -> None:
    _, stamp_port = responder
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 7)
        sock.settimeout(2)
        sock.connect(("::1", stamp_port))
        sent_at = to_ntp(time.time())
        sock.send(build_sender_packet(1234, sent_at))
        reply = parse_reflector_packet(sock.recv(2048))
        assert reply is not None
        assert (reply.seq, reply.sender_seq, reply.sender_timestamp, reply.sender_ttl) == (
            1234,
            1234,
            sent_at,
            7,
        )
        assert reply.receive_timestamp <= reply.timestamp
        # Symmetrical size (RFC 8762 §4.2.1): a padded test packet comes back as long.
        sock.send(build_sender_packet(5, sent_at) + bytes(56))
        assert len(sock.recv(2048)) == 100
        # Too short to be a STAMP packet: discarded, not answered.
        sock.send(b"hello")
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(2048)


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_timed_transfers_end_cleanly(
    responder: tuple[str, int], responder_log: Path, direction: str
) -> None:
    base, _ = responder
    port = int(base.rsplit(":", 1)[1])
    result = http_bandwidth(direction, "::1", port, duration_s=1.0, streams=2)
    assert result.errors == [] and result.mbps is not None and result.mbps > 10
    assert result.bytes_measured > 0 and result.seconds > 0
    # The agent hangs up at the deadline: the responder stops sending at once and logs nothing.
    time.sleep(0.5)
    log = responder_log.read_text()
    assert "Exception" not in log and "socket.send() raised" not in log, log[:2000]


def test_a_server_without_probe_endpoints_is_named() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as server:
        server.bind(("::1", 0))
        server.listen()
        port = server.getsockname()[1]
        answer = threading.Thread(target=_answer_404, args=(server, 2), daemon=True)
        answer.start()
        result = http_bandwidth("download", "::1", port, duration_s=1.0, streams=2)
        answer.join(5)
    assert result.mbps is None
    assert result.errors == ["the responder answered HTTP 404 to /api/v1/probe/download"]


def test_nobody_listening_is_connection_refused() -> None:
    port = free_port(socket.SOCK_STREAM)
    result = http_bandwidth("upload", "::1", port, duration_s=1.0, streams=2)
    assert result.mbps is None and result.errors == ["connection refused"]


def _answer_404(server: socket.socket, count: int) -> None:
    for _ in range(count):
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
