"""Heartbeat streams and the collector's own gaps, against the real collector and SQLite.

A reinstalled agent (its state directory wiped) starts a new stream whose seq
starts at 1 again: the collector must store it and follow it at once. The
collector's own downtime must mark no room offline and cost no room its month.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.ingest import Validator, to_heartbeat
from collector.report import compliance
from tests.sample import heartbeat
from collector.store import SCHEMA_VERSION, Event, Heartbeat, Store
from tests.collector_helpers import RunningCollector, collector_db, free_port, run_collector, running_collector

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def beat(room: str, seq: int, instance: str | None, **kw: Any) -> dict[str, Any]:
    doc = heartbeat(room, seq, **kw)
    if instance is not None:
        doc["agent_instance"] = instance
    return doc


def post(c: RunningCollector, room: str, doc: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(c.heartbeat_url, json=doc, headers={"Authorization": f"Bearer {c.tokens[room]}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def room(c: RunningCollector, room_id: str) -> dict[str, Any]:
    r = c.get(f"/api/v1/rooms/{room_id}", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def history(c: RunningCollector, room_id: str, **params: Any) -> dict[str, Any]:
    r = c.get(f"/api/v1/rooms/{room_id}/heartbeats", params={"limit": 1000, **params}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def events(c: RunningCollector, room_id: str) -> list[tuple[str | None, str]]:
    r = c.get("/api/v1/events", params={"room_id": room_id}, timeout=30)
    return [(e["from"], e["to"]) for e in reversed(r.json()["events"])]


def test_a_new_stream_is_stored_and_followed_at_once(tmp_path: Path) -> None:
    old, new = secrets.token_hex(16), secrets.token_hex(16)
    with running_collector(tmp_path) as c:
        for seq in range(1, 11):
            post(c, "room-1", beat("room-1", seq, old))
        # The PC is reinstalled: a new stream, seq from 1, and the room now fails.
        answer = post(c, "room-1", beat("room-1", 1, new, status="fail", failing="probe.loss"))
        assert answer["status"] == "stored"
        now = room(c, "room-1")
        assert (now["status"], now["last_seq"], now["agent_instance"]) == ("fail", 1, new)
        assert now["stream_started_at"] is not None
        assert [s["agent_instance"] for s in now["streams"]] == [new, old]
        assert now["streams"][1]["last_seq"] == 10
        # The old stream replays late (its spool drained after the reinstall): history only.
        assert post(c, "room-1", beat("room-1", 11, old))["status"] == "stored"
        now = room(c, "room-1")
        assert (now["status"], now["last_seq"], now["agent_instance"]) == ("fail", 1, new)
        assert [h["seq"] for h in history(c, "room-1", instance=old)["heartbeats"]] == list(range(1, 12))
        # The current stream's history is the default, and goes on from 1.
        post(c, "room-1", beat("room-1", 2, new))
        assert [h["seq"] for h in history(c, "room-1")["heartbeats"]] == [1, 2]
        assert room(c, "room-1")["status"] == "ok"
        # A replay inside a stream is still a duplicate, not a new row.
        assert post(c, "room-1", beat("room-1", 2, new) | {"sent_at": history(c, "room-1")["heartbeats"][1]["sent_at"]})[
            "status"] == "duplicate"
        assert events(c, "room-1") == [(None, "ok"), ("ok", "fail"), ("fail", "ok")]
        page = c.get("/rooms/room-1?lang=en", timeout=30).text
        assert new in page and "Agent stream" in page


def test_revoke_and_re_add_follows_whichever_stream_speaks_first(tmp_path: Path) -> None:
    instance = secrets.token_hex(16)
    with running_collector(tmp_path) as c:
        for seq in range(1, 6):
            post(c, "room-1", beat("room-1", seq, instance))
        c.stop()
        assert run_collector("--db", str(c.db), "room", "revoke", "room-1").returncode == 0
        added = run_collector("--db", str(c.db), "room", "add", "room-1")
        assert added.returncode == 0, added.stderr
        c.tokens["room-1"] = added.stdout.strip()
        c.start()
        # The same agent, same stream, the new token: its next seq is the room's status at once.
        post(c, "room-1", beat("room-1", 6, instance, status="warn", failing="host.disk"))
        assert (room(c, "room-1")["status"], room(c, "room-1")["last_seq"]) == ("warn", 6)
        # Or a reinstalled PC with the new token: also followed at once.
        c.stop()
        run_collector("--db", str(c.db), "room", "revoke", "room-1")
        c.tokens["room-1"] = run_collector("--db", str(c.db), "room", "add", "room-1").stdout.strip()
        c.start()
        other = secrets.token_hex(16)
        post(c, "room-1", beat("room-1", 1, other, status="fail", failing="probe.loss"))
        now = room(c, "room-1")
        assert (now["status"], now["last_seq"], now["agent_instance"]) == ("fail", 1, other)


def test_agents_without_a_stream_id_keep_working(tmp_path: Path) -> None:
    with running_collector(tmp_path) as c:
        for seq in (1, 2, 3):
            assert post(c, "room-1", beat("room-1", seq, None))["status"] == "stored"
        assert room(c, "room-1")["agent_instance"] == ""
        # An upgraded agent starts its first stream: followed, the legacy rows stay readable.
        instance = secrets.token_hex(16)
        post(c, "room-1", beat("room-1", 1, instance, status="warn", failing="host.disk"))
        assert (room(c, "room-1")["status"], room(c, "room-1")["agent_instance"]) == ("warn", instance)
        assert len(history(c, "room-1", instance="")["heartbeats"]) == 3
        bad = c.get("/api/v1/rooms/room-1/heartbeats", params={"instance": "x"}, timeout=30)
        assert bad.status_code == 422 and "instance" in bad.json()["error"]


@pytest.mark.sqlite_only
def test_a_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    db = tmp_path / "collector.db"
    with sqlite3.connect(db) as conn:
        conn.executescript((FIXTURES / "collector-v1.sql").read_text())
    store = Store(db)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert [h["seq"] for h in store.heartbeats("hn-bd-1", 0, 100)] == [1, 2, 3, 4, 5]
        assert store.current_stream("hn-bd-1") == ""
        assert store.streams("hn-bd-1")[0]["last_seq"] == 5
        assert [e.to_state for e in reversed(store.events("hn-bd-1"))] == ["ok", "fail", "ok", "offline"]
        token_hash = hashlib.sha256(b"v1-token-of-room-1-for-the-migration-test").hexdigest()
        assert store.room_for_token(token_hash) == "hn-bd-1"
    finally:
        store.close()
    # Opening again is a no-op; the upgraded agent's new stream is followed at once.
    c = RunningCollector(url="", heartbeat_url="", tokens={"hn-bd-1": "v1-token-of-room-1-for-the-migration-test"},
                         db=db, process=None, log=tmp_path / "collector.log")  # type: ignore[arg-type]
    c.port = free_port()
    c.url = f"http://[::1]:{c.port}"
    c.heartbeat_url = f"{c.url}/api/v1/heartbeat"
    c.start()
    try:
        post(c, "hn-bd-1", beat("hn-bd-1", 1, secrets.token_hex(16)))
        assert room(c, "hn-bd-1")["last_seq"] == 1 and room(c, "hn-bd-1")["status"] == "ok"
    finally:
        c.stop()


@pytest.mark.sqlite_only
def test_a_newer_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "collector.db"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    done = run_collector("--db", str(db), "room", "list")
    assert done.returncode == 74
    assert "newer than this bridge-collector understands" in done.stderr


@pytest.mark.sqlite_only
def test_every_connection_commits_durably(tmp_path: Path) -> None:
    store = Store(collector_db(tmp_path, "c.db"))
    try:
        # 2 = FULL: the WAL is fsynced at each commit, before the agent is answered.
        assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        store.close()


def _gaps(c: RunningCollector) -> list[dict[str, Any]]:
    return c.get("/api/v1/gaps", timeout=30).json()["gaps"]


def test_collector_downtime_marks_no_room_offline_and_is_left_out_of_the_report(tmp_path: Path) -> None:
    interval = 1.0
    with running_collector(tmp_path, rooms=("room-1", "room-2"), extra_args=("--sweep-interval", "0.5")) as c:
        for seq in (1, 2, 3):
            post(c, "room-1", beat("room-1", seq, "a" * 32, interval_s=interval))
            post(c, "room-2", beat("room-2", seq, "b" * 32, interval_s=interval))
            time.sleep(interval)
        c.stop()
        stopped = time.time()
        time.sleep(10 * interval)  # down for 10 intervals
        restarting = time.time()  # the collector's own clock of its start is later than this, never earlier
        c.start()
        # Right after the start nobody is offline: the rooms had no chance to be heard yet.
        statuses = {r["room_id"]: r["status"] for r in c.get("/api/v1/rooms", timeout=30).json()["rooms"]}
        assert statuses == {"room-1": "ok", "room-2": "ok"}
        (gap,) = _gaps(c)
        assert gap["reason"] == "restart" and 9 * interval <= gap["seconds"] <= 10 * interval + 5
        # room-1 comes back within its 3 intervals; room-2 does not.
        for seq in range(4, 10):
            post(c, "room-1", beat("room-1", seq, "a" * 32, interval_s=interval))
            time.sleep(interval / 2)
        deadline = time.monotonic() + 15
        while ("ok", "offline") not in events(c, "room-2") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert events(c, "room-1") == [(None, "ok")]
        assert events(c, "room-2") == [(None, "ok"), ("ok", "offline")]
        offline_at = c.get("/api/v1/events", params={"room_id": "room-2"}, timeout=30).json()["events"][0]["at"]
        # Three intervals of grace from the collector's start; `at` is cut to the second.
        assert time.mktime(time.strptime(offline_at, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone >= restarting + 3 * interval - 1
        report = c.get("/api/v1/report", params={"days": 1}, timeout=30).json()
        assert report["totals"]["compliant_whole_period"] == 1  # room-1; room-2 really went away
        assert [g["reason"] for g in report["collector_gaps"]] == ["restart"]
        page = c.get("/report?lang=en", timeout=30).text
        assert "Collector downtime" in page
    assert stopped < restarting


def test_report_leaves_offline_inside_a_gap_out(tmp_path: Path) -> None:
    """An offline transition written inside the collector's gap (or its grace after it) is not the room's."""
    store = Store(collector_db(tmp_path, "c.db"))
    try:
        store.add_room("r1", unit="U")
        store.add_room("r2", unit="U")
        now = time.time()
        validator = Validator()

        def write(rid: str, seq: int, at: float) -> None:
            doc = beat(rid, seq, "c" * 32, interval_s=60)
            assert validator.problem(doc) is None
            hb = to_heartbeat(doc, json.dumps(doc).encode(), at)
            assert isinstance(hb, Heartbeat)
            store.write_heartbeats([hb])

        for rid in ("r1", "r2"):
            write(rid, 1, now - 3600)
        store.record_gap(now - 3000, now - 2000, "restart")
        with store._transaction() as conn:
            # r1 went offline inside the gap's grace, r2 long after it: only r2 is the room's fault.
            store._add_event(conn, Event("r1", now - 1900, "ok", "offline"))
            store._add_event(conn, Event("r2", now - 1000, "ok", "offline"))
        for rid in ("r1", "r2"):
            write(rid, 2, now - 10)
        report = compliance(store, 1, now, 3.0)
        assert (report.totals.rooms, report.totals.compliant_now, report.totals.compliant_period) == (2, 2, 1)
        assert len(report.gaps) == 1
    finally:
        store.close()


@pytest.mark.parametrize("stall_s", [12.0])
def test_a_stalled_collector_gives_the_rooms_their_chance_again(tmp_path: Path, stall_s: float) -> None:
    """SIGSTOP the collector (a paused VM, a hung disk) past the rooms' offline limit: no mass offline."""
    with running_collector(tmp_path, extra_args=("--sweep-interval", "0.5")) as c:
        post(c, "room-1", beat("room-1", 1, "d" * 32, interval_s=2))
        c.process.send_signal(signal.SIGSTOP)
        time.sleep(stall_s)
        c.process.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10
        while not _gaps(c) and time.monotonic() < deadline:
            time.sleep(0.2)
        (gap,) = _gaps(c)
        assert gap["reason"] == "stall" and gap["seconds"] >= stall_s - 1
        post(c, "room-1", beat("room-1", 2, "d" * 32, interval_s=2))
        assert events(c, "room-1") == [(None, "ok")]


