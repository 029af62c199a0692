"""Test helpers for the service: a real HTTP(S) heartbeat sink on [::1], certificates, configs."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


@dataclass
class Sink:
    """Records every POST; answers from ``script`` (status codes, used in order), then ``default``.

    ``reply``: the JSON body of every answer (default: ``{"detail": "answer CODE"}``).
    """

    default: int = 200
    script: deque[int] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: Any = None
    scheme: str = "http"
    reply: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://[::1]:{self.server.server_address[1]}/api/v1/heartbeat"

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def accepted(self) -> list[dict[str, Any]]:
        """Bodies answered with a 2xx, in arrival order."""
        return [json.loads(r["body"]) for r in self.requests if 200 <= r["code"] < 300]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_sink(default: int = 200, tls: ssl.SSLContext | None = None) -> Sink:
    sink = Sink(default=default, scheme="https" if tls else "http")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            code = sink.script.popleft() if sink.script else sink.default
            sink.requests.append({"headers": dict(self.headers), "body": body, "code": code})
            payload = json.dumps(sink.reply if sink.reply is not None else {"detail": f"answer {code}"}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = _V6Server(("::1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    sink.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(directory: Path) -> Pki:
    """A private CA, a server certificate for ::1 and a client certificate (openssl)."""
    d = directory
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "2", "-subj", "/CN=test CA")
    for name, ext in (("server", "subjectAltName=IP:::1"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"), "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
                 "-CAcreateserial", "-out", str(d / f"{name}.pem"), "-days", "2", "-extfile", str(d / f"{name}.ext"))
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")


def server_tls(pki: Pki, require_client: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki.ca)
    return ctx


def write_config(directory: Path, url: str, *, token: str = "t0k3n-secret-value", interval_s: float = 1,
                 extra: str = "", room: str = "room-1",
                 policy: str = "min_cameras = 0\nmin_microphones = 0\nmin_displays = 0",
                 network: str = "") -> Path:
    """An enrolled configuration for the service in ``directory`` (state and runtime below it).

    Without ``network`` no MCU is configured, so the network chain skips quickly and a cycle
    takes milliseconds: these tests are about delivery, not the network.
    """
    (directory / "token").write_text(token + "\n")
    config = directory / "agent.toml"
    config.write_text(f"""
[room]
id = "{room}"
name = "Phòng thử"

[central]
url = "{url}"
token_file = "token"
interval_s = {interval_s}
timeout_s = 2
{extra}

{network}

[policy]
require_clock_sync = false
{policy}

[agent]
state_dir = "state"
runtime_dir = "run"
""")
    return config


REPO = Path(__file__).resolve().parent.parent


class NotifySocket:
    """A NOTIFY_SOCKET for the service under test: collects every datagram."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._stop = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self) -> None:
        """Stop reading, then collect what is still queued (the last datagrams of an exited agent)."""
        self._stop = True
        self._reader.join(timeout=2)
        self._sock.setblocking(False)
        while True:
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except OSError:  # BlockingIOError: the queue is empty
                break
        self._sock.close()


class Agent:
    """``bridge-agent run`` as a real process."""

    def __init__(self, config: Path, env: dict[str, str] | None = None, stderr_path: Path | None = None) -> None:
        import os
        import sys

        full_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        full_env.update(env or {})
        self.stderr_path = stderr_path or config.parent / "agent.stderr"
        with open(self.stderr_path, "ab") as stderr:  # the child keeps its own descriptor
            self.process = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(config), "run"],
                                            cwd=REPO, env=full_env, stdout=subprocess.DEVNULL, stderr=stderr)

    @property
    def log(self) -> str:
        return self.stderr_path.read_text()

    def terminate(self, timeout: float = 10) -> int:
        self.process.terminate()
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
