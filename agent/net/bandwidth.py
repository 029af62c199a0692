"""HTTP goodput to the responder: parallel streams for a fixed time, ramp-up discarded.

Each stream counts the bytes it moves; a sampler reads the totals at the end
of the ramp-up and at the end of the run, and the goodput is the difference
over that window. Counting application bytes (not wire bytes) is what a
meeting gets. Downloads ask for more than can arrive and hang up at the end;
uploads stream a chunked body until the end.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import httpx

DOWNLOAD_PATH = "/api/v1/probe/download"
UPLOAD_PATH = "/api/v1/probe/upload"
# More than any room link moves in a run; the stream is cut at the deadline.
DOWNLOAD_BYTES = 16 * 2**30
CHUNK = bytes(128 * 1024)
RAMP_UP_S = 1.0
PROGRESS_EVERY_S = 0.25

Progress = Callable[[float, float | None], None]  # (fraction done, Mbit/s so far)


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


class _Stream(threading.Thread):
    def __init__(self, direction: str, base_url: str, stop: threading.Event, timeout: float) -> None:
        super().__init__(name=f"bw-{direction}", daemon=True)
        self.direction = direction
        self.base_url = base_url
        self.stop = stop
        self.timeout = timeout
        self.moved = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=self.timeout) as client:
                if self.direction == "download":
                    self._download(client)
                else:
                    self._upload(client)
        except httpx.HTTPError as err:
            if not self.stop.is_set() or self.moved == 0:
                self.error = _http_error_words(err)

    def _download(self, client: httpx.Client) -> None:
        url = self.base_url + DOWNLOAD_PATH
        with client.stream("GET", url, params={"bytes": DOWNLOAD_BYTES}) as response:
            _raise_for_status(response)
            for piece in response.iter_raw():
                self.moved += len(piece)
                if self.stop.is_set():
                    return

    def _upload(self, client: httpx.Client) -> None:
        def body() -> Iterator[bytes]:
            while not self.stop.is_set():
                yield CHUNK
                self.moved += len(CHUNK)

        response = client.post(self.base_url + UPLOAD_PATH, content=body())
        _raise_for_status(response)


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise httpx.HTTPStatusError(
            f"the responder answered HTTP {response.status_code} to {response.request.url.path}",
            request=response.request,
            response=response,
        )


def _http_error_words(err: httpx.HTTPError) -> str:
    if isinstance(err, httpx.HTTPStatusError):
        return str(err)
    if isinstance(err, httpx.ConnectError):
        cause = str(err) or "cannot connect"
        return "connection refused" if "refused" in cause.lower() else cause
    if isinstance(err, httpx.TimeoutException):
        return "timed out"
    return f"{type(err).__name__}: {err}"


def http_bandwidth(
    direction: str,
    base_url: str,
    duration_s: float,
    streams: int,
    progress: Progress | None = None,
    timeout: float = 5.0,
) -> BandwidthResult:
    """Goodput of ``direction`` ("upload"/"download") over ``streams`` parallel HTTP streams."""
    stop = threading.Event()
    workers = [_Stream(direction, base_url, stop, timeout) for _ in range(streams)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    ramp = ramp_up(duration_s)
    mark_time, mark_bytes = None, 0
    end = started + duration_s
    while True:
        now = time.perf_counter()
        if mark_time is None and now >= started + ramp:
            mark_time, mark_bytes = now, sum(w.moved for w in workers)
        if now >= end or not any(w.is_alive() for w in workers):
            break
        if progress:
            so_far = None
            if mark_time is not None and now > mark_time:
                so_far = goodput_mbps(sum(w.moved for w in workers) - mark_bytes, now - mark_time)
            progress(min(1.0, (now - started) / duration_s), so_far)
        time.sleep(min(PROGRESS_EVERY_S, max(0.0, min(end, started + ramp if mark_time is None else end) - now)))
    finish_time, finish_bytes = time.perf_counter(), sum(w.moved for w in workers)
    stop.set()
    for worker in workers:
        worker.join(timeout)
    errors = sorted({w.error for w in workers if w.error})
    result = BandwidthResult(direction, None, streams=streams, errors=errors)
    if mark_time is not None and not errors and finish_time > mark_time:
        result.bytes_measured = finish_bytes - mark_bytes
        result.seconds = round(finish_time - mark_time, 3)
        result.mbps = goodput_mbps(result.bytes_measured, finish_time - mark_time)
    elif not errors:
        result.errors = ["the streams ended before the measurement window"]
    return result
