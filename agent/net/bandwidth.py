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
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from agent.net.route import os_error_words

DOWNLOAD_PATH = "/api/v1/probe/download"
UPLOAD_PATH = "/api/v1/probe/upload"
# More than any room link moves in a run; the stream is cut at the deadline.
DOWNLOAD_BYTES = 16 * 2**30
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


class ProbeHTTPError(Exception):
    """The responder answered, but not with a probe transfer."""


@dataclass
class BandwidthResult:
    direction: str  # "upload" or "download"
    mbps: float | None
    bytes_measured: int = 0
    seconds: float = 0.0
    streams: int = 0
    errors: list[str] = field(default_factory=list)


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


def request_head(method: str, target: str, host: str, port: int, extra: str = "") -> bytes:
    host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: bridge-agent\r\n"
        f"Connection: close\r\n{extra}\r\n"
    ).encode()


def parse_status(head: bytes) -> int | None:
    """The status code of an HTTP/1.x response head, or None."""
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
        return int(parts[1])
    return None


class _Stream(threading.Thread):
    def __init__(
        self, direction: str, address: str, port: int, stop: threading.Event, timeout: float
    ) -> None:
        super().__init__(name=f"bw-{direction}", daemon=True)
        self.direction, self.address, self.port = direction, address, port
        self.stop, self.timeout = stop, timeout
        self.error: str | None = None
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
            sock = socket.create_connection((self.address, self.port), timeout=self.timeout)
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
            self.error = str(err)
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

    def _download(self, sock: socket.socket) -> None:
        target = f"{DOWNLOAD_PATH}?bytes={DOWNLOAD_BYTES}"
        sock.sendall(request_head("GET", target, self.address, self.port))
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
        sock.sendall(request_head("POST", UPLOAD_PATH, self.address, self.port, extra))
        self._start_count(sock)
        while not self.stop.is_set():
            sock.sendall(UPLOAD_CHUNK)
            self._answered_early(sock)

    def _start_count(self, sock: socket.socket) -> None:
        self._base = tcp_delivered(sock, self.direction)
        if self._base is None:  # Linux before 4.1: no byte counters, and no guessing
            raise ProbeHTTPError("this kernel does not count TCP bytes (TCP_INFO too old)")

    def _answered_early(self, sock: socket.socket) -> None:
        """A responder without the probe endpoint answers (404, ...) before the body ends."""
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            head = sock.recv(4096, socket.MSG_PEEK)
            if head:
                self._check(head, UPLOAD_PATH)

    def _check(self, head: bytes, path: str) -> None:
        status = parse_status(head)
        if status is None:
            raise ProbeHTTPError(f"the answer to {path} is not HTTP")
        if status != 200:
            raise ProbeHTTPError(f"the responder answered HTTP {status} to {path}")


def http_bandwidth(
    direction: str,
    address: str,
    port: int,
    duration_s: float,
    streams: int,
    progress: Progress | None = None,
    timeout: float = 5.0,
) -> BandwidthResult:
    """Goodput of ``direction`` ("upload"/"download") over ``streams`` parallel connections."""
    stop = threading.Event()
    workers = [_Stream(direction, address, port, stop, timeout) for _ in range(streams)]
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
    result = BandwidthResult(direction, None, streams=streams, errors=errors)
    if errors:
        return result
    if mark_time is None or finish_time <= mark_time:
        result.errors = ["the streams ended before the measurement window"]
        return result
    result.bytes_measured = finish_bytes - mark_bytes
    result.seconds = round(finish_time - mark_time, 3)
    result.mbps = goodput_mbps(result.bytes_measured, finish_time - mark_time)
    return result
