"""Meetings: the CLI and API, the roll-call with real agents, the quiet time, a hostile answer.

Real ``bridge-collector`` and real ``bridge-agent run`` processes; the roll-call lead and
intervals are shortened through the collector's options, the agents' own interval is long
(30 s) so a faster beat can only come from the collector's hint.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from agent.daemon import directives
from collector.meetings import (Board, MeetingInputError, parse_meeting, parse_start, participating, quiet_margin,
                                rollcall)
from tests.collector_helpers import run_collector, running_collector
from tests.daemon_helpers import Agent, start_sink, wait_for, write_config

OWN_INTERVAL = 'splay_s = 0'


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- pure parts --------------------------------------------------------------------------


def test_start_is_hanoi_time_unless_an_offset_is_given() -> None:
    assert parse_start("2026-12-03T08:00") == datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc).timestamp()
    assert parse_start("2026-12-03T08:00Z") == datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc).timestamp()
    assert parse_start("2026-12-03T08:00+08:00") == datetime(2026, 12, 3, 0, 0, tzinfo=timezone.utc).timestamp()
    for args, option in ((("", "2026-12-03T08:00", 120), "--title"), (("T", "tomorrow", 120), "--start"),
                         (("T", "2026-12-03T08:00", 0), "--duration"), (("T", "2026-12-03T08:00", "x"), "--duration")):
        with pytest.raises(MeetingInputError) as err:
            parse_meeting(*args, units=["U"])
        assert err.value.option == option
    with pytest.raises(MeetingInputError, match="--unit"):
        parse_meeting("T", "2026-12-03T08:00", 120)  # nobody takes part
    with pytest.raises(MeetingInputError, match="--all"):
        parse_meeting("T", "2026-12-03T08:00", 120, units=["U"], everyone=True)


def test_participants_resolve_at_evaluation_and_the_board_speaks_only_in_the_window() -> None:
    rooms = [{"room_id": "a", "unit": "U1"}, {"room_id": "b", "unit": "U2"}, {"room_id": "c", "unit": "U1"}]
    assert [r["room_id"] for r in participating([("unit", "U1")], rooms)] == ["a", "c"]
    assert [r["room_id"] for r in participating([("room", "b"), ("unit", "U1")], rooms)] == ["a", "b", "c"]
    assert len(participating([("all", "")], rooms)) == 3

    class FakeStore:  # only the two reads the board makes, and the request it issues
        def meetings_near(self, now: float, lead_s: float) -> list[dict]:
            return [{"id": 1, "start_at": 1000.0, "end_at": 2000.0, "created_at": 0.0, "cancelled_at": None,
                     "participants": [("unit", "U1")]}]

        def rooms(self) -> list[dict]:
            return rooms

        def meeting_request(self, meeting_id: int, room_id: str, kind: str, now: float) -> dict:
            return {"id": f"r{meeting_id}{room_id}", "answered_at": None}

    board = Board(lead_s=600, interval_s=5)
    board.refresh(FakeStore(), 500.0)
    assert board.participates("a") and not board.participates("b")
    lead = board.directives(FakeStore(), "a", 500.0)
    assert lead.json() == {"requests": [{"id": "r1a", "kind": "full_check"}], "interval_s": 5}
    assert board.directives(FakeStore(), "b", 500.0).json() == {"requests": []}
    just_before = board.directives(FakeStore(), "a", 1000.0 - quiet_margin(5) + 1)
    assert just_before.requests == [] and just_before.quiet_until == 2000.0
    assert board.directives(FakeStore(), "a", 1500.0).json() == {"requests": [], "interval_s": 5,
                                                                  "quiet_until": 2000.0}
    assert board.directives(FakeStore(), "a", 2000.0).json() == {"requests": []}
    # T-15 min (900 s before the start) and the start are due in turn.
    assert [m for _, m, _ in board.snapshots_due(99.0)] == []
    assert [m for _, m, _ in board.snapshots_due(100.0)] == ["t-15"]
    assert [m for _, m, _ in board.snapshots_due(1000.0)] == ["t-15", "start"]
    board.kept(1, "t-15")
    assert [m for _, m, _ in board.snapshots_due(1000.0)] == ["start"]


def test_rollcall_states() -> None:
    base = {"name": "", "unit": "U", "location": "", "contact": "", "last_seq": 2, "sent_at": "", "interval_s": 10,
            "last_seen": 100.0, "agent_instance": "", "stream_started_at": 0.0}
    rows = [dict(base, room_id="ok", status="ok", failing="[]"),
            dict(base, room_id="bad", status="fail",
                 failing=json.dumps([{"name": "probe.rtt", "status": "fail", "summary": "no reply"}])),
            dict(base, room_id="mute", status="ok", failing="[]")]
    requests = {"ok": {"issued_at": 90.0, "answered_at": 95.0}, "bad": {"issued_at": 90.0, "answered_at": 95.0},
                "mute": {"issued_at": 90.0, "answered_at": None}}
    got = {r["room_id"]: r for r in rollcall(rows, requests, 101.0, 3)}
    assert got["ok"]["state"] == "ready"
    assert got["bad"]["state"] == "not_ready" and got["bad"]["failing"][0]["summary"] == "no reply"
    assert got["mute"]["state"] == "no_answer"
    late = {r["room_id"]: r for r in rollcall(rows, requests, 500.0, 3)}
    assert late["ok"]["state"] == "not_ready" and late["ok"]["failing"][0]["name"] == "offline"


def test_answer_parsing_keeps_to_the_vocabulary() -> None:
    body = json.dumps({"status": "stored", "requests": [
        {"id": "a1", "kind": "full_check"}, {"id": "a1", "kind": "full_check"},
        {"id": "x", "kind": "shell", "cmd": "rm -rf /"}, {"id": "../etc", "kind": "full_check"},
        {"id": "a2", "kind": "full_check", "args": ["--now"]}, "nonsense"],
        "interval_s": 0.01, "quiet_until": 1e12, "exec": "reboot"})
    got = directives.parse(body, now_wall=1000.0)
    assert [r.id for r in got.requests] == ["a1", "a2"]
    assert got.interval_s is None  # below the configuration's lowest interval
    assert got.quiet_until == 1000.0 + directives.QUIET_MAX_S
    text = "; ".join(got.ignored)
    for expected in ('unknown field "exec"', 'unknown kind "shell"', "malformed request", 'unknown fields ["args"]',
                     "interval_s 0.01"):
        assert expected in text, text
    assert directives.parse("<html>", 0).ignored == ("answer is not JSON",)
    assert directives.parse(json.dumps({"quiet_until": 500}), 1000.0).quiet_until is None  # already over
    assert directives.parse(json.dumps({"requests": [{"id": f"r{i}", "kind": "full_check"} for i in range(40)]}),
                            0).requests.__len__() == directives.MAX_REQUESTS


def test_a_database_of_the_version_before_gets_the_meeting_tables(tmp_path: Path) -> None:
    import sqlite3

    from collector.store import _MEETINGS_SCHEMA, _MIGRATIONS, SCHEMA_VERSION, Store

    db = tmp_path / "c.db"
    Store(db).close()
    before = _MIGRATIONS.index(_MEETINGS_SCHEMA) + 1  # step i takes version i+1 to i+2
    with sqlite3.connect(db) as conn:  # back to what the version before the meetings had
        for table in ("meetings", "meeting_participants", "meeting_requests", "meeting_snapshots"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute(f"PRAGMA user_version={before}")
    done = run_collector("--db", str(db), "meeting", "add", "--title", "T", "--start", "2099-01-01T08:00",
                         "--duration", "60", "--all")
    assert done.returncode == 0, done.stderr
    store = Store(db)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert [m["title"] for m in store.meetings()] == ["T"]
    finally:
        store.close()


# ---- CLI and API -------------------------------------------------------------------------


def test_meeting_cli_and_api_with_roles_and_audit(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("room-1",)) as c:
        db = ("--db", str(c.db))
        done = run_collector(*db, "meeting", "add", "--title", "Giao ban", "--start", "2099-12-03T08:00",
                             "--duration", "120", "--unit", "UBND quận Hoàn Kiếm")
        assert done.returncode == 0, done.stderr
        first = int(done.stdout)
        bad = run_collector(*db, "meeting", "add", "--title", "X", "--start", "08:00 tomorrow", "--duration", "60",
                            "--all")
        assert bad.returncode == 64 and "--start" in bad.stderr
        bad = run_collector(*db, "meeting", "add", "--title", "X", "--start", "2099-12-03T08:00", "--duration", "60")
        assert bad.returncode == 64 and "--unit" in bad.stderr
        listed = json.loads(run_collector(*db, "meeting", "list", "--json").stdout)["meetings"]
        assert [(m["id"], m["start"], m["phase"]) for m in listed] == [(first, "2099-12-03T01:00:00Z", "scheduled")]

        viewer = c.add_token("viewer", "viewer")
        operator = c.add_token("operator", "operator")
        new = {"title": "Họp khẩn", "start": "2099-12-04T14:00+07:00", "duration_min": 30, "rooms": ["room-1"]}
        refused = httpx.post(c.url + "/api/v1/meetings", json=new, headers={"Authorization": f"Bearer {viewer}"})
        assert refused.status_code == 403
        made = httpx.post(c.url + "/api/v1/meetings", json=new, headers={"Authorization": f"Bearer {operator}"})
        assert made.status_code == 201, made.text
        second = made.json()["id"]
        assert made.json()["start"] == "2099-12-04T07:00:00Z"
        wrong = httpx.post(c.url + "/api/v1/meetings", json={**new, "duration_min": "long"},
                           headers={"Authorization": f"Bearer {operator}"})
        assert wrong.status_code == 422 and wrong.json()["field"] == "duration_min"
        assert [m["id"] for m in c.get("/api/v1/meetings", token=viewer).json()["meetings"]] == [first, second]
        gone = httpx.delete(f"{c.url}/api/v1/meetings/{second}", headers={"Authorization": f"Bearer {operator}"})
        assert gone.status_code == 200
        again = httpx.post(f"{c.url}/api/v1/meetings/{second}/cancel", headers={"Authorization": f"Bearer {operator}"})
        assert again.status_code == 409
        assert httpx.delete(f"{c.url}/api/v1/meetings/999", headers=c.auth).status_code == 404
        assert run_collector(*db, "meeting", "cancel", str(first)).returncode == 0
        assert run_collector(*db, "meeting", "cancel", str(first)).returncode == 65
        assert run_collector(*db, "meeting", "list").stdout == ""
        actions = [(e["action"], e["actor"]) for e in c.get("/api/v1/audit").json()["audit"]]
        assert ("meeting.add", "token:operator") in actions and ("meeting.cancel", "token:operator") in actions
        assert sum(a == "meeting.add" for a, _ in actions) == 2 and sum(a == "meeting.cancel" for a, _ in actions) == 2
        # The pages, both languages.
        assert "Cuộc họp" in c.get("/meetings").text
        page = c.get(f"/meetings/{first}", params={"lang": "en"})
        assert page.status_code == 200 and "Roll-call" in page.text and "No answer" in page.text


# ---- real agents -------------------------------------------------------------------------


def _blocked_network(collector_port: int) -> str:
    """The MCU path through the collector's port, the responder on closed ports: every probe fails."""
    return (f'[mcu]\nhost = "::1"\ntcp_ports = [{collector_port}]\n'
            '[probe]\nhost = "::1"\nhttp_port = 9\nstamp_port = 9\nstamp_packets = 2\ntls = false\n')


