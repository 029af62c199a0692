"""Bandwidth test slots: ``POST /api/v1/probe/slot`` grants at most --probe-slots per responder.

The endpoint against a real ``bridge-collector serve``; lease expiry and the schema
upgrade against the real SQLite store (expiry with the clock passed in, not waited for).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from collector.store import SCHEMA_VERSION, Store
from collector.web.probe_slot import LEASE_MARGIN_S, RELEASE_GRACE_S, lease_seconds, parse_request
from tests.collector_helpers import running_collector

RESPONDER = "[2001:db8::5]:8080"


def _ask(c, room: str, responder: str = RESPONDER, duration_s: float = 5, **kw) -> httpx.Response:
    return httpx.post(f"{c.url}/api/v1/probe/slot", json={"responder": responder, "duration_s": duration_s},
                      headers={"Authorization": f"Bearer {c.tokens[room]}"}, trust_env=False, **kw)


def test_two_slots_then_a_wait_then_the_released_slot(tmp_path: Path) -> None:
    rooms = ("room-1", "room-2", "room-3")
    with running_collector(tmp_path, rooms=rooms, extra_args=("--probe-slots", "2")) as c:
        first, second = _ask(c, "room-1").json(), _ask(c, "room-2").json()
        assert first["granted"] and second["granted"] and first["lease"] != second["lease"]
        assert first["lease_s"] == 5 * 2 + LEASE_MARGIN_S
        refused = _ask(c, "room-3")
        assert refused.status_code == 200 and refused.json()["granted"] is False
        wait = refused.json()["retry_after_s"]
        assert 1 <= wait <= first["lease_s"] - LEASE_MARGIN_S and refused.headers["Retry-After"] == str(wait)
        # Another responder has its own slots.
        assert _ask(c, "room-3", responder="[2001:db8::6]:8080").json()["granted"]
        # Asking again while holding a lease (an agent restarted) is the same lease, not a second slot.
        assert _ask(c, "room-2").json()["lease"] == second["lease"]
        # Another room cannot release it; its own room can, and the slot goes to the next room.
        release = f"{c.url}/api/v1/probe/slot/{first['lease']}"
        other = httpx.delete(release, headers={"Authorization": f"Bearer {c.tokens['room-3']}"})
        assert other.status_code == 200 and other.json() == {"released": False}
        mine = httpx.delete(release, headers={"Authorization": f"Bearer {c.tokens['room-1']}"})
        assert mine.json() == {"released": True}
        # Free once the responder has seen the last connection close (RELEASE_GRACE_S).
        assert not _ask(c, "room-3").json()["granted"]
        time.sleep(RELEASE_GRACE_S + 0.1)
        assert _ask(c, "room-3").json()["granted"]


def test_slot_refuses_strangers_and_bad_bodies_with_4xx(tmp_path: Path) -> None:
    with running_collector(tmp_path) as c:
        url = f"{c.url}/api/v1/probe/slot"
        assert httpx.post(url, json={"responder": RESPONDER, "duration_s": 5}).status_code == 401
        # A read token of the API is not a room's token.
        assert httpx.post(url, json={"responder": RESPONDER, "duration_s": 5}, headers=c.auth).status_code == 401
        room = {"Authorization": f"Bearer {c.tokens['room-1']}"}
        for body in (b"nonsense", b"[]", b'{"responder": "", "duration_s": 5}',
                     b'{"responder": "x:1", "duration_s": 0}', b'{"responder": "x:1", "duration_s": 61}',
                     b'{"responder": "x:1", "duration_s": true}', b'{"responder": "x:1"}'):
            answer = httpx.post(url, content=body, headers=room)
            assert answer.status_code == 422 and "error" in answer.json(), body
        assert httpx.delete(url + "/unknown", headers=room).json() == {"released": False}


def test_parse_request_and_lease_length() -> None:
    assert parse_request(b'{"responder": "h:1", "duration_s": 2.5}') == ("h:1", 2.5)
    assert isinstance(parse_request(b'{"responder": 5, "duration_s": 2}'), str)
    assert lease_seconds(5) == 20


def test_leases_expire_and_free_their_slot(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    try:
        a = store.grant_probe_slot("r:1", "room-a", 1, 20, now=1000.0)
        assert a.granted
        refused = store.grant_probe_slot("r:1", "room-b", 1, 20, now=1005.0)
        assert not refused.granted and refused.wait_s == 15
        assert [l["room_id"] for l in store.probe_leases(1005.0)] == ["room-a"]
        # Never released (the agent died mid-test): the lease ends at granted + lease_s.
        later = store.grant_probe_slot("r:1", "room-b", 1, 20, now=1020.0)
        assert later.granted and [l["room_id"] for l in store.probe_leases(1020.0)] == ["room-b"]
        assert not store.release_probe_slot(a.lease_id or "", "room-a", 1020.0, 1.0)
        # Released: free after the grace, not at the lease's end.
        assert store.release_probe_slot(later.lease_id or "", "room-b", 1021.0, 1.0)
        assert not store.grant_probe_slot("r:1", "room-c", 1, 20, now=1021.5).granted
        assert store.grant_probe_slot("r:1", "room-c", 1, 20, now=1022.0).granted
    finally:
        store.close()


def test_the_previous_schema_gains_the_lease_table(tmp_path: Path) -> None:
    # A database of the version before the lease table's step lacks it; the upgrade adds it.
    from collector.store import _MIGRATIONS, _PROBE_SCHEMA

    db = tmp_path / "c.db"
    Store(db).close()
    before = _MIGRATIONS.index(_PROBE_SCHEMA) + 1  # step i takes version i+1 to i+2
    conn = sqlite3.connect(db)
    conn.executescript(f"DROP TABLE probe_leases; PRAGMA user_version={before};")
    conn.close()
    store = Store(db)
    try:
        assert store.grant_probe_slot("r:1", "room-a", 4, 20, now=1.0).granted
    finally:
        store.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_agent_reads_the_three_outcomes_and_nothing_else() -> None:
    from agent.daemon.slot import GRANTED, NO_ANSWER, REFUSED, parse_slot_answer, slot_url

    assert parse_slot_answer(200, '{"granted": true, "lease": "abc", "lease_s": 20}').lease == "abc"
    assert parse_slot_answer(200, '{"granted": true}').kind == GRANTED
    refused = parse_slot_answer(200, '{"granted": false, "retry_after_s": 7}')
    assert (refused.kind, refused.wait_s) == (REFUSED, 7)
    assert parse_slot_answer(200, '{"granted": false, "retry_after_s": 1e9}').wait_s == 3600
    assert parse_slot_answer(200, '{"granted": false, "retry_after_s": "soon"}').wait_s == 1
    # An older collector (404), a sink that answers anything, a proxy's page: no answer.
    for status, body in ((404, '{"detail": "Not Found"}'), (200, '{"detail": "answer 200"}'),
                         (200, "<html>"), (503, "")):
        assert parse_slot_answer(status, body).kind == NO_ANSWER, (status, body)
    assert slot_url("https://c.example.vn:8443/api/v1/heartbeat") == "https://c.example.vn:8443/api/v1/probe/slot"
