"""The collector's read side against the real server: offline detection, events, webhook,
history paging, report, metrics, and the ``bridge-collector`` command line.

Reads authenticate with the admin token of ``running_collector`` (``c.get``); who may
read what is tested in tests/test_collector_auth.py."""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from tests.sample import heartbeat
from tests.collector_helpers import collector_db, RunningCollector, run_collector, running_collector, webhook_args


def send(c: RunningCollector, room: str, body: dict[str, Any]) -> None:
    r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens[room]}"}, timeout=30)
    assert r.status_code == 200, r.text


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def rooms_by_id(c: RunningCollector, **kw: Any) -> dict[str, dict[str, Any]]:
    r = c.get("/api/v1/rooms", timeout=30, **kw)
    assert r.status_code == 200, r.text
    return {room["room_id"]: room for room in r.json()["rooms"]}


class Receiver(ThreadingHTTPServer):
    """A webhook receiver that fails the first ``failures`` deliveries with 500."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                if outer.failures > 0:
                    outer.failures -= 1
                    self.send_response(500)
                else:
                    outer.received.put(json.loads(body))
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.address_family = __import__("socket").AF_INET6
        super().__init__(("::1", 0), Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_offline_transition_events_webhook_and_recovery(tmp_path: Path, receiver: Receiver) -> None:
    webhook = f"http://[::1]:{receiver.server_address[1]}/hook"
    with running_collector(tmp_path, rooms=("fast", "steady"),
                           extra_args=("--sweep-interval", "0.3", *webhook_args(tmp_path, webhook))) as c:
        send(c, "fast", heartbeat("fast", 1, interval_s=1))
        send(c, "steady", heartbeat("steady", 1, interval_s=3600, status="fail", failing="probe.loss"))
        assert rooms_by_id(c)["fast"]["status"] == "ok"
        # Three declared intervals (3 s) without a heartbeat: offline when read, and an event is written.
        wait_for(lambda: rooms_by_id(c)["fast"]["status"] == "offline", timeout=15)
        assert rooms_by_id(c)["steady"]["status"] == "fail"

        def fast_events() -> list[dict[str, Any]]:
            return c.get("/api/v1/events", params={"room_id": "fast"}).json()["events"]

        wait_for(lambda: any(e["to"] == "offline" for e in fast_events()))
        send(c, "fast", heartbeat("fast", 2, interval_s=1, status="warn", failing="host.disk"))
        assert rooms_by_id(c)["fast"]["status"] == "warn"
        changes = [(e["from"], e["to"]) for e in reversed(fast_events())]
        assert changes == [(None, "ok"), ("ok", "offline"), ("offline", "warn")]

        # Every transition reached the webhook, in order, although the first delivery got a 500.
        got = [receiver.received.get(timeout=20) for _ in range(4)]
        assert receiver.attempts >= 5
        assert [(e["room_id"], e["to"]) for e in got if e["room_id"] == "fast"] == [
            ("fast", "ok"), ("fast", "offline"), ("fast", "warn")]
        page = c.get("/rooms/fast").text
        assert "Mất kết nối" in page and "Cảnh báo" in page


def test_ingest_is_not_blocked_by_a_dead_webhook(tmp_path: Path) -> None:
    with running_collector(tmp_path, extra_args=webhook_args(tmp_path, "http://[::1]:9/nothing-listens")) as c:
        started = time.monotonic()
        for seq in range(1, 21):
            send(c, "room-1", heartbeat("room-1", seq, status="fail" if seq % 2 else "ok", failing="net.link"))
        assert time.monotonic() - started < 15
        assert len(c.heartbeats("room-1")) == 20


def test_history_paging_room_detail_and_restart_keeps_data(tmp_path: Path) -> None:
    with running_collector(tmp_path) as c:
        fifth = heartbeat("room-1", 5)
        for seq in (3, 1, 2, 5, 4):
            send(c, "room-1", fifth if seq == 5 else heartbeat("room-1", seq))
        page = c.get("/api/v1/rooms/room-1/heartbeats", params={"since_seq": 1, "limit": 2}).json()
        assert [h["seq"] for h in page["heartbeats"]] == [2, 3]
        assert page["next_since_seq"] == 3
        assert set(page["heartbeats"][0]) == {"seq", "sent_at", "received_at", "status"}
        detail = c.get("/api/v1/rooms/room-1").json()
        assert detail["last_seq"] == 5 and detail["heartbeat"]["seq"] == 5
        assert detail["heartbeat"]["devices"]["cameras"][0]["vendor_id"] == "046d"
        c.stop()
        c.start()
        assert [h["seq"] for h in c.heartbeats("room-1")] == [1, 2, 3, 4, 5]
        send(c, "room-1", fifth)  # a replay after the restart is still a duplicate
        assert len(c.heartbeats("room-1", since_seq=4)) == 1
        assert c.get("/api/v1/rooms/nope").status_code == 404
        assert c.get("/api/v1/rooms/nope/heartbeats").status_code == 404
        assert c.get("/api/v1/rooms/room-1/heartbeats", params={"limit": "x"}).status_code == 422
        assert c.get("/api/v1/rooms/room-1/heartbeats", params={"limit": 0}).status_code == 422


def test_values_from_room_add_win_over_the_agent(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=()) as c:
        done = run_collector("--db", str(c.db), "room", "add", "hk-1", "--name", "Phòng họp số 1", "--unit", "UBND quận Hoàn Kiếm")
        assert done.returncode == 0
        c.tokens["hk-1"] = done.stdout.strip()
        send(c, "hk-1", heartbeat("hk-1", 1, unit="Sở Nội vụ", name="Agent name"))
        room = rooms_by_id(c)["hk-1"]
        assert (room["name"], room["unit"]) == ("Phòng họp số 1", "UBND quận Hoàn Kiếm")
        assert room["contact"] == "Nguyễn Văn An 0912 345 678"


def test_report_json_csv_and_page(tmp_path: Path) -> None:
    rooms = ("a-1", "a-2", "b-1")
    with running_collector(tmp_path, rooms=rooms) as c:
        send(c, "a-1", heartbeat("a-1", 1, unit="Unit A"))
        send(c, "a-2", heartbeat("a-2", 1, unit="Unit A", status="fail", failing="probe.upload"))
        send(c, "a-2", heartbeat("a-2", 2, unit="Unit A"))
        send(c, "b-1", heartbeat("b-1", 1, unit="Unit B", status="fail", failing="devices.cameras"))
        report = c.get("/api/v1/report", params={"days": 7}).json()
        units = {u["unit"]: u for u in report["units"]}
        assert units["Unit A"]["rooms"] == 2
        assert units["Unit A"]["compliant_now"] == 2
        assert units["Unit A"]["compliant_whole_period"] == 1  # a-2 failed during the period
        assert units["Unit A"]["failing_checks"] == [{"name": "probe.upload", "rooms": 1}]
        assert units["Unit B"]["compliant_now"] == 0
        totals = {k: report["totals"][k] for k in ("rooms", "compliant_now", "compliant_whole_period")}
        assert totals == {"rooms": 3, "compliant_now": 2, "compliant_whole_period": 1}
        r = c.get("/api/v1/report", params={"days": 7, "format": "csv"})
        assert r.headers["content-type"].startswith("text/csv")
        assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: spreadsheets read the Vietnamese right
        rows = list(csv.reader(io.StringIO(r.text.removeprefix("\ufeff"))))
        assert rows[0][:4] == ["unit", "rooms", "compliant_now", "compliant_last_7_days"]
        assert ["Unit B", "1", "0", "0", "devices.cameras (1)"] in [row[:5] for row in rows]
        assert c.get("/api/v1/report", params={"days": "-1"}).status_code == 422
        page = c.get("/report", params={"days": 7, "lang": "en"}).text
        assert "Compliant all 7 days" in page and "probe.upload (1)" in page


def test_report_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path: Path) -> None:
    units = {"f-1": "=1+1", "f-2": "+SUM(A1)", "f-3": "-2", "f-4": "@cmd", "f-5": "\tTab", "f-6": "Quận Đống Đa"}
    with running_collector(tmp_path, rooms=tuple(units)) as c:
        for room_id, unit in units.items():
            send(c, room_id, heartbeat(room_id, 1, unit=unit))
        r = c.get("/api/v1/report", params={"days": 7, "format": "csv"})
    assert r.content.startswith("\ufeffunit,".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    first_cells = {row[0] for row in rows[1:]}
    assert first_cells == {"'=1+1", "'+SUM(A1)", "'-2", "'@cmd", "'\tTab", "Quận Đống Đa"}
    numbers = [row[1:4] for row in rows[1:]]
    assert all(cell.isdigit() for row in numbers for cell in row)  # counts stay numbers


def test_metrics_prometheus_text(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("m-1", "m-2")) as c:
        body = heartbeat("m-1", 1)
        send(c, "m-1", body)
        send(c, "m-1", body)
        httpx.post(c.heartbeat_url, json={}, headers={"Authorization": f"Bearer {c.tokens['m-1']}"})
        httpx.post(c.heartbeat_url, json={})
        r = c.get("/metrics")
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        lines = set(r.text.splitlines())
        assert 'bridge_rooms{status="ok"} 1' in lines
        assert 'bridge_rooms{status="offline"} 1' in lines  # m-2 never reported
        assert "bridge_heartbeats_accepted_total 1" in lines
        assert "bridge_heartbeats_duplicate_total 1" in lines
        assert 'bridge_heartbeats_rejected_total{reason="schema"} 1' in lines
        assert 'bridge_heartbeats_rejected_total{reason="unauthorized"} 1' in lines
        assert any(line.startswith('bridge_room_status{room_id="m-1",unit="UBND quận Ba Đình",status="ok"} 1')
                   for line in lines)
        assert any(line.startswith('bridge_room_last_seen_timestamp_seconds{room_id="m-1"}') for line in lines)
        for line in lines:
            assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


@pytest.mark.sqlite_only
def test_serve_refuses_bad_options(tmp_path: Path) -> None:
    # The shared read token is gone: accounts and API tokens replace it (tests/test_collector_auth.py).
    token_file = tmp_path / "read-token"
    token_file.write_text("read-token-0123456789abcdef\n")
    done = run_collector("--db", str(tmp_path / "c.db"), "serve", "--listen", "[::1]:0", "--stamp-port", "0",
                         "--read-token-file", str(token_file))
    assert done.returncode == 64
    assert "--read-token-file was removed" in done.stderr
    assert "bridge-collector token add NAME --role viewer" in done.stderr
    done = run_collector("--db", str(tmp_path / "c.db"), "serve", "--listen", "nonsense")
    assert done.returncode == 64 and "--listen" in done.stderr
    done = run_collector("--db", str(tmp_path / "c.db"), "serve", "--listen", "[::1]:0", "--webhook", "ftp://x")
    assert done.returncode == 64 and "--webhook" in done.stderr
    done = run_collector("--db", str(tmp_path / "c.db"), "serve", "--listen", "[::1]:0", "--offline-factor", "0")
    assert done.returncode == 64 and "--offline-factor" in done.stderr


@pytest.mark.sqlite_only
def test_room_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    added = run_collector("room", "add", "r-1", "--name", "Phòng 1", "--unit", "Đơn vị", "--db", db)
    assert added.returncode == 0
    token = added.stdout.strip()
    assert len(token) >= 40 and "\n" not in token
    assert token.encode() not in (tmp_path / "c.db").read_bytes()
    assert run_collector("--db", db, "room", "add", "r-1").returncode == 65
    assert run_collector("--db", db, "room", "add", "Bad ID").returncode == 64
    assert run_collector("--db", db, "room", "add", "r-2\n").returncode == 64
    assert run_collector("--db", db, "room", "revoke", "r-9").returncode == 65
    assert run_collector("--db", db, "room", "revoke", "r-1").returncode == 0
    assert run_collector("--db", db, "room", "revoke", "r-1").returncode == 65
    listed = json.loads(run_collector("--db", db, "room", "list", "--json").stdout)["rooms"]
    assert listed[0]["room_id"] == "r-1" and listed[0]["unit"] == "Đơn vị" and listed[0]["revoked"]
    assert "r-1" in run_collector("--db", db, "room", "list").stdout
    bad = run_collector("--db", str(tmp_path), "room", "list")  # a directory, not a database
    assert bad.returncode == 74 and "Traceback" not in bad.stderr and str(tmp_path) in bad.stderr


@pytest.mark.sqlite_only  # two collectors one after the other, each with its own database: not about the store
def test_probe_endpoints_are_served_by_the_collector_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "apart").mkdir()
    (tmp_path / "demo").mkdir()
    with running_collector(tmp_path / "apart") as c:
        # By default `bridge-collector probe-serve` answers them, in its own process.
        assert httpx.get(f"{c.url}/api/v1/probe/download", params={"bytes": 1000},
                         headers={"Authorization": f"Bearer {c.tokens['room-1']}"}).status_code == 404
    with running_collector(tmp_path / "demo", extra_args=("--probe-in-process",)) as c:
        r = httpx.get(f"{c.url}/api/v1/probe/download", params={"bytes": 1000},
                      headers={"Authorization": f"Bearer {c.tokens['room-1']}"})
        assert r.status_code == 200 and len(r.content) == 1000
        assert httpx.get(f"{c.url}/api/v1/probe/download", params={"bytes": 1000}).status_code == 401


def test_retention_removes_old_history(tmp_path: Path) -> None:
    from collector.ingest import to_heartbeat
    from collector.store import Store

    store = Store(collector_db(tmp_path))
    store.add_room("old-1")
    long_ago = time.time() - 3 * 86400
    for seq in (1, 2):
        doc = heartbeat("old-1", seq)
        hb = to_heartbeat(doc, json.dumps(doc).encode(), long_ago + seq)
        store.write_heartbeats([hb])  # type: ignore[list-item]
    store.close()
    days = ("--retention-days", "2", "--rollup-5m-retention-days", "2.5", "--rollup-retention-days", "4")
    with running_collector(tmp_path, rooms=("new-1",), extra_args=(*days, "--sweep-interval", "0.2")) as c:
        send(c, "new-1", heartbeat("new-1", 1))
        wait_for(lambda: c.heartbeats("old-1") == [])
        assert len(c.heartbeats("new-1")) == 1
        assert rooms_by_id(c)["old-1"]["last_seq"] == 2  # the room's latest state is kept

        def series(step: int) -> dict[str, Any]:
            return c.get("/api/v1/rooms/old-1/series", params={
                "metric": "rtt_avg_ms", "step": step, "from": long_ago - 3600, "to": time.time()}).json()

        # Three days old: past the 5-minute rollups' 2.5 days, within the hourly ones' 4.
        wait_for(lambda: series(300)["points"] == [])
        hourly = series(3600)
        assert [p["count"] for p in hourly["points"]] == [2] and hourly["source"] == "60m"
        kept_from = time.mktime(time.strptime(series(300)["retained_from"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert abs(kept_from - (time.time() - 2.5 * 86400)) < 60
