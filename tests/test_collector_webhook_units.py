"""The webhook outbox's pure parts (signature, outcomes, backoff) and its store methods on real SQLite."""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from pathlib import Path
from typing import Iterator

import pytest

from collector.store import Event, Store
from collector.webhook import (BACKOFF_CAP_S, Outcome, body_bytes, classify, origin, parse_retry_after,
                               retry_delay, sign)
from tests.collector_helpers import collector_db, write_events


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # RFC 4231, test case 2.
    assert sign(b"Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_body_keeps_the_event_fields() -> None:
    event = Event("r-1", 1764650000.0, "ok", "fail", "net.link", 42)
    assert json.loads(body_bytes(event)) == {
        "id": 42, "room_id": "r-1", "at": "2025-12-02T04:33:20Z", "from": "ok", "to": "fail", "detail": "net.link"}


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.DELIVERED), (202, Outcome.DELIVERED), (204, Outcome.DELIVERED),
    (408, Outcome.RETRY), (429, Outcome.RETRY), (500, Outcome.RETRY), (503, Outcome.RETRY),
    (400, Outcome.REFUSED), (401, Outcome.REFUSED), (404, Outcome.REFUSED), (410, Outcome.REFUSED),
    (301, Outcome.REFUSED),
])
def test_classify(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_retry_after_seconds_and_http_date() -> None:
    now = 1_764_650_000.0
    assert parse_retry_after("5", now) == 5
    assert parse_retry_after(" 120 ", now) == 120
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-1", now) is None


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert retry_delay(0, jitter=0.0) == 0.5 and retry_delay(0, jitter=1.0) == 1.0
    assert retry_delay(3, jitter=0.0) == 4.0 and retry_delay(3, jitter=1.0) == 8.0
    assert retry_delay(50, jitter=1.0) == BACKOFF_CAP_S
    assert all(0.5 <= retry_delay(0) <= 1.0 for _ in range(100))
    # Retry-After: never sooner than asked, never later than the cap.
    assert retry_delay(0, 10, jitter=0.0) == 10
    assert retry_delay(5, 1, jitter=1.0) == 32
    assert retry_delay(0, 3600, jitter=0.0) == BACKOFF_CAP_S


def test_origin_hides_path_query_and_credentials() -> None:
    assert origin("https://u:p@hooks.example.vn:8443/services/T/B/secret?token=x") == "https://hooks.example.vn:8443"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(collector_db(tmp_path))
    s.add_room("r-1")
    yield s
    s.close()


def events(store: Store, seqs: range, at: float) -> list[int]:
    """One event per seq for room r-1, written beside ``store`` (the same database)."""
    return write_events(store.location, "r-1", seqs, at)


def test_a_new_cursor_starts_at_the_newest_event_and_stays(store: Store) -> None:
    assert store.open_cursor("webhook") == 0  # no events yet
    ids = events(store, range(1, 4), time.time())
    assert store.open_cursor("webhook") == 0  # an existing cursor is not moved
    assert store.open_cursor("other") == ids[-1]  # a new one skips the history
    assert [e.id for e in store.events_after(0, 2)] == ids[:2]
    assert store.count_events_after(ids[0]) == 2
    store.advance_cursor("webhook", ids[1])
    store.advance_cursor("webhook", ids[0])  # never back
    assert store.cursor("webhook") == ids[1]
    assert store.cursor("nobody") is None


def test_a_cursor_above_the_newest_event_comes_down(store: Store) -> None:
    ids = events(store, range(1, 4), time.time() - 86400)
    store.open_cursor("webhook")
    store.advance_cursor("webhook", ids[-1])
    assert store.purge(time.time()) > 0  # no webhook configured: everything old goes
    # SQLite would hand out ids 1, 2, 3 again: a cursor left at 3 would skip them.
    assert store.open_cursor("webhook") == 0
    (new,) = events(store, range(4, 5), time.time())
    assert [e.id for e in store.events_after(store.cursor("webhook") or 0, 10)] == [new]


def test_purge_keeps_events_the_cursor_has_not_passed(store: Store) -> None:
    store.open_cursor("webhook")  # at 0: every event to come is pending
    ids = events(store, range(1, 7), time.time() - 86400)
    # No such cursor yet: only the six heartbeats and their six figure rows go, no event.
    assert store.purge(time.time(), keep_from_cursor="absent") == 12
    assert store.count_events_after(0) == 6
    assert store.purge(time.time(), keep_from_cursor="webhook") == 0
    assert store.count_events_after(0) == 6
    store.advance_cursor("webhook", ids[2])
    store.purge(time.time(), keep_from_cursor="webhook")
    # Below the cursor: gone; the cursor's own event stays, so new ids stay above it.
    assert [e.id for e in store.events_after(0, 10)] == ids[2:]