def test_rollcall_three_ready_one_blocked(tmp_path: Path) -> None:
    rooms = ("room-a", "room-b", "room-c", "room-x")
    with running_collector(tmp_path, rooms=rooms, extra_args=("--rollcall-interval", "2")) as c:
        start = time.time() + 180
        done = run_collector("--db", str(c.db), "meeting", "add", "--title", "Meeting in 3 minutes",
                             "--start", _utc(start), "--duration", "60", *[a for r in rooms for a in ("--room", r)])
        assert done.returncode == 0, done.stderr
        meeting = int(done.stdout)
        agents = []
        try:
            for room in rooms:
                home = tmp_path / room
                home.mkdir()
                network = _blocked_network(c.port) if room == "room-x" else ""
                config = write_config(home, c.heartbeat_url, token=c.tokens[room], room=room, interval_s=30,
                                      extra=OWN_INTERVAL, network=network)
                agents.append(Agent(config))

            def rollcall_of() -> dict:
                return c.get(f"/api/v1/meetings/{meeting}/rollcall").json()

            rc = wait_for(lambda: (r := rollcall_of())["counts"]["no_answer"] == 0
                          and r["counts"]["ready"] == 3 and r, 60, interval=0.5, what="every room answered")
            first_seen = {room: c.heartbeats(room)[-1]["seq"] for room in rooms}
            time.sleep(8)
            later = {room: c.heartbeats(room)[-1]["seq"] for room in rooms}
            logs = [a.log for a in agents]
        finally:
            for a in agents:
                if a.process.poll() is None:
                    a.terminate()
        csv_text = c.get(f"/api/v1/meetings/{meeting}/rollcall.csv").text
        page = c.get(f"/meetings/{meeting}", params={"lang": "en"}).text
    states = {r["room_id"]: r for r in rc["rooms"]}
    assert {r: s["state"] for r, s in states.items()} == {"room-a": "ready", "room-b": "ready", "room-c": "ready",
                                                          "room-x": "not_ready"}
    failing = {f["name"] for f in states["room-x"]["failing_checks"] if f["status"] == "fail"}
    assert {"probe.rtt", "probe.upload"} <= failing, states["room-x"]
    for room, log in zip(rooms, logs):
        received = re.search(r"event=request.received id=(\w+) kind=full_check", log)
        assert received, log
        # The full check ran after the request and its heartbeat carries the id.
        assert re.search(rf"event=request.answered id={received.group(1)} kind=full_check seq=\d+", log), log
        assert log.count("event=request.received") == 1  # asked again until heard: run once
        # The roll-call interval (2 s), not the room's own 30 s: about 4 heartbeats in 8 s.
        assert later[room] - first_seen[room] >= 3, (room, first_seen, later)
    # room-x's bandwidth test ran for the request (its first one was minutes away), and failed.
    upload = next(f for f in states["room-x"]["failing_checks"] if f["name"] == "probe.upload")
    assert upload["summary"].startswith("upload"), upload
    assert csv_text.splitlines()[0].startswith("meeting_id,title,start,unit,room_id,name,t-15")
    assert csv_text.count(",ready,") == 3 and ",not_ready," in csv_text
    assert 'data-state="not_ready"' in page and "Not ready" in page
    assert '<meta http-equiv="refresh" content="10">' in page  # the roll-call page keeps itself live


