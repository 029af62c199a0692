"""Two collectors on one PostgreSQL database, real agents listing both, one collector killed -9.

What must hold, as the control centre relies on it: no heartbeat lost or stored twice,
each offline transition written once, the webhook still at least once and in order of
id, and the once-only work (sweep, webhook) taken over by the survivor within 10 s.
Also ``db copy`` from SQLite to PostgreSQL and back, and ``db migrate`` on an older schema.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.sample import heartbeat
from collector.store import SCHEMA_VERSION, Store
from tests.collector_helpers import RunningCollector, free_port, run_collector, running_collector, webhook_args, \
    write_events
from tests.daemon_helpers import Agent, wait_for, write_config
from tests.test_collector_webhook import Receiver

TAKEOVER_S = 10.0


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    return pg_cluster.new_database("ha")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def role(c: RunningCollector) -> str | None:
    """leader or standby, from /healthz; None when it does not answer 200."""
    try:
        r = httpx.get(c.url + "/healthz", timeout=2, trust_env=False)
    except httpx.HTTPError:
        return None
    return r.headers.get("x-bridge-role") if r.status_code == 200 else None


def second_collector(first: RunningCollector, tmp_path: Path, extra_args: tuple[str, ...]) -> RunningCollector:
    port = free_port()
    other = RunningCollector(url=f"http://[::1]:{port}", heartbeat_url=f"http://[::1]:{port}/api/v1/heartbeat",
                             tokens=first.tokens, db=first.db, process=None, port=port,  # type: ignore[arg-type]
                             log=tmp_path / "collector-b.log", extra_args=extra_args, admin_token=first.admin_token)
    other.start()
    return other


def stored_seqs(c: RunningCollector, room: str) -> list[int]:
    return [h["seq"] for h in c.heartbeats(room)]


def offline_events(c: RunningCollector, room: str) -> list[dict]:
    events = c.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    return [e for e in events if e["room_id"] == room and e["to"] == "offline"]


def test_two_collectors_one_killed_loses_nothing_and_the_other_takes_over(
        tmp_path: Path, pg_url: str, receiver: Receiver) -> None:
    rooms = ("ha-1", "ha-2", "ha-3")
    args = ("--sweep-interval", "0.5", *webhook_args(tmp_path, receiver.url))
    (tmp_path / "a").mkdir()
    with running_collector(tmp_path / "a", rooms=rooms, extra_args=args, db=pg_url) as a:
        b = second_collector(a, tmp_path, args)
        agents: dict[str, Agent] = {}
        try:
            assert role(a) == "leader" and role(b) == "standby"
            for room in rooms:
                directory = tmp_path / room
                directory.mkdir()
                config = write_config(directory, a.heartbeat_url, token=a.tokens[room], room=room)
                config.write_text(config.read_text().replace(
                    f'url = "{a.heartbeat_url}"', f'url = ["{a.heartbeat_url}", "{b.heartbeat_url}"]'))
                agents[room] = Agent(config)
            wait_for(lambda: all(len(stored_seqs(a, r)) >= 3 for r in rooms), timeout=60, what="heartbeats via a")

            # The room ha-3 falls silent just before the leader dies: its offline transition is
            # written by whichever collector leads when its silence is long enough: once.
            agents["ha-3"].kill()
            a.process.kill()  # -9: no shutdown, its session (and the leader lock) just vanish
            a.process.wait()
            killed = time.monotonic()
            wait_for(lambda: role(b) == "leader", timeout=TAKEOVER_S + 5, interval=0.1, what="takeover")
            took = time.monotonic() - killed
            print(f"takeover after kill -9: {took:.1f} s")
            assert took <= TAKEOVER_S, f"takeover took {took:.1f} s"

            # Heartbeats keep arriving, through b now.
            before = {r: len(stored_seqs(b, r)) for r in ("ha-1", "ha-2")}
            wait_for(lambda: all(len(stored_seqs(b, r)) >= before[r] + 3 for r in before), timeout=60,
                     what="heartbeats via b")
            wait_for(lambda: offline_events(b, "ha-3"), timeout=30, what="ha-3 offline")
            time.sleep(3)  # several more sweeps: no second offline event
            assert len(offline_events(b, "ha-3")) == 1

            for room in ("ha-1", "ha-2"):
                assert agents[room].terminate() == 0
            for room in rooms:
                seqs = stored_seqs(b, room)
                last = int((tmp_path / room / "state" / "seq").read_text())
                assert seqs == list(range(1, len(seqs) + 1)), f"{room}: a heartbeat is missing: {seqs}"
                spooled = len(list((tmp_path / room / "state" / "spool").glob("*")))
                assert len(seqs) + spooled >= last, f"{room}: {len(seqs)} stored + {spooled} spooled < {last}"
            assert not [line for line in b.log.read_text().splitlines() if "reused seq" in line]

            # The webhook: every event, in order of id, each id at least once.
            ids = sorted(e["id"] for e in b.get("/api/v1/events", params={"limit": 1000}).json()["events"])
            wait_for(lambda: set(receiver.delivered_ids()) >= set(ids), timeout=30, what="webhook caught up")
            delivered = receiver.delivered_ids()
            firsts = [i for n, i in enumerate(delivered) if i not in delivered[:n]]
            assert firsts == sorted(firsts), f"out of order: {delivered}"
        finally:
            for agent in agents.values():
                if agent.process.poll() is None:
                    agent.kill()
            b.stop()


def test_healthz_fails_when_the_database_cannot_be_written(tmp_path: Path, pg_url: str, pg_cluster: Any) -> None:
    import psycopg

    with running_collector(tmp_path, db=pg_url) as c:
        assert httpx.get(c.url + "/healthz", trust_env=False).status_code == 200
        dbname = pg_url.split("/")[3].split("?")[0]
        with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on')
            # Only new sessions see the setting: end the collector's current ones.
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,))
        try:
            r = wait_for(lambda: (lambda r: r if r.status_code == 503 else None)(
                httpx.get(c.url + "/healthz", trust_env=False, timeout=10)), timeout=30, what="503")
            assert "database not writable" in r.text
        finally:
            with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = off')


def _report(db: Any) -> dict:
    out = run_collector("--db", str(db), "room", "list", "--json")
    assert out.returncode == 0, out.stderr
    store = Store(db)
    try:
        return {"rooms": json.loads(out.stdout)["rooms"],
                "events": [(e.id, e.room_id, e.at, e.from_state, e.to_state, e.detail) for e in store.events(limit=10**6)],
                "heartbeats": store.heartbeats("r-1", 0, 10**6),
                "states": store.states_at(time.time() + 1),
                "troubled": sorted(store.troubled_since(0)),
                "failed": sorted(store.failed_checks_since(0)),
                "tokens": [t["name"] for t in store.api_tokens()],
                "audit": [(a["action"], a["target"]) for a in store.audit_entries()]}
    finally:
        store.close()


def test_db_copy_sqlite_to_postgresql_and_back_keeps_rooms_events_and_report(
        tmp_path: Path, pg_url: str) -> None:
    sqlite_db = tmp_path / "old.db"
    for room in ("r-1", "r-2"):
        assert run_collector("--db", str(sqlite_db), "room", "add", room, "--unit", "Unit A").returncode == 0
    assert run_collector("--db", str(sqlite_db), "token", "add", "prom", "--role", "viewer").returncode == 0
    write_events(sqlite_db, "r-1", range(1, 8), time.time() - 7200)
    write_events(sqlite_db, "r-2", range(1, 4), time.time() - 3600)
    before = _report(sqlite_db)

    done = run_collector("db", "copy", "--from", str(sqlite_db), "--to", pg_url)
    assert done.returncode == 0, done.stderr
    assert _report(pg_url) == before
    again = run_collector("db", "copy", "--from", str(sqlite_db), "--to", pg_url)
    assert again.returncode == 74 and "not empty" in again.stderr

    # New events continue above the copied ids on PostgreSQL.
    (new_id,) = write_events(pg_url, "r-2", [4], time.time())
    assert new_id > max(e[0] for e in before["events"])

    back = tmp_path / "back.db"
    done = run_collector("db", "copy", "--from", pg_url, "--to", str(back))
    assert done.returncode == 0, done.stderr
    after = _report(back)
    assert after["rooms"] == _report(pg_url)["rooms"]
    assert after["events"][1:] == before["events"] and after["events"][0][0] == new_id


def test_an_older_postgresql_schema_is_refused_until_db_migrate(pg_url: str, pg_cluster: Any) -> None:
    import psycopg

    Store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION - 1,))
    refused = run_collector("--db", pg_url, "room", "list")
    assert refused.returncode == 74 and "older than this bridge-collector's" in refused.stderr
    assert "db migrate" in refused.stderr
    done = run_collector("--db", pg_url, "db", "migrate")
    assert done.returncode == 0, done.stderr
    assert run_collector("--db", pg_url, "room", "list").returncode == 0
