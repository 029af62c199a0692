"""The webhook outbox end to end: the real collector, a real receiver on [::1], real SQLite.

A crash (SIGKILL) with events pending loses none; a refused event is counted and
skipped; 429/503 hold the queue in order and show up as lag; events written by
another process are delivered; a first start does not replay history; every
POST is signed with the secret from ``--webhook-secret-file``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable, Iterator

import httpx
import pytest

from tests.sample import heartbeat
from collector.store import Store
from tests.collector_helpers import (collector_db, WEBHOOK_SECRET, RunningCollector, run_collector, running_collector,
                                     webhook_args, write_events)
from tests.daemon_helpers import wait_for

SECRET = WEBHOOK_SECRET
EVENT_FIELDS = {"id", "room_id", "at", "from", "to", "detail"}


@dataclass(frozen=True)
class Attempt:
    """One POST as the receiver saw it, and what it answered."""

    at: float
    body: bytes
    signature: str | None
    event_id: int
    answered: int


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: answers from ``script`` first, then ``answer``; records every attempt."""

    address_family = socket.AF_INET6

    def __init__(self) -> None:
        self.answer = 200
        self.script: list[tuple[int, dict[str, str]]] = []
        self.attempts: list[Attempt] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    status, headers = outer.script.pop(0) if outer.script else (outer.answer, {})
                    outer.attempts.append(Attempt(time.monotonic(), body, self.headers["X-Bridge-Signature"],
                                                  int(self.headers["X-Bridge-Event-Id"]), status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("::1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://[::1]:{self.server_address[1]}/hook"

    def tried_ids(self) -> list[int]:
        with self.lock:
            return [a.event_id for a in self.attempts]

    def delivered_ids(self) -> list[int]:
        with self.lock:
            return [a.event_id for a in self.attempts if 200 <= a.answered < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def status_for(seq: int) -> str:
    """ok, fail, ok, fail, ...: every heartbeat is a transition, so every one writes an event."""
    return "ok" if seq % 2 else "fail"


def make_events(c: RunningCollector, room: str, seqs: Iterable[int]) -> None:
    for seq in seqs:
        status = status_for(seq)
        body = heartbeat(room, seq, status=status, failing="net.link" if status == "fail" else None)
        r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens[room]}"}, timeout=30)
        assert r.status_code == 200, r.text


def event_ids(c: RunningCollector) -> list[int]:
    """Every event id in the database, oldest first."""
    events = c.get("/api/v1/events", params={"limit": 1000}, timeout=30).json()["events"]
    return sorted(e["id"] for e in events)


def metrics(c: RunningCollector) -> dict[str, float]:
    text = c.get("/metrics", timeout=30).text
    out = {}
    for line in text.splitlines():
        if line.startswith("bridge_webhook_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def metrics_names(text: str) -> list[str]:
    return [line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")]


def assert_signed(attempts: list[Attempt]) -> None:
    """Every POST: the signature verifies over the exact bytes, and the header id is the body's."""
    for a in attempts:
        expected = "sha256=" + hmac.new(SECRET.encode(), a.body, hashlib.sha256).hexdigest()
        assert a.signature is not None and hmac.compare_digest(a.signature, expected), a
        doc = json.loads(a.body)
        assert set(doc) == EVENT_FIELDS and doc["id"] == a.event_id


def test_sigkill_with_events_pending_loses_none(tmp_path: Path, receiver: Receiver) -> None:
    receiver.answer = 503
    with running_collector(tmp_path, extra_args=webhook_args(tmp_path, receiver.url)) as c:
        make_events(c, "room-1", range(1, 9))
        ids = event_ids(c)
        assert len(ids) == 8
        wait_for(lambda: metrics(c).get("bridge_webhook_retries_total", 0) >= 1)
        m = metrics(c)
        assert m["bridge_webhook_pending"] == 8 and m["bridge_webhook_delivered_total"] == 0
        assert set(receiver.tried_ids()) == {ids[0]}  # the first one is retried, the others wait
        c.process.kill()  # SIGKILL: nothing is flushed or handed over
        c.process.wait()
        receiver.answer = 200
        c.start()
        wait_for(lambda: set(receiver.delivered_ids()) >= set(ids))
        delivered = receiver.delivered_ids()
        # At least once, in order of id: a re-send repeats an id, never jumps back past another.
        assert delivered == sorted(delivered)
        assert list(dict.fromkeys(delivered)) == ids
        assert_signed(receiver.attempts)
        wait_for(lambda: metrics(c)["bridge_webhook_pending"] == 0)
        assert metrics(c)["bridge_webhook_delivered_total"] == len(delivered)
    assert SECRET not in c.log.read_text()


def test_refused_event_is_counted_as_failed_and_skipped(tmp_path: Path, receiver: Receiver) -> None:
    receiver.answer = 400
    with running_collector(tmp_path, extra_args=webhook_args(tmp_path, receiver.url)) as c:
        make_events(c, "room-1", [1])
        wait_for(lambda: metrics(c)["bridge_webhook_failed_total"] == 1)
        (refused,) = event_ids(c)
        m = metrics(c)
        assert m["bridge_webhook_pending"] == 0 and m["bridge_webhook_retries_total"] == 0
        assert "bridge_webhook_last_success_timestamp_seconds" not in m  # nothing accepted yet
        receiver.answer = 200
        make_events(c, "room-1", [2])
        second = event_ids(c)[-1]
        wait_for(lambda: receiver.delivered_ids() == [second])
        assert receiver.tried_ids() == [refused, second]  # the refused one was tried once, then skipped
        assert "refused event" in c.log.read_text()
        # The cursor was saved past both: a restart sends neither again.
        c.stop()
        c.start()
        make_events(c, "room-1", [3])
        third = event_ids(c)[-1]
        wait_for(lambda: receiver.delivered_ids() == [second, third])
        time.sleep(0.5)
        assert receiver.tried_ids() == [refused, second, third]
        assert_signed(receiver.attempts)


def test_429_and_503_are_retried_in_order_and_show_as_lag(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script = [(429, {"Retry-After": "1"})]
    receiver.answer = 503
    with running_collector(tmp_path, extra_args=webhook_args(tmp_path, receiver.url)) as c:
        make_events(c, "room-1", range(1, 4))
        ids = event_ids(c)
        wait_for(lambda: len(receiver.tried_ids()) >= 3)
        m = metrics(c)
        assert m["bridge_webhook_pending"] == 3
        assert m["bridge_webhook_delivered_total"] == 0 and m["bridge_webhook_retries_total"] >= 2
        first, second = receiver.attempts[:2]
        assert second.at - first.at >= 0.95  # Retry-After: 1 was honoured
        receiver.answer = 200
        wait_for(lambda: receiver.delivered_ids() == ids)
        tried = receiver.tried_ids()
        assert tried == sorted(tried) and tried.count(ids[0]) >= 3 and tried[-2:] == ids[1:]
        wait_for(lambda: metrics(c)["bridge_webhook_pending"] == 0)
        m = metrics(c)
        assert m["bridge_webhook_delivered_total"] == 3 and m["bridge_webhook_failed_total"] == 0
        assert abs(m["bridge_webhook_last_success_timestamp_seconds"] - time.time()) < 60
        assert_signed(receiver.attempts)


def test_first_start_skips_history_and_delivers_events_of_another_process(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = collector_db(tmp_path)
    store = Store(db)
    store.add_room("old-1")
    store.close()
    history = write_events(db, "old-1", (1, 2), time.time() - 3600)
    with running_collector(tmp_path, extra_args=webhook_args(tmp_path, receiver.url)) as c:
        assert metrics(c)["bridge_webhook_pending"] == 0  # history is not replayed to a new receiver
        # Another process writing to the same database: found by polling, not by a wake-up.
        (elsewhere,) = write_events(c.db, "old-1", [3], time.time())
        wait_for(lambda: receiver.delivered_ids() == [elsewhere], timeout=15)
        make_events(c, "room-1", [1])
        here = event_ids(c)[-1]
        wait_for(lambda: receiver.delivered_ids() == [elsewhere, here])
        assert not set(history) & set(receiver.tried_ids())
        assert_signed(receiver.attempts)


def test_retention_keeps_events_not_yet_delivered(tmp_path: Path, receiver: Receiver) -> None:
    db = collector_db(tmp_path)
    store = Store(db)
    store.open_cursor("webhook")  # a webhook that was already delivering (at 0): nothing old is handled
    store.add_room("old-1")
    store.close()
    old = write_events(db, "old-1", range(1, 5), time.time() - 3 * 86400)
    receiver.answer = 503
    args = ("--retention-days", "2", "--sweep-interval", "0.2", *webhook_args(tmp_path, receiver.url))
    with running_collector(tmp_path, extra_args=args) as c:
        wait_for(lambda: c.heartbeats("old-1") == [])  # the purge ran
        # The old events all kept (old-1 is not offline yet: after the collector's own gap
        # each room gets 3 intervals to be heard, see test_collector_streams).
        kept = event_ids(c)
        assert set(old) == set(kept) and metrics(c)["bridge_webhook_pending"] == len(kept)
        receiver.answer = 200
        wait_for(lambda: receiver.delivered_ids() == kept)
    assert_signed(receiver.attempts)


@pytest.mark.one_store
def test_webhook_metrics_pass_promtool(tmp_path: Path, receiver: Receiver) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    with running_collector(tmp_path, extra_args=webhook_args(tmp_path, receiver.url)) as c:
        make_events(c, "room-1", [1])
        wait_for(lambda: metrics(c).get("bridge_webhook_last_success_timestamp_seconds"))
        text = c.get("/metrics", timeout=30).text
    assert {"bridge_webhook_delivered_total", "bridge_webhook_failed_total", "bridge_webhook_retries_total",
            "bridge_webhook_pending", "bridge_webhook_last_success_timestamp_seconds"} <= set(metrics_names(text))
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_webhook_no_webhook_metrics(tmp_path: Path) -> None:
    with running_collector(tmp_path) as c:
        assert metrics(c) == {}


@pytest.mark.sqlite_only
def test_bad_webhook_secret_file_is_a_usage_error(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text(SECRET + "\n")
    short = tmp_path / "short"
    short.write_text("too-short-15-ch\n")
    hook = "http://[::1]:9/hook"
    cases = [
        (("--webhook", hook), ["--webhook-secret-file"]),
        (("--webhook", hook, "--webhook-secret-file", str(tmp_path / "missing")),
         ["--webhook-secret-file", "No such file"]),
        (("--webhook", hook, "--webhook-secret-file", str(short)), ["--webhook-secret-file", "at least 16"]),
        (("--webhook", hook, "--webhook-secret-file", str(tmp_path)), ["--webhook-secret-file", "Is a directory"]),
        (("--webhook-secret-file", str(good)), ["only used with --webhook"]),
        (("--webhook", "http://[::1/hook", "--webhook-secret-file", str(good)), ["--webhook must be"]),
    ]
    for args, words in cases:
        done = run_collector("--db", str(tmp_path / "c.db"), "serve", "--listen", "[::1]:0", "--stamp-port", "0",
                             *args)
        assert done.returncode == 64, (args, done.stderr)
        for word in words:
            assert word in done.stderr, (args, done.stderr)
        assert "too-short-15-ch" not in done.stderr and SECRET not in done.stderr
