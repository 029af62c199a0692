"""Run the real ``bridge-collector`` for tests: a subprocess on [::1] with a temp database.

    with running_collector(tmp_path, rooms=("room-1",)) as c:
        httpx.post(c.heartbeat_url, json=..., headers={"Authorization": f"Bearer {c.tokens['room-1']}"})
        c.get("/api/v1/rooms")            # every read needs credentials: c.get sends the admin token
        httpx.get(c.url + "/metrics", headers=c.auth)   # the same, by hand
        c.add_token("viewer-a", "viewer", units=("Unit A",))   # another principal's bearer token
        c.add_user("alice", "password-1234", "viewer")         # an account for the login form
        c.stop(); ...; c.start()          # an outage on the same port and database
        c.heartbeats("room-1")            # what was stored, oldest first

Every collector started here has an admin API token (``c.admin_token``, made with
``bridge-collector token add test-admin --role admin`` before the first start).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import httpx

START_TIMEOUT_S = 30.0
# Set per test by tests/conftest.py's store_backend: a fresh PostgreSQL database; None: a SQLite file.
# The PostgreSQL database of a test that runs on one (tests/conftest.py), or a callable
# that creates it on first use.
STORE_URL: str | Callable[[], str] | None = None


def collector_db(tmp_path: Path, name: str = "collector.db") -> Any:
    """The ``--db`` of this test's collector: the PostgreSQL database when the test runs on one."""
    global STORE_URL
    if callable(STORE_URL):
        STORE_URL = STORE_URL()
    return STORE_URL if STORE_URL else tmp_path / name


def collector_command() -> list[str]:
    """The installed console script next to this Python, else ``python -m collector``."""
    script = Path(sys.executable).parent / "bridge-collector"
    if script.exists():
        return [str(script)]
    found = shutil.which("bridge-collector")
    return [found] if found else [sys.executable, "-m", "collector"]


def run_collector(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one ``bridge-collector ARGS`` command to completion."""
    return subprocess.run([*collector_command(), *args], capture_output=True, text=True, timeout=timeout)


def enrol(db: Any, rooms: Sequence[str], admin: str | None = None) -> tuple[dict[str, str], str]:
    """Rooms' tokens (and an admin API token named ``admin``) made through the Store, in this process.

    What ``room add`` and ``token add`` do, without a Python start per room (0.6 s each: 30
    rooms were 20 s of a test); those commands have their own tests (test_collector_auth).
    """
    from collector.accounts import new_api_token
    from collector.store import Store, hash_token

    store = Store(db)
    try:
        tokens = {room_id: store.add_room(room_id) for room_id in rooms}
        token = ""
        if admin:
            token = new_api_token()
            store.add_api_token(admin, "admin", (), hash_token(token))
        return tokens, token
    finally:
        store.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


@dataclass
class RunningCollector:
    url: str
    heartbeat_url: str
    tokens: dict[str, str]
    db: Path  # or a postgresql:// URL (str) when the test runs on PostgreSQL
    process: subprocess.Popen
    port: int = 0
    log: Path = field(default_factory=Path)
    extra_args: Sequence[str] = ()
    admin_token: str = ""  # made at the first start(); c.auth / c.get() send it
    verify: Any = True  # httpx's verify: a CA file for a collector serving TLS

    @property
    def auth(self) -> dict[str, str]:
        """Headers authenticating as the admin token."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    def get(self, path: str, *, token: str | None = None, **kw: Any) -> httpx.Response:
        """GET ``path`` (e.g. "/api/v1/rooms") as the admin token, or as ``token`` when given."""
        headers = {"Authorization": f"Bearer {token or self.admin_token}", **kw.pop("headers", {})}
        kw.setdefault("timeout", 30)
        return httpx.get(self.url + path, headers=headers, trust_env=False, verify=self.verify, **kw)

    def add_token(self, name: str, role: str = "viewer", units: Sequence[str] = ()) -> str:
        """``bridge-collector token add``: a new API token (works while the collector runs)."""
        done = run_collector("--db", str(self.db), "token", "add", name, "--role", role,
                             *[a for u in units for a in ("--unit", u)])
        if done.returncode != 0:
            raise RuntimeError(f"token add {name} failed ({done.returncode}): {done.stderr}")
        return done.stdout.strip()

    def add_user(self, name: str, password: str, role: str = "viewer", units: Sequence[str] = ()) -> None:
        """``bridge-collector user add``, the password on stdin."""
        done = subprocess.run([*collector_command(), "--db", str(self.db), "user", "add", name, "--role", role,
                               *[a for u in units for a in ("--unit", u)]],
                              input=password + "\n", capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"user add {name} failed ({done.returncode}): {done.stderr}")

    def _serve_command(self) -> list[str]:
        return [*collector_command(), "--db", str(self.db), "serve", "--listen", f"[::1]:{self.port}",
                "--stamp-port", "0", *self.extra_args]

    def start(self) -> None:
        """Start (again) on the same port and database; returns once it answers."""
        if not self.admin_token:
            self.admin_token = enrol(self.db, (), admin="test-admin")[1]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self._serve_command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge-collector exited with {self.process.returncode}:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False, verify=self.verify).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"bridge-collector did not answer within {START_TIMEOUT_S}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 15 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def heartbeats(self, room_id: str, since_seq: int = 0) -> list[dict]:
        """Every stored heartbeat of the room with seq > since_seq, oldest first (all pages)."""
        out: list[dict] = []
        cursor: int | None = since_seq
        while cursor is not None:
            response = self.get(f"/api/v1/rooms/{room_id}/heartbeats", params={"since_seq": cursor, "limit": 1000})
            response.raise_for_status()
            page = response.json()
            out += page["heartbeats"]
            cursor = page["next_since_seq"]
        return out


