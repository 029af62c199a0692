"""Accounts, API tokens, sessions and units against the real collector, in headless Chromium too.

Every read needs a session or a token (on loopback as well); an account limited to
a unit sees only that unit's rooms, and another unit's room is 404; the login form
sets an HttpOnly, SameSite=Strict cookie (Secure under TLS); failed logins are
limited; secrets are never in the log or the database in clear; every change and
login is in the audit trail; the ``user``, ``token`` and ``audit`` commands.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.accounts import hash_password, verify_password
from collector.ratelimit import FailureLimiter
from tests.sample import heartbeat
from collector.store import SCHEMA_VERSION, Store
from collector.web.auth import safe_next
from collector.web.i18n import LABELS
from tests.browser import Browser
from tests.collector_helpers import collector_db, RunningCollector, collector_command, free_port, run_collector, running_collector

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"
PASSWORD = "mật-khẩu-thử-0123"
READ_PATHS = ("/api/v1/rooms", "/api/v1/rooms/a-1", "/api/v1/rooms/a-1/heartbeats", "/api/v1/events",
              "/api/v1/report", "/api/v1/report?format=csv", "/api/v1/gaps", "/api/v1/audit", "/metrics")
PAGES = ("/", "/rooms/a-1", "/report?days=7", "/audit")


def send(c: RunningCollector, room: str, body: dict[str, Any]) -> None:
    r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens[room]}"}, timeout=30)
    assert r.status_code == 200, r.text


def fill(c: RunningCollector) -> None:
    """Unit A: a-1 ok, a-2 failing; Unit B: b-1 failing (unit set at enrolment)."""
    send(c, "a-1", heartbeat("a-1", 1))
    send(c, "a-2", heartbeat("a-2", 1, status="fail", failing="probe.upload"))
    send(c, "b-1", heartbeat("b-1", 1, status="fail", failing="devices.cameras"))


def enrol(tmp_path: Path) -> dict[str, str]:
    """a-1 and a-2 of Unit A, b-1 of Unit B (units given at enrolment); their room tokens."""
    db = str(collector_db(tmp_path))
    tokens = {}
    for room, unit in (("a-1", "Unit A"), ("a-2", "Unit A"), ("b-1", "Unit B")):
        done = run_collector("--db", db, "room", "add", room, "--unit", unit)
        assert done.returncode == 0
        tokens[room] = done.stdout.strip()
    return tokens


def login(c: RunningCollector, user: str, password: str, **kw: Any) -> httpx.Response:
    """POST the login form as a browser on the collector's own page would (Origin set)."""
    headers = {"Origin": c.url, **kw.pop("headers", {})}
    return httpx.post(c.url + "/login", data={"user": user, "password": password, "next": "/"}, headers=headers,
                      trust_env=False, verify=c.verify, timeout=30, **kw)


def test_pure_parts() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$16384$8$1$") and "correct" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("x", "garbage") and not verify_password("x", "scrypt$1$2$3$!$!")
    assert hash_password("same-password") != hash_password("same-password")  # salted
    limiter = FailureLimiter(max_failures=3, window_s=60)
    for t in (0, 1, 2):
        assert limiter.retry_after(["u"], t) == 0
        limiter.fail(["u"], t)
    assert limiter.retry_after(["u"], 3) == 57  # until the first failure leaves the window
    assert limiter.retry_after(["other"], 3) == 0
    assert limiter.retry_after(["u"], 60.5) == 0
    for bad in ("https://evil.example/", "//evil.example/", "/\\evil", "", None, "javascript:x", "/login?next=/"):
        assert safe_next(bad) == "/", bad
    assert safe_next("/rooms/a-1?lang=en") == "/rooms/a-1?lang=en"


def test_every_read_needs_a_session_or_a_token_on_loopback_too(tmp_path: Path) -> None:
    enrol(tmp_path)
    with running_collector(tmp_path, rooms=()) as c:
        for path in READ_PATHS:
            r = httpx.get(c.url + path, timeout=30)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"] == "Bearer" and "token add" in r.json()["error"], path
            assert c.get(path, token="brc_wrong").status_code == 401, path
            assert c.get(path).status_code == 200, path
        for path in PAGES:
            r = httpx.get(c.url + path, timeout=30)
            assert r.status_code == 303, path
            assert r.headers["location"] == "/login?next=" + path.replace("/", "%2F").replace("?", "%3F") \
                .replace("=", "%3D"), path
            assert c.get(path).status_code == 200, path
        room_token = run_collector("--db", str(c.db), "room", "add", "r-9").stdout.strip()
        assert c.get("/api/v1/rooms", token=room_token).status_code == 401  # room tokens only post heartbeats
        assert httpx.get(c.url + "/healthz").status_code == 200
        assert httpx.get(c.url + "/login").status_code == 200


