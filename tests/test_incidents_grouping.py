"""Incident grouping: the pure judgement (collector.incidents.plan), and sweeps over a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.incidents import CITY, OFFLINE, UNIT, OpenIncident, Problem, Settings, plan, state_problems, sweep
from collector.ingest import to_heartbeat
from tests.sample import heartbeat
from collector.store import Store

NOW = 1_800_000_000.0
S = Settings(min_rooms=5, window_s=180)


def problems(n: int, check: str = "mcu.tcp", unit: str = "A", since: float = NOW - 30,
             first: int = 0) -> list[Problem]:
    return [Problem(f"r{i:03d}", unit, check, since) for i in range(first, first + n)]


def test_five_rooms_failing_together_open_one_city_incident() -> None:
    out = plan(problems(5), {"A": 100}, [], NOW, S)
    assert [(n.check, n.scope, len(n.rooms)) for n in out.opened] == [("mcu.tcp", CITY, 5)]
    assert out.opened[0].started_at == NOW - 30


def test_four_rooms_of_a_big_unit_are_no_incident() -> None:
    assert plan(problems(4), {"A": 100}, [], NOW, S).opened == []


def test_a_quarter_of_a_small_unit_opens_a_unit_incident() -> None:
    out = plan(problems(2, unit="B"), {"B": 8}, [], NOW, S)
    assert [(n.scope, n.unit, len(n.rooms)) for n in out.opened] == [(UNIT, "B", 2)]
    assert plan(problems(1, unit="B"), {"B": 3}, [], NOW, S).opened == []  # one room is a room's problem
    assert plan(problems(2, unit="B"), {"B": 9}, [], NOW, S).opened == []  # 2 < ceil(9 / 4)


def test_onsets_outside_the_window_or_of_other_checks_do_not_count() -> None:
    old = problems(3, since=NOW - 600)
    new = problems(2, first=10)
    other = problems(3, check="net.dns_aaaa", first=20)
    assert plan(old + new + other, {"A": 100}, [], NOW, S).opened == []


def test_offline_rooms_group_like_a_check() -> None:
    out = plan(problems(6, check=OFFLINE), {"A": 100}, [], NOW, S)
    assert [(n.check, len(n.rooms)) for n in out.opened] == [(OFFLINE, 6)]


def incident(members: list[str], notified: int | None = None, scope: str = CITY, unit: str = "",
             started: float = NOW - 60) -> OpenIncident:
    return OpenIncident(7, "mcu.tcp", scope, unit, started, frozenset(members),
                        len(members) if notified is None else notified)


def test_new_rooms_join_an_open_incident_and_it_grows_at_twice_the_notified_count() -> None:
    inc = incident([f"r{i:03d}" for i in range(5)])
    out = plan(problems(7), {"A": 100}, [inc], NOW, S)
    assert [p.room_id for p in out.joined[7]] == ["r005", "r006"] and out.opened == [] and out.grown == {}
    out = plan(problems(10), {"A": 100}, [inc], NOW, S)
    assert out.grown == {7: 10}


def test_a_room_failing_since_long_before_does_not_join() -> None:
    inc = incident([f"r{i:03d}" for i in range(5)])
    stale = Problem("r900", "A", "mcu.tcp", NOW - 86400)
    assert plan(problems(5) + [stale], {"A": 100}, [inc], NOW, S).joined == {}


def test_rooms_recover_and_the_last_one_resolves() -> None:
    inc = incident(["r000", "r001", "r002"])
    out = plan(problems(1), {"A": 100}, [inc], NOW, S)
    assert out.recovered == {7: ["r001", "r002"]} and out.resolved == []
    out = plan([], {"A": 100}, [inc], NOW, S)
    assert out.recovered == {7: ["r000", "r001", "r002"]} and out.resolved == [7]


def test_a_unit_incident_takes_rooms_of_its_unit_only() -> None:
    inc = incident(["r000", "r001"], scope=UNIT, unit="B")
    mine = problems(3, unit="B")
    others = problems(2, unit="C", first=50)
    out = plan(mine + others, {"B": 8, "C": 100}, [inc], NOW, S)
    assert [p.room_id for p in out.joined[7]] == ["r002"]


def test_rooms_in_an_open_incident_do_not_open_another() -> None:
    inc = incident([f"r{i:03d}" for i in range(5)])
    out = plan(problems(5), {"A": 100}, [inc], NOW, S)
    assert out.opened == [] and out.joined == {} and out.resolved == []


def test_state_problems() -> None:
    failing = [{"name": "mcu.tcp", "status": "fail"}, {"name": "host.disk", "status": "warn"}]
    assert state_problems("r1", "A", "fail", failing) == [("r1", "A", "mcu.tcp")]
    assert state_problems("r1", "A", "offline", failing) == [("r1", "A", OFFLINE)]
    assert state_problems("r1", "A", "warn", failing) == []


# ---- sweeps over a real store: onsets linked to the rooms' transitions ----

@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "c.db")
    yield s
    s.close()


def post(store: Store, room_id: str, seq: int, at: float, status: str = "fail", unit: str = "A") -> None:
    doc = heartbeat(room_id, seq, status=status, failing="mcu.tcp" if status == "fail" else None, unit=unit)
    store.write_heartbeats([to_heartbeat(doc, json.dumps(doc).encode(), at)])  # type: ignore[list-item]


def test_sweeps_open_grow_and_resolve_with_the_rooms_transitions_claimed(store: Store) -> None:
    rooms = [f"room-{i:02d}" for i in range(12)]
    for r in rooms:
        store.add_room(r)
        post(store, r, 1, NOW - 100, "ok")
    for r in rooms[:5]:
        post(store, r, 2, NOW - 20)
    events = sweep(store, S, NOW)
    assert [e.to_state for e in events] == ["incident.opened"]
    assert json.loads(events[0].detail)["rooms"] == 5
    for r in rooms[5:]:
        post(store, r, 2, NOW + 5)
    events = sweep(store, S, NOW + 10)
    assert [e.to_state for e in events] == ["incident.grown"]  # 12 >= 2 x 5
    (inc,) = store.incidents("open")
    assert inc["peak_rooms"] == 12 and {m["room_id"] for m in inc["members"]} == set(rooms)
    assert store.open_incident_rooms() == {r: [inc["id"]] for r in rooms}
    fails = [e.id for e in store.events(limit=1000) if e.to_state == "fail"]
    assert store.claimed_events(fails) == set(fails)
    for r in rooms:
        post(store, r, 3, NOW + 20, "ok")
    events = sweep(store, S, NOW + 30)
    assert [e.to_state for e in events] == ["incident.resolved"]
    oks = [e.id for e in store.events(limit=1000) if e.to_state == "ok" and e.at == NOW + 20]
    assert store.claimed_events(oks) == set(oks)
    assert store.incidents("open") == [] and store.incident(inc["id"])["resolved_at"] == NOW + 30
    assert store.incidents_judged_at() == NOW + 30
    assert all(e.room_id for e in store.events(limit=1000))  # the room feed lists rooms only


def test_a_room_ack_ends_when_the_room_is_ok_again(store: Store) -> None:
    store.add_room("room-1")
    post(store, "room-1", 1, NOW, "fail")
    store.add_ack("room", "room-1", "alice", "called the site", NOW)
    sweep(store, S, NOW + 1)
    assert store.room_acks()["room-1"]["note"] == "called the site"
    post(store, "room-1", 2, NOW + 2, "ok")
    sweep(store, S, NOW + 3)
    assert store.room_acks() == {}


def test_a_version_3_database_gets_the_incident_tables(tmp_path: Path) -> None:
    import sqlite3

    from collector.store import SCHEMA_VERSION

    db = tmp_path / "v3.db"
    Store(db).close()
    with sqlite3.connect(db) as conn:  # back to what version 3 had
        for table in ("incidents", "incident_rooms", "room_problems", "acks"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("PRAGMA user_version=3")
    store = Store(db)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 4
        assert store.incidents() == [] and store.room_acks() == {}
    finally:
        store.close()