class CountingResponder:
    """A bandwidth responder that is always busy (503): it only records when each request came."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.bind(("::1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.requests: list[tuple[float, str]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    head = conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
                    self.requests.append((time.time(), head))
                    conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def _upload_summary(home: Path) -> str:
    try:
        state = json.loads((home / "run/status.json").read_text())
    except (OSError, ValueError):  # not written yet, or being replaced
        return ""
    return next((c["summary"] for c in state.get("checks", []) if c["name"] == "probe.upload"), "")


def test_no_bandwidth_test_during_the_meeting_then_they_resume(tmp_path: Path) -> None:
    responder = CountingResponder()
    try:
        with running_collector(tmp_path, rooms=("room-1",), extra_args=("--rollcall-interval", "1")) as c:
            network = (f'[mcu]\nhost = "::1"\ntcp_ports = [{c.port}]\n'
                       f'[probe]\nhost = "::1"\nhttp_port = {responder.port}\nstamp_port = 9\nstamp_packets = 2\n'
                       'tls = false\nduration_s = 1\nstreams = 1\nretry_s = 1\nevery_s = 60\n')
            agent = Agent(write_config(tmp_path, c.heartbeat_url, token=c.tokens["room-1"], interval_s=2,
                                       extra=OWN_INTERVAL, network=network))
            try:
                # Once the agent is up (however loaded this machine is), the meeting: in 10 s, for 15 s.
                wait_for(lambda: c.heartbeats("room-1"), 30, interval=0.2, what="the first heartbeat")
                start = time.time() + 10
                done = run_collector("--db", str(c.db), "meeting", "add", "--title", "Quiet", "--start",
                                     _utc(start), "--duration", "0.25", "--room", "room-1")
                assert done.returncode == 0, done.stderr
                start = float(int(start))  # --start is to the second
                end = start + 15
                # Due (it keeps failing: retried after 1, 2, 4 ... s) but held by the quiet time.
                held = wait_for(lambda: start < time.time() < end and "quiet time" in _upload_summary(tmp_path),
                                30, interval=0.2, what="the bandwidth test held during the meeting")
                meeting_state = json.loads((tmp_path / "run/status.json").read_text())["meeting"]
                assert meeting_state["quiet_until"] == _utc(end) and meeting_state["interval_s"] == 1
                wait_for(lambda: time.time() > end + 12, 40, interval=0.5, what="the meeting and 12 s after")
                log = agent.log
            finally:
                if agent.process.poll() is None:
                    agent.terminate()
    finally:
        responder.close()
    times = [t for t, _ in responder.requests]
    assert any(t < start for t in times), (times, log)  # the roll-call's test (and its retries)
    during = [t - start for t in times if start <= t < end]
    assert during == [], (during, log)
    assert held and any(end <= t < end + 12 for t in times), (times, log)  # resumed once the meeting ended
    assert "event=quiet.changed until=" in log


def test_unknown_request_kind_and_extra_fields_are_logged_and_ignored(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    sink = start_sink()
    sink.reply = {"status": "stored", "seq": 1, "room_id": "room-1", "run": f"touch {marker}",
                  "requests": [{"id": "evil1", "kind": "shell", "command": f"touch {marker}"},
                               {"id": "evil2", "kind": "upgrade", "url": "http://example.invalid/x.deb"}],
                  "interval_s": "fast", "quiet_until": "tomorrow"}
    try:
        agent = Agent(write_config(tmp_path, sink.url, interval_s=2, extra=OWN_INTERVAL))
        try:
            wait_for(lambda: len(sink.accepted()) >= 4, 30, what="four heartbeats")
            log = agent.log
        finally:
            assert agent.terminate() == 0
    finally:
        sink.stop()
    assert not marker.exists()
    bodies = sink.accepted()
    assert all("answers" not in b for b in bodies)  # nothing was run, so nothing is answered
    ignored = [line for line in log.splitlines() if "event=collector.answer_ignored" in line]
    assert len(ignored) == 1, log  # logged once, not at every heartbeat
    for expected in ('unknown field \\"run\\"', 'request evil1 of unknown kind \\"shell\\"',
                     "request evil2 of unknown kind", "interval_s", "quiet_until"):
        assert expected in ignored[0], ignored[0]
    assert "event=request.received" not in log
    # The hint was refused: the room keeps its own 2 s beat (4 heartbeats took about 6 s, not 4).
    sent = [datetime.fromisoformat(b["sent_at"].replace("Z", "+00:00")).timestamp() for b in bodies[:4]]
    assert sent[-1] - sent[0] >= 5.0, sent


def test_dashboard_forms_for_operators_with_the_session_and_origin_check(tmp_path: Path) -> None:
    from tests.test_collector_auth import login

    with running_collector(tmp_path, rooms=("room-1",)) as c:
        c.add_user("op", "operator-pass-1234", "operator")
        c.add_user("view", "viewer-pass-1234", "viewer")
        op = login(c, "op", "operator-pass-1234").cookies
        view = login(c, "view", "viewer-pass-1234").cookies
        form = {"title": "Giao ban sáng", "start": "2099-12-03T08:00", "duration": "120",
                "unit": "UBND quận Ba Đình"}
        own = {"Origin": c.url}
        assert httpx.post(c.url + "/meetings", data=form, cookies=view, headers=own).status_code == 403
        assert httpx.post(c.url + "/meetings", data=form, cookies=op,
                          headers={"Origin": "https://evil.example"}).status_code == 403
        bad = httpx.post(c.url + "/meetings", data={**form, "start": "soon"}, cookies=op, headers=own)
        assert bad.status_code == 422 and "--start" in bad.text
        made = httpx.post(c.url + "/meetings", data=form, cookies=op, headers=own)
        assert made.status_code == 303
        page = httpx.get(c.url + "/meetings", cookies=op).text
        assert "Giao ban sáng" in page and "08:00:00 03/12/2099" in page and 'class="cancel"' in page
        assert 'class="cancel"' not in httpx.get(c.url + "/meetings", cookies=view).text  # viewers cannot
        meeting = c.get("/api/v1/meetings").json()["meetings"][0]
        assert meeting["start"] == "2099-12-03T01:00:00Z" and meeting["created_by"] == "op"
        done = httpx.post(f"{c.url}/meetings/{meeting['id']}/cancel", cookies=op, headers=own)
        assert done.status_code == 303
        assert c.get("/api/v1/meetings").json()["meetings"] == []


def test_states_at_t15_and_at_the_start_are_kept_and_exported(tmp_path: Path) -> None:
    import sqlite3

    from tests.sample import heartbeat

    with running_collector(tmp_path, rooms=("room-1", "room-2"),
                           extra_args=("--sweep-interval", "0.5", "--rollcall-interval", "1")) as c:
        start = time.time() + 9  # requests stop 4 s (4 roll-call intervals) before the start
        done = run_collector("--db", str(c.db), "meeting", "add", "--title", "Evidence", "--start", _utc(start),
                             "--duration", "1", "--room", "room-1", "--room", "room-2")
        meeting = int(done.stdout)
        with sqlite3.connect(c.db) as conn:  # added an hour ago, as an operator would have: T-15 is kept too
            conn.execute("UPDATE meetings SET created_at = created_at - 3600 WHERE id = ?", (meeting,))
        wait_for(lambda: c.get(f"/api/v1/meetings/{meeting}/rollcall").json()["kept"]["t-15"], 10, interval=0.3,
                 what="T-15 kept (it is past already)")
        auth = {"Authorization": f"Bearer {c.tokens['room-1']}"}
        request = wait_for(lambda: httpx.post(c.heartbeat_url, json=heartbeat("room-1", 1), headers=auth)
                           .json()["requests"], 4, interval=0.3, what="the request")[0]
        answered = heartbeat("room-1", 2)
        answered["answers"] = [{**request, "done_at": _utc(time.time())}]
        assert httpx.post(c.heartbeat_url, json=answered, headers=auth).json()["requests"] == []
        kept = wait_for(lambda: (r := c.get(f"/api/v1/meetings/{meeting}/rollcall").json())["kept"]["start"]
                        and r, 15, interval=0.3, what="the start kept")
        csv_text = c.get(f"/api/v1/meetings/{meeting}/rollcall", params={"format": "csv"}).text
    for moment, room_1 in (("t-15", "no_answer"), ("start", "ready")):
        states = {r["room_id"]: r["state"] for r in kept["kept"][moment]["rooms"]}
        assert states == {"room-1": room_1, "room-2": "no_answer"}, (moment, kept["kept"])
    assert kept["kept"]["start"]["counts"] == {"ready": 1, "not_ready": 0, "no_answer": 1}
    assert kept["kept"]["t-15"]["taken_at"] <= kept["kept"]["start"]["taken_at"]
    assert kept["counts"]["ready"] == 1  # and now
    lines = {line.split(",")[4]: line.split(",") for line in csv_text.splitlines()[1:]}
    assert lines["room-1"][6::2] == ["no_answer", "ready", "ready"], csv_text  # T-15, start, now
    assert lines["room-2"][6::2] == ["no_answer"] * 3, csv_text
