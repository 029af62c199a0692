"""HTTP goodput to the responder: parallel streams for a fixed time, ramp-up discarded.

Each stream is one TCP connection speaking plain HTTP/1.1 to the responder's
probe endpoints. A sampler reads every stream's byte count at the end of the
ramp-up and at the end of the run; the goodput is the difference over that
window. Both directions count in the kernel, from TCP_INFO: downloads the
bytes received (``tcpi_bytes_received``), uploads the bytes the responder
acknowledged (``tcpi_bytes_acked``). Counting in the application instead
runs ahead by whatever the send buffer holds (measured: +20% upload at
10 Mbit/s), or lags by the receive buffer whenever the reading thread is
starved of CPU (+6% download at 50 Mbit/s on a loaded machine). That is why
the socket is ours and not an HTTP library's. At the end connections are reset, so nothing queued keeps
loading the link.

Every request carries the room's token (the responder serves enrolled rooms only)
and, by default, runs over TLS: the kernel then counts TLS records, about 0.2%
more than the payload, which is within what the measurement can tell apart.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from agent.net.route import os_error_words

DOWNLOAD_PATH = "/api/v1/probe/download"
UPLOAD_PATH = "/api/v1/probe/upload"
# What the longest run (probe.duration_s 60 s) moves on a 1 Gbit/s link, the most one
# request may ask of the responder (collector/probe/http.py MAX_BYTES); the stream is
# cut at the deadline long before on any room link.
DOWNLOAD_BYTES = 7_500_000_000
CHUNK_SIZE = 128 * 1024
# One chunk of a chunked request body (RFC 9112 §7.1), built once.
UPLOAD_CHUNK = f"{CHUNK_SIZE:x}\r\n".encode() + bytes(CHUNK_SIZE) + b"\r\n"
RAMP_UP_S = 1.0
PROGRESS_EVERY_S = 0.25
# struct tcp_info (include/uapi/linux/tcp.h, Linux 4.1+): __u32 tcpi_snd_mss at offset 16,
# __u32 tcpi_sacked at 28 (segments), __u64 tcpi_bytes_acked at 120, tcpi_bytes_received at 128.
TCP_INFO = struct.Struct("=16xI8xI88xQQ")
TCP_INFO_LEN = 256

Progress = Callable[[float, float | None], None]  # (fraction done, Mbit/s so far)


BUSY = 503  # the responder runs as many transfers as it allows (other rooms'); not this link's fault


class ProbeHTTPError(Exception):
    """The responder answered, but not with a probe transfer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Responder:
    """Where the transfers go and how: ``tls`` None is plain HTTP; the token is never in a message."""

    address: str
    port: int
    token: str
    tls: ssl.SSLContext | None = None
    server_name: str | None = None  # the name the certificate must carry (default: the address)

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


@dataclass
class BandwidthResult:
    direction: str  # "upload" or "download"
    mbps: float | None
    bytes_measured: int = 0
    seconds: float = 0.0
    streams: int = 0
    errors: list[str] = field(default_factory=list)
    busy: bool = False  # the responder answered 503: it served other rooms, nothing was measured


def goodput_mbps(byte_count: int, seconds: float) -> float | None:
    return round(byte_count * 8 / seconds / 1e6, 3) if seconds > 0 else None


def ramp_up(duration_s: float) -> float:
    """The discarded start: one second, or half of a very short run."""
    return min(RAMP_UP_S, duration_s / 2)


def tcp_delivered(sock: socket.socket, direction: str) -> int | None:
    """Bytes this connection has moved so far as the kernel counts them; None without TCP_INFO.

    Download: bytes received. Upload: bytes the peer acknowledged, cumulatively or
    selectively (SACK), so that a retransmission hole open at the moment of a
    sample does not hide data the responder already has.
    """
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_LEN)
    if len(info) < TCP_INFO.size:
        return None
    mss, sacked, acked, received = TCP_INFO.unpack_from(info)
    return received if direction == "download" else acked + sacked * mss


def request_head(method: str, target: str, host: str, port: int, extra: str = "", token: str = "") -> bytes:
    host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: bridge-agent\r\n"
        f"{auth}Connection: close\r\n{extra}\r\n"
    ).encode()


_REFUSALS = {
    401: " (it does not know this room's token: is the room enrolled in the database it reads?)",
    503: " (busy with other rooms' transfers; the next run tries again)",
}