def test_a_unit_viewer_sees_only_its_units_rooms_events_and_report(tmp_path: Path) -> None:
    tokens = enrol(tmp_path)
    with running_collector(tmp_path, rooms=()) as c:
        c.tokens.update(tokens)
        fill(c)
        viewer = c.add_token("district-a", "viewer", units=("Unit A",))

        def get(path: str, **kw: Any) -> httpx.Response:
            return c.get(path, token=viewer, **kw)

        assert sorted(r["room_id"] for r in get("/api/v1/rooms").json()["rooms"]) == ["a-1", "a-2"]
        assert sorted(r["room_id"] for r in c.get("/api/v1/rooms").json()["rooms"]) == ["a-1", "a-2", "b-1"]
        assert get("/api/v1/rooms/a-1").status_code == 200
        for path in ("/api/v1/rooms/b-1", "/api/v1/rooms/b-1/heartbeats", "/rooms/b-1"):
            r = get(path)
            assert r.status_code == 404, path  # exactly like a room that does not exist
            assert get(path.replace("b-1", "zz-9")).status_code == 404
            assert r.text.replace("b-1", "zz-9") == get(path.replace("b-1", "zz-9")).text
        assert {e["room_id"] for e in get("/api/v1/events").json()["events"]} == {"a-1", "a-2"}
        assert get("/api/v1/events", params={"room_id": "b-1"}).json()["events"] == []
        assert {e["room_id"] for e in c.get("/api/v1/events").json()["events"]} == {"a-1", "a-2", "b-1"}
        report = get("/api/v1/report", params={"days": 7}).json()
        assert [u["unit"] for u in report["units"]] == ["Unit A"] and report["totals"]["rooms"] == 2
        rows = list(csv.reader(io.StringIO(get("/api/v1/report", params={"days": 7, "format": "csv"}).text)))
        assert [row[0] for row in rows[1:]] == ["Unit A"]
        assert "devices.cameras" not in get("/report", params={"days": 7}).text
        metrics = get("/metrics").text
        assert 'room_id="a-1"' in metrics and 'room_id="b-1"' not in metrics
        overview = get("/").text
        assert 'data-room="a-2"' in overview and 'data-room="b-1"' not in overview and "Unit B" not in overview
        # A viewer reads; the audit trail is the admins'.
        assert get("/api/v1/audit").status_code == 403
        forbidden = get("/audit")
        assert forbidden.status_code == 403 and LABELS["vi"]["forbidden"] in forbidden.text
        both = c.add_token("two-units", "operator", units=("Unit A", "Unit B"))
        assert len(c.get("/api/v1/rooms", token=both).json()["rooms"]) == 3


@pytest.mark.one_store
def test_login_form_cookie_dashboard_and_logout_in_chromium(tmp_path: Path) -> None:
    tokens = enrol(tmp_path)
    with running_collector(tmp_path, rooms=()) as c:
        c.tokens.update(tokens)
        fill(c)
        c.add_user("tech.a", PASSWORD, "viewer", units=("Unit A",))
        with Browser(tmp_path / "profile") as b:
            page = b.open(f"{c.url}/report?days=7")
            t = LABELS["vi"]
            assert "/login?next=%2Freport%3Fdays%3D7" in b.url()
            assert t["user_name"] in page and t["password"] in page and 'id="sign-in"' in page
            b.screenshot(BUILD / "dashboard-login.png")
            page = b.submit_login("tech.a", "wrong-password-123")
            assert t["login_failed"] in page and b.cookies() == []
            page = b.submit_login("tech.a", PASSWORD)
            assert b.url() == f"{c.url}/report?days=7"
            assert t["compliant_period"].format(n=7) in page and 'id="signed-in">tech.a<' in page
            assert t["audit"] not in page  # the audit link is for admins
            (cookie,) = b.cookies()
            assert cookie["name"] == "bridge_session" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert not cookie["secure"] and cookie["session"]  # plain HTTP here; gone with the browser
            assert b.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
            page = b.open(f"{c.url}/")
            assert 'data-room="a-1"' in page and 'data-room="b-1"' not in page
            page = b.click("logout")
            assert b.url() == f"{c.url}/login" and b.cookies() == []
            b.open(f"{c.url}/")
            assert "/login?next=%2F" in b.url()
        # The old cookie is dead on the server too, not only forgotten by the browser.
        assert httpx.get(c.url + "/api/v1/rooms", cookies={"bridge_session": cookie["value"]}).status_code == 401
        actions = [(e["action"], e["actor"], e["source"]) for e in reversed(c.get("/api/v1/audit").json()["audit"])]
        assert [a for a in actions if a[0].startswith(("login", "logout"))] == [
            ("login.fail", "tech.a", "::1"), ("login.ok", "tech.a", "::1"), ("logout", "tech.a", "::1")]


