"""``bridge-collector serve`` with TLS and the STAMP reflector, and ``probe-serve`` alone."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.sample import heartbeat
from tests.collector_helpers import collector_command, free_port, run_collector


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(args: list[str], health_url: str, log: Path, **client: object) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        process = subprocess.Popen([*collector_command(), *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health_url, timeout=1, **client).status_code == 200:  # type: ignore[arg-type]
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def stamp_roundtrip(port: int) -> bytes:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(struct.pack("!IQH30x", 7, 0, 1), ("::1", port))
        return s.recv(200)


@pytest.mark.sqlite_only
def test_tls_and_stamp_reflector(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=::1",
                    "-addext", "subjectAltName=IP:::1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    db = tmp_path / "c.db"
    token = run_collector("--db", str(db), "room", "add", "tls-1").stdout.strip()
    port, stamp = free_port(), free_udp_port()
    url = f"https://[::1]:{port}"
    args = ["--db", str(db), "serve", "--listen", f"[::1]:{port}", "--tls-cert", str(cert), "--tls-key", str(key),
            "--probe-in-process", "--stamp-port", str(stamp)]
    with serving(args, url + "/healthz", tmp_path / "log", verify=str(cert)):
        r = httpx.post(url + "/api/v1/heartbeat", json=heartbeat("tls-1", 1), verify=str(cert),
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/healthz")  # not trusted without the CA: verification is on by default
        reply = stamp_roundtrip(stamp)
        assert len(reply) == 44 and struct.unpack_from("!I", reply, 24)[0] == 7  # sender seq echoed
        # The probe endpoints of serve know the rooms of its database too.
        probe = url + "/api/v1/probe/download"
        assert httpx.get(probe, params={"bytes": 10}, verify=str(cert)).status_code == 401
        assert httpx.get(probe, params={"bytes": 10}, verify=str(cert),
                         headers={"Authorization": f"Bearer {token}"}).content == bytes(10)
    assert token not in (tmp_path / "log").read_text()


@pytest.mark.sqlite_only
def test_probe_serve_alone(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    auth = {"Authorization": "Bearer " + run_collector("--db", str(db), "room", "add", "probe-1").stdout.strip()}
    port, stamp = free_port(), free_udp_port()
    url = f"http://[::1]:{port}"
    with serving(["--db", str(db), "probe-serve", "--listen", f"[::1]:{port}", "--stamp-port", str(stamp)],
                 url + "/healthz", tmp_path / "log"):
        assert httpx.get(url + "/api/v1/probe/download", params={"bytes": 4096}).status_code == 401
        assert len(httpx.get(url + "/api/v1/probe/download", params={"bytes": 4096}, headers=auth).content) == 4096
        assert httpx.post(url + "/api/v1/probe/upload", content=b"x" * 1000, headers=auth).json()["bytes"] == 1000
        assert len(stamp_roundtrip(stamp)) == 44
        assert httpx.post(url + "/api/v1/heartbeat", json={}).status_code == 404  # only the responder