def tls_error_words(err: ssl.SSLError) -> str:
    """A failed handshake in words: what to fix on which side."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"TLS: the responder's certificate is not trusted ({err.verify_message}); check central.ca_file"
    return f"TLS handshake failed ({err.reason or type(err).__name__})"


def parse_status(head: bytes) -> int | None:
    """The status code of an HTTP/1.x response head, or None."""
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
        return int(parts[1])
    return None


class _Stream(threading.Thread):
    def __init__(
        self, direction: str, responder: Responder, stop: threading.Event, timeout: float
    ) -> None:
        super().__init__(name=f"bw-{direction}", daemon=True)
        self.direction, self.responder = direction, responder
        self.address, self.port = responder.address, responder.port
        self.stop, self.timeout = stop, timeout
        self.error: str | None = None
        self.status: int | None = None  # the responder's HTTP status when it refused
        self._sock: socket.socket | None = None
        self._base: int | None = None
        self._moved = 0
        self._lock = threading.Lock()

    def moved(self) -> int:
        """Bytes moved so far: received (download) or acknowledged by the responder (upload)."""
        with self._lock:
            if self._sock is not None and self._base is not None:
                try:
                    count = tcp_delivered(self._sock, self.direction)
                except OSError:
                    count = None
                if count is not None:
                    self._moved = count - self._base
            return self._moved

    def run(self) -> None:
        try:
            sock = self._connect()
        except ssl.SSLError as err:
            self.error = tls_error_words(err)
            return
        except OSError as err:
            self.error = os_error_words(err)
            return
        try:
            with self._lock:
                self._sock = sock
            if self.direction == "download":
                self._download(sock)
            else:
                self._upload(sock)
        except ProbeHTTPError as err:
            self.error, self.status = str(err), err.status
        except OSError as err:
            if not self.stop.is_set():
                self.error = os_error_words(err)
        finally:
            self.moved()  # the last count, before the socket goes
            with self._lock:
                self._sock = None
                # Reset rather than linger: queued bytes must not keep loading the link.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.address, self.port), timeout=self.timeout)
        if self.responder.tls is None:
            return sock
        try:
            return self.responder.tls.wrap_socket(
                sock, server_hostname=self.responder.server_name or self.address)
        except OSError:
            sock.close()
            raise

    def _head(self, method: str, target: str, extra: str = "") -> bytes:
        return request_head(method, target, self.address, self.port, extra, self.responder.token)

    def _download(self, sock: socket.socket) -> None:
        target = f"{DOWNLOAD_PATH}?bytes={DOWNLOAD_BYTES}"
        sock.sendall(self._head("GET", target))
        self._start_count(sock)
        buffer = bytearray(256 * 1024)
        head = b""
        while b"\r\n\r\n" not in head:
            count = sock.recv_into(buffer)
            if not count:
                raise ProbeHTTPError("the responder closed the connection without answering")
            head += bytes(buffer[:count])
        head = head.partition(b"\r\n\r\n")[0]
        self._check(head, DOWNLOAD_PATH)
        while not self.stop.is_set():
            if not sock.recv_into(buffer):
                return

    def _upload(self, sock: socket.socket) -> None:
        extra = "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
        sock.sendall(self._head("POST", UPLOAD_PATH, extra))
        self._start_count(sock)
        while not self.stop.is_set():
            sock.sendall(UPLOAD_CHUNK)
            self._answered_early(sock)

    def _start_count(self, sock: socket.socket) -> None:
        self._base = tcp_delivered(sock, self.direction)
        if self._base is None:  # Linux before 4.1: no byte counters, and no guessing
            raise ProbeHTTPError("this kernel does not count TCP bytes (TCP_INFO too old)")

    def _answered_early(self, sock: socket.socket) -> None:
        """A responder that refuses (401, 404, 503, ...) answers before the body ends."""
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return
        # Without blocking: over TLS "readable" may be a session ticket, not an answer.
        sock.setblocking(False)
        try:
            head = sock.recv(4096)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        finally:
            sock.settimeout(self.timeout)
        if head:
            self._check(head, UPLOAD_PATH)

    def _check(self, head: bytes, path: str) -> None:
        status = parse_status(head)
        if status is None:
            raise ProbeHTTPError(f"the answer to {path} is not HTTP")
        if status != 200:
            hint = _REFUSALS.get(status, "")
            raise ProbeHTTPError(f"the responder answered HTTP {status} to {path}{hint}", status)


def http_bandwidth(
    direction: str,
    responder: Responder,
    duration_s: float,
    streams: int,
    progress: Progress | None = None,
    timeout: float = 5.0,
) -> BandwidthResult:
    """Goodput of ``direction`` ("upload"/"download") over ``streams`` parallel connections."""
    stop = threading.Event()
    workers = [_Stream(direction, responder, stop, timeout) for _ in range(streams)]
    ramp = ramp_up(duration_s)
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    mark_time: float | None = None
    mark_bytes = 0
    end = started + duration_s
    while True:
        now = time.perf_counter()
        if mark_time is None and now >= started + ramp:
            mark_time, mark_bytes = now, sum(w.moved() for w in workers)
        if now >= end or not any(w.is_alive() for w in workers):
            break
        if progress:
            so_far = None
            if mark_time is not None and now > mark_time:
                so_far = goodput_mbps(sum(w.moved() for w in workers) - mark_bytes, now - mark_time)
            progress(min(1.0, (now - started) / duration_s), so_far)
        next_event = started + ramp if mark_time is None else end
        time.sleep(min(PROGRESS_EVERY_S, max(0.0, next_event - now)))
    finish_time, finish_bytes = time.perf_counter(), sum(w.moved() for w in workers)
    stop.set()
    for worker in workers:
        worker.join(timeout)
    errors = sorted({w.error for w in workers if w.error})
    result = BandwidthResult(direction, None, streams=streams, errors=errors,
                             busy=any(w.status == BUSY for w in workers))
    if errors:
        return result
    if mark_time is None or finish_time <= mark_time:
        result.errors = ["the streams ended before the measurement window"]
        return result
    result.bytes_measured = finish_bytes - mark_bytes
    result.seconds = round(finish_time - mark_time, 3)
    result.mbps = goodput_mbps(result.bytes_measured, finish_time - mark_time)
    return result