def test_reinstalled_room_is_followed_within_two_intervals(tmp_path: Path) -> None:
    """The real agent: its state directory wiped (purge + install), then revoked and re-added."""
    from tests.daemon_helpers import Agent, wait_for, write_config

    interval = 2.0
    with running_collector(tmp_path) as c:
        config = write_config(tmp_path, c.heartbeat_url, token=c.tokens["room-1"], interval_s=interval)
        agent = Agent(config)
        try:
            wait_for(lambda: (room(c, "room-1")["last_seq"] or 0) >= 5, 60, interval=0.2, what="5 heartbeats")
            first = room(c, "room-1")
            assert first["status"] != "fail" and len(first["agent_instance"]) == 32
            assert agent.terminate() == 0
            # Reinstall: a new state directory; the new installation's room needs a camera it lacks.
            import shutil

            shutil.rmtree(tmp_path / "state")
            config.write_text(config.read_text().replace("min_cameras = 0", "min_cameras = 1"))
            agent = Agent(config)
            wiped_at = time.monotonic()
            wait_for(lambda: room(c, "room-1")["status"] == "fail", 2 * interval + 5, interval=0.2,
                     what="the new stream's status")
            assert time.monotonic() - wiped_at <= 2 * interval + 5  # start-up of the agent included
            now = room(c, "room-1")
            assert now["agent_instance"] != first["agent_instance"] and now["last_seq"] <= 3
            assert [s["agent_instance"] for s in now["streams"]] == [now["agent_instance"], first["agent_instance"]]
            seqs = [h["seq"] for h in history(c, "room-1")["heartbeats"]]
            assert seqs == list(range(1, len(seqs) + 1))
            # Revoke and re-add: the new token in the file, the room is followed again.
            assert run_collector("--db", str(c.db), "room", "revoke", "room-1").returncode == 0
            added = run_collector("--db", str(c.db), "room", "add", "room-1")
            config.write_text(config.read_text().replace("min_cameras = 1", "min_cameras = 0"))
            (tmp_path / "token").write_text(added.stdout.strip() + "\n")
            wait_for(lambda: room(c, "room-1")["status"] != "fail", 2 * interval + 10, interval=0.2,
                     what="the re-enrolled room's status")
            assert room(c, "room-1")["agent_instance"] == now["agent_instance"]
        finally:
            if agent.process.poll() is None:
                agent.kill()