@pytest.mark.one_store
def test_session_cookie_is_secure_under_tls(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "1", "-subj", "/CN=::1", "-addext", "subjectAltName=IP:::1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    c = RunningCollector(url=f"https://[::1]:{port}", heartbeat_url="", tokens={}, db=collector_db(tmp_path),
                         process=None, port=port, log=tmp_path / "collector.log",  # type: ignore[arg-type]
                         extra_args=("--tls-cert", str(cert), "--tls-key", str(key)), verify=str(cert))
    c.start()
    try:
        c.add_user("admin", PASSWORD, "admin")
        r = login(c, "admin", PASSWORD)
        assert r.status_code == 303
        flags = [f.strip().lower() for f in r.headers["set-cookie"].split(";")]
        assert {"httponly", "secure", "samesite=strict", "path=/"} <= set(flags)
        with Browser(tmp_path / "profile", ignore_certificate_errors=True) as b:
            b.open(f"{c.url}/")
            page = b.submit_login("admin", PASSWORD)
            assert 'id="signed-in">admin<' in page and LABELS["vi"]["audit"] in page
            (cookie,) = b.cookies()
            assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            page = b.open(f"{c.url}/audit")
            assert 'data-action="login.ok"' in page
    finally:
        c.stop()


def test_login_and_logout_refuse_other_origins(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=()) as c:
        c.add_user("op", PASSWORD, "operator")
        assert login(c, "op", PASSWORD, headers={"Origin": "https://evil.example"}).status_code == 403
        no_origin = httpx.post(c.url + "/login", data={"user": "op", "password": PASSWORD})
        assert no_origin.status_code == 403
        r = login(c, "op", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/"
        session = {"bridge_session": r.cookies["bridge_session"]}
        assert httpx.get(c.url + "/api/v1/rooms", cookies=session).status_code == 200  # the CSV link works too
        assert httpx.post(c.url + "/logout", cookies=session, headers={"Origin": "https://evil.example"}).status_code == 403
        assert httpx.get(c.url + "/", cookies=session).status_code == 200  # still logged in
        r = httpx.post(c.url + "/logout", cookies=session, headers={"Origin": c.url})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert httpx.get(c.url + "/", cookies=session).status_code == 303
        # The next parameter never leads off the collector.
        r = httpx.post(c.url + "/login", data={"user": "op", "password": PASSWORD, "next": "//evil.example/x"},
                       headers={"Origin": c.url})
        assert r.headers["location"] == "/"


def test_failed_logins_are_limited_per_user_and_per_address(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=()) as c:
        c.add_user("victim", PASSWORD, "viewer")
        for _ in range(5):
            assert login(c, "victim", "not-the-password").status_code == 401
        limited = login(c, "victim", PASSWORD)  # even the right password: no answer while limited
        assert limited.status_code == 429 and 290 <= int(limited.headers["retry-after"]) <= 301
        assert LABELS["vi"]["login_limited"] in limited.text
        # The same address trying other names is limited as well (5 failures: it already has them).
        assert login(c, "someone-else", "whatever-123").status_code == 429
        # Limited attempts are not even audited: a flood cannot fill the audit trail.
        audit = c.get("/api/v1/audit").json()["audit"]
        assert [e["actor"] for e in audit if e["action"] == "login.fail"] == ["victim"] * 5


@pytest.mark.sqlite_only
def test_unknown_names_in_the_audit_trail_stay_anonymous(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=()) as c:
        assert login(c, "Hunter2-Secret-Password", "x").status_code == 401
        (entry,) = [e for e in c.get("/api/v1/audit").json()["audit"] if e["action"] == "login.fail"]
        assert entry["actor"] == entry["target"] == "(unknown user)"
        assert "hunter2" not in (c.db.read_bytes() + _wal(c.db)).decode("latin-1").lower()


def _wal(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


@pytest.mark.sqlite_only
def test_passwords_tokens_and_sessions_never_in_clear(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("room-1",)) as c:
        c.add_user("admin", PASSWORD, "admin")
        viewer = c.add_token("prometheus", "viewer")
        assert viewer.startswith("brc_") and len(viewer) > 40
        r = login(c, "admin", PASSWORD)
        sid = r.cookies["bridge_session"]
        assert c.get("/metrics", token=viewer).status_code == 200
        assert httpx.get(c.url + "/", cookies={"bridge_session": sid}).status_code == 200
        # Credentials sent where they do not belong end up nowhere either.
        httpx.get(c.url + "/api/v1/rooms", headers={"Authorization": f"Bearer {viewer}x"})
        c.stop()
        secrets = [PASSWORD.encode(), viewer.encode(), sid.encode(), c.admin_token.encode(),
                   c.tokens["room-1"].encode()]
        stored = c.db.read_bytes() + _wal(c.db)
        log = c.log.read_bytes()
        for secret in secrets:
            assert secret not in stored and secret not in log
        with sqlite3.connect(c.db) as conn:
            (hashed,) = conn.execute("SELECT password FROM users WHERE name = 'admin'").fetchone()
        assert hashed.startswith("scrypt$")


def _tty_user_add(db: Path, *answers: str) -> tuple[int, str]:
    """``user add`` on a terminal: getpass prompts (echo off) and reads the answers."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([*collector_command(), "--db", str(db), "user", "add", "tty-user", "--role", "viewer"],
                            stdin=follower, stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    output = b""
    for answer in answers:
        while b": " not in output.rsplit(b"\n", 1)[-1]:
            output += os.read(leader, 1024)
        os.write(leader, answer.encode() + b"\n")
        output += os.read(leader, 1024)
    rc = proc.wait(timeout=60)
    try:
        while chunk := os.read(leader, 1024):
            output += chunk
    except OSError:
        pass
    os.close(leader)
    return rc, output.decode(errors="replace")


@pytest.mark.sqlite_only
def test_user_token_and_audit_commands(tmp_path: Path) -> None:
    db = tmp_path / "c.db"

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*collector_command(), "--db", str(db), *args], input=stdin, capture_output=True,
                              text=True, timeout=60)

    assert run("user", "add", "alice", "--role", "viewer", "--unit", "Unit A", stdin=PASSWORD + "\n").returncode == 0
    assert run("user", "add", "alice", "--role", "viewer", stdin=PASSWORD + "\n").returncode == 65
    short = run("user", "add", "bob", "--role", "viewer", stdin="short\n")
    assert short.returncode == 64 and "at least 10" in short.stderr
    assert run("user", "add", "Bad Name", "--role", "viewer", stdin=PASSWORD + "\n").returncode == 64
    assert run("user", "add", "bob", "--role", "root", stdin=PASSWORD + "\n").returncode == 64
    assert run("user", "add", "boss", "--role", "admin", "--unit", "Unit A", stdin=PASSWORD + "\n").returncode == 64
    assert run("user", "add", "boss", "--role", "admin", stdin=PASSWORD + "\n").returncode == 0
    rc, out = _tty_user_add(db, "tty-password-1", "tty-password-2")
    assert rc == 64 and "differ" in out and "tty-password" not in out  # not echoed
    rc, out = _tty_user_add(db, "tty-password-1", "tty-password-1")
    assert rc == 0 and "tty-password" not in out, out
    users = json.loads(run("user", "list", "--json").stdout)["users"]
    assert [(u["name"], u["role"], u["units"]) for u in users] == [
        ("alice", "viewer", ["Unit A"]), ("boss", "admin", []), ("tty-user", "viewer", [])]
    assert "alice" in run("user", "list").stdout
    store = Store(db)
    before = store.user("alice")["password"]  # type: ignore[index]
    store.close()
    assert run("user", "passwd", "nobody", stdin=PASSWORD + "\n").returncode == 65
    assert run("user", "passwd", "alice", stdin="new-password-456\n").returncode == 0
    store = Store(db)
    after = store.user("alice")["password"]  # type: ignore[index]
    store.close()
    assert after != before and verify_password("new-password-456", after)
    assert run("user", "remove", "alice").returncode == 0
    assert run("user", "remove", "alice").returncode == 65

    token = run("token", "add", "prometheus", "--role", "viewer", "--unit", "Unit B")
    assert token.returncode == 0 and token.stdout.startswith("brc_") and token.stdout.count("\n") == 1
    assert run("token", "add", "prometheus", "--role", "viewer").returncode == 65
    listed = json.loads(run("token", "list", "--json").stdout)["tokens"]
    assert [(t["name"], t["role"], t["units"]) for t in listed] == [("prometheus", "viewer", ["Unit B"])]
    assert token.stdout.strip() not in run("token", "list", "--json").stdout
    assert run("token", "remove", "prometheus").returncode == 0
    assert run("token", "remove", "prometheus").returncode == 65

    assert run("room", "add", "r-1", "--unit", "Unit A").returncode == 0
    assert run("room", "revoke", "r-1").returncode == 0
    entries = json.loads(run("audit", "--json").stdout)["audit"]
    me = getpass.getuser()
    assert [(e["action"], e["target"]) for e in reversed(entries)] == [
        ("user.add", "alice"), ("user.add", "boss"), ("user.add", "tty-user"), ("user.passwd", "alice"),
        ("user.remove", "alice"), ("token.add", "prometheus"), ("token.remove", "prometheus"),
        ("room.add", "r-1"), ("room.revoke", "r-1")]
    assert {(e["actor"], e["source"]) for e in entries} == {(me, "cli")}
    assert entries[-1]["detail"] == "role=viewer units=Unit A"
    text = run("audit", "--days", "1").stdout
    assert "room.revoke" in text and text.index("user.add") < text.index("room.revoke")  # oldest first
    assert json.loads(run("audit", "--since", "2099-01-01T00:00:00Z", "--json").stdout)["audit"] == []
    assert len(json.loads(run("audit", "--since", "2020-01-01", "--json").stdout)["audit"]) == 9
    assert run("audit", "--since", "yesterday").returncode == 64
    assert run("audit", "--days", "0").returncode == 64
    assert PASSWORD.encode() not in db.read_bytes() + _wal(db)


@pytest.mark.sqlite_only
def test_a_version_2_database_gets_the_account_tables(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    Store(db).close()
    with sqlite3.connect(db) as conn:  # back to what version 2 had
        for table in ("users", "api_tokens", "sessions", "audit"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("PRAGMA user_version=2")
    assert run_collector("--db", str(db), "room", "add", "r-1").returncode == 0  # audited: the table is back
    store = Store(db)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
        assert [e["action"] for e in store.audit_entries()] == ["room.add"]
    finally:
        store.close()


@pytest.mark.sqlite_only
def test_no_accounts_is_said_at_start(tmp_path: Path) -> None:
    port = free_port()
    c = RunningCollector(url=f"http://[::1]:{port}", heartbeat_url="", tokens={}, db=tmp_path / "c.db",
                         process=None, port=port, log=tmp_path / "collector.log",  # type: ignore[arg-type]
                         admin_token="none-made")
    c.start()
    try:
        time.sleep(0.2)
        assert "bridge-collector user add NAME --role admin" in c.log.read_text()
    finally:
        c.stop()


@pytest.mark.sqlite_only
def test_sessions_end_when_idle_and_when_the_password_changes(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=()) as c:
        c.add_user("op", PASSWORD, "operator", units=("UBND quận Hoàn Kiếm",))

        def reads(sid: str) -> int:
            return httpx.get(c.url + "/api/v1/rooms", cookies={"bridge_session": sid}, timeout=30).status_code

        idle = login(c, "op", PASSWORD).cookies["bridge_session"]
        kept = login(c, "op", PASSWORD).cookies["bridge_session"]
        assert reads(idle) == reads(kept) == 200
        with sqlite3.connect(c.db) as conn:  # 12 h and a minute without a request
            conn.execute("UPDATE sessions SET last_seen = last_seen - 12 * 3600 - 60 WHERE id_sha256 = ?",
                         (hashlib.sha256(idle.encode()).hexdigest(),))
        assert reads(idle) == 401 and reads(kept) == 200
        done = subprocess.run([*collector_command(), "--db", str(c.db), "user", "passwd", "op"],
                              input="another-password-789\n", capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert reads(kept) == 401
        assert login(c, "op", PASSWORD).status_code == 401
        assert login(c, "op", "another-password-789").status_code == 303