@contextlib.contextmanager
def running_collector(
    tmp_path: Path, rooms: Sequence[str] = ("room-1",), extra_args: Sequence[str] = (), db: Any = None
) -> Iterator[RunningCollector]:
    """The real ``bridge-collector serve`` on [::1] (free port, no STAMP), rooms enrolled.

    ``db``: the database (a SQLite path or a postgresql:// URL); by default the test's store."""
    db = db or collector_db(tmp_path)
    tokens, _ = enrol(db, rooms)
    for attempt in range(3):
        port = free_port()
        url = f"http://[::1]:{port}"
        collector = RunningCollector(url=url, heartbeat_url=f"{url}/api/v1/heartbeat", tokens=tokens, db=db,
                                     process=None, port=port, log=tmp_path / f"collector-{os.getpid()}.log",  # type: ignore[arg-type]
                                     extra_args=tuple(extra_args))
        try:
            collector.start()
            break
        except RuntimeError:
            if attempt == 2:  # the port may have been taken between probing and binding
                raise
    try:
        yield collector
    finally:
        if collector.process is not None:
            collector.stop()


def write_events(db: Path, room_id: str, seqs: Iterable[int], at: float) -> list[int]:
    """Heartbeats ok, fail, ok, ... (seq odd: ok) received at ``at`` + seq, written straight to the
    database as another collector process would (the room must be enrolled): one event each; their ids."""
    import json

    from collector.ingest import to_heartbeat
    from tests.sample import heartbeat
    from collector.store import Store

    store = Store(db)
    ids: list[int] = []
    try:
        for seq in seqs:
            status = "ok" if seq % 2 else "fail"
            doc = heartbeat(room_id, seq, status=status, failing="net.link" if status == "fail" else None)
            hb = to_heartbeat(doc, json.dumps(doc).encode(), at + seq)
            _, events = store.write_heartbeats([hb])  # type: ignore[list-item]
            ids += [e.id for e in events if e.id is not None]
    finally:
        store.close()
    return ids


WEBHOOK_SECRET = "outbox-secret-4f1c9a7e2b"


def webhook_args(tmp_path: Path, url: str) -> tuple[str, ...]:
    """``serve`` options for a webhook to ``url``, signed with WEBHOOK_SECRET (in a file under tmp_path).

    Room events wait the incident window before they are sent (they may become part of an
    incident): one second keeps the tests quick; tests of incidents pass their own after this.
    """
    secret = tmp_path / "webhook-secret"
    secret.write_text(WEBHOOK_SECRET + "\n")
    return ("--webhook", url, "--webhook-secret-file", str(secret), "--incident-window", "1")
