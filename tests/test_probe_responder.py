"""The responder rooms measure against (``bridge-collector probe-serve``), as a real process on [::1].

Only enrolled rooms may use it: every transfer carries a room's token, at most
``--probe-max-transfers`` run at once, one request moves at most MAX_BYTES.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from agent.net.bandwidth import DOWNLOAD_BYTES, Responder, http_bandwidth
from agent.net.stamp import build_sender_packet, parse_reflector_packet, to_ntp
from collector.probe.http import MAX_BYTES
from tests.conftest import REPO
from tests.daemon_helpers import make_pki

MAX_TRANSFERS = 4


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET6, kind) as sock:
        sock.bind(("::1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Running:
    base: str
    port: int
    stamp_port: int
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def responder(self, token: str | None = None) -> Responder:
        return Responder("::1", self.port, self.token if token is None else token)


@pytest.fixture(scope="module")
def responder_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("responder") / "stderr.log"


@pytest.fixture(scope="module")
def responder(responder_log: Path) -> Iterator[Running]:
    db = responder_log.parent / "collector.db"
    enrolled = subprocess.run([sys.executable, "-m", "collector", "--db", str(db), "room", "add", "probe-1"],
                              cwd=REPO, capture_output=True, text=True, check=True)
    http_port, stamp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    log = responder_log.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector",
            "--db",
            str(db),
            "probe-serve",
            "--listen",
            f"[::1]:{http_port}",
            "--stamp-port",
            str(stamp_port),
            "--probe-max-transfers",
            str(MAX_TRANSFERS),
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
    yield Running(base, http_port, stamp_port, enrolled.stdout.strip())
    proc.terminate()
    proc.wait(10)
    log.close()


def test_download_streams_exactly_the_bytes_asked(responder: Running) -> None:
    base = responder.base
    response = httpx.get(base + "/api/v1/probe/download", params={"bytes": 1_000_001}, headers=responder.auth)
    assert response.status_code == 200
    assert len(response.content) == 1_000_001
    assert response.headers["content-length"] == "1000001"
    assert httpx.get(base + "/api/v1/probe/download", params={"bytes": 0}, headers=responder.auth).content == b""


@pytest.mark.parametrize("value", ["abc", "-1", "", str(MAX_BYTES + 1), str(2**40)])
def test_download_rejects_bad_sizes_as_client_errors(responder: Running, value: str) -> None:
    response = httpx.get(responder.base + "/api/v1/probe/download", params={"bytes": value},
                         headers=responder.auth)
    assert response.status_code == 422
    assert "bytes" in response.json()["error"]


def test_the_cap_is_a_60_s_run_at_1_gbit_and_the_agent_stays_within_it() -> None:
    assert MAX_BYTES == 60 * 10**9 // 8 == 7_500_000_000
    assert DOWNLOAD_BYTES <= MAX_BYTES


def test_upload_counts_the_body(responder: Running) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(10):
            yield bytes(100_000)

    response = httpx.post(responder.base + "/api/v1/probe/upload", content=body(), headers=responder.auth)
    assert response.status_code == 200
    assert response.json()["bytes"] == 1_000_000


def test_an_upload_declared_beyond_the_cap_is_refused_before_any_byte(responder: Running) -> None:
    with socket.create_connection(("::1", responder.port), timeout=5) as sock:
        sock.sendall(b"POST /api/v1/probe/upload HTTP/1.1\r\nHost: x\r\n"
                     + f"Authorization: Bearer {responder.token}\r\nContent-Length: {MAX_BYTES + 1}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-room-token"},
                                     {"Authorization": "Basic cm9vbTp0b2tlbg=="}])
def test_transfers_need_a_room_token(responder: Running, headers: dict[str, str]) -> None:
    download = httpx.get(responder.base + "/api/v1/probe/download", params={"bytes": 10}, headers=headers)
    assert download.status_code == 401 and download.content.startswith(b"{")
    assert download.headers["www-authenticate"] == "Bearer"
    upload = httpx.post(responder.base + "/api/v1/probe/upload", content=b"x" * 10, headers=headers)
    assert upload.status_code == 401


def test_the_agent_without_the_rooms_token_is_told_why(responder: Running) -> None:
    result = http_bandwidth("download", responder.responder(token="wrong"), duration_s=1.0, streams=1)
    assert result.mbps is None
    assert result.errors[0].startswith("the responder answered HTTP 401 to /api/v1/probe/download")
    assert "wrong" not in result.errors[0]


def _status_of_download(responder: Running, opened: list[socket.socket]) -> int:
    """Start a large download and read only its status line; the socket stays open (the transfer runs)."""
    sock = socket.create_connection(("::1", responder.port), timeout=10)
    opened.append(sock)
    sock.sendall(f"GET /api/v1/probe/download?bytes={MAX_BYTES} HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: Bearer {responder.token}\r\n\r\n".encode())
    head = b""
    while b"\r\n" not in head:
        head += sock.recv(1)
    return int(head.split()[1])


def test_at_most_max_transfers_at_once_the_others_get_503(responder: Running) -> None:
    opened: list[socket.socket] = []
    try:
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            statuses = sorted(pool.map(lambda _: _status_of_download(responder, opened), range(10)))
        assert statuses == [200] * MAX_TRANSFERS + [503] * (10 - MAX_TRANSFERS)
        busy = httpx.get(responder.base + "/api/v1/probe/download", params={"bytes": 1}, headers=responder.auth)
        assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
        assert "busy" in busy.json()["error"]
        # The agent tells a busy responder (other rooms measuring) from a slow link.
        refused = http_bandwidth("download", responder.responder(), duration_s=1.0, streams=2)
        assert refused.busy and refused.mbps is None
        assert refused.errors[0].startswith("the responder answered HTTP 503")
    finally:
        for sock in opened:
            sock.close()
    # A transfer whose client hung up no longer counts: the responder is free again.
    deadline = time.monotonic() + 10
    while True:
        again = httpx.get(responder.base + "/api/v1/probe/download", params={"bytes": 1}, headers=responder.auth)
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert again.status_code == 200


def test_stamp_reflects_sequence_size_and_hop_limit(responder: Running) -> None:
    stamp_port = responder.stamp_port
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
        assert len(packet := build_sender_packet(5, sent_at)) == 44
        # Any other size is not an unauthenticated test packet: discarded, never answered,
        # so the reflector cannot be made to send more than it was sent.
        sock.settimeout(0.3)
        for wrong in (b"hello", packet[:43], packet + bytes(56), bytes(112), bytes(1200)):
            sock.send(wrong)
            with pytest.raises(socket.timeout):
                sock.recv(2048)
        # And it still answers the right size afterwards.
        sock.settimeout(2)
        sock.send(packet)
        assert len(sock.recv(2048)) == 44


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_timed_transfers_end_cleanly(responder: Running, responder_log: Path, direction: str) -> None:
    result = http_bandwidth(direction, responder.responder(), duration_s=1.0, streams=2)
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
        result = http_bandwidth("download", Responder("::1", port, "t0k3n"), duration_s=1.0, streams=2)
        answer.join(5)
    assert result.mbps is None
    assert result.errors == ["the responder answered HTTP 404 to /api/v1/probe/download"]


def test_nobody_listening_is_connection_refused() -> None:
    port = free_port(socket.SOCK_STREAM)
    result = http_bandwidth("upload", Responder("::1", port, "t0k3n"), duration_s=1.0, streams=2)
    assert result.mbps is None and result.errors == ["connection refused"]


def _answer_404(server: socket.socket, count: int) -> None:
    for _ in range(count):
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )


def test_bandwidth_over_tls_trusts_the_city_ca_only(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make test certificates")
    pki = make_pki(tmp_path)
    db = tmp_path / "c.db"
    token = subprocess.run([sys.executable, "-m", "collector", "--db", str(db), "room", "add", "tls-1"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    port = free_port(socket.SOCK_STREAM)
    log = tmp_path / "log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "collector", "--db", str(db), "probe-serve", "--listen",
                                 f"[::1]:{port}", "--stamp-port", "0", "--tls-cert", str(pki.server_cert),
                                 "--tls-key", str(pki.server_key)], cwd=REPO, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"https://[::1]:{port}/healthz", verify=str(pki.ca)).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        trusted = Responder("::1", port, token, ssl.create_default_context(cafile=str(pki.ca)))
        assert trusted.url == f"https://[::1]:{port}"
        for direction in ("download", "upload"):
            result = http_bandwidth(direction, trusted, duration_s=1.0, streams=2)
            assert result.errors == [] and result.mbps is not None and result.mbps > 10, (direction, result)
        untrusted = Responder("::1", port, token, ssl.create_default_context())  # the system store only
        result = http_bandwidth("download", untrusted, duration_s=1.0, streams=1)
        assert result.mbps is None and "central.ca_file" in result.errors[0], result.errors
    finally:
        proc.terminate()
        proc.wait(10)
    assert token not in log.read_text()
