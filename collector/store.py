"""All of the collector's storage: SQLite in WAL mode, or PostgreSQL (collector.db).

This is the only module that speaks SQL. Every other module calls the methods
of ``Store`` with plain values and gets dataclasses or dicts back. The SQL is
written once, portable between SQLite and PostgreSQL (``?`` placeholders,
``ON CONFLICT``, ``RETURNING``, ``greatest``/``least``); collector.db connects and
translates what still differs. Connections are per thread: the ingest writer thread owns the only
connection that writes heartbeats (so commits can be batched), request threads
read through their own connections, which WAL lets run beside the writer.

Times are Unix seconds (REAL); the API layer formats them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from collector import db
from collector.errors import AccountError, MeetingError, RoomError, StoreError
from collector.history import METRICS, ROLLUP_STEPS, bucket_of

log = logging.getLogger(__name__)

SCHEMA_VERSION = 7

# History (version 7): each stored heartbeat's figures, and their 5-minute and 1-hour
# rollups (count, min, max and sum per metric; avg = sum / count), one wide row per
# room and bucket so a 30-day chart reads 8,640 rows, not 100,000.
_HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS figures (
    room_id TEXT NOT NULL,
    at      REAL NOT NULL,     -- the heartbeat's received_at
    agent_instance TEXT NOT NULL DEFAULT '',
    seq     INTEGER NOT NULL,
    """ + ",\n    ".join(f"{m} REAL" for m in METRICS) + """,
    PRIMARY KEY (room_id, at, agent_instance, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS figures_at ON figures (at);
CREATE TABLE IF NOT EXISTS rollups (
    room_id TEXT NOT NULL,
    step    INTEGER NOT NULL,  -- 300 or 3600 seconds
    bucket  REAL NOT NULL,     -- the bucket's start, a multiple of step
    """ + ",\n    ".join(f"{m}_n INTEGER NOT NULL DEFAULT 0, {m}_min REAL, {m}_max REAL, {m}_sum REAL"
                          for m in METRICS) + """,
    PRIMARY KEY (room_id, step, bucket)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollups_bucket ON rollups (bucket);
"""

# One heartbeat's figures folded into its buckets; NULL (not measured) leaves a metric as it was.
_ROLLUP_UPSERT = (
    "INSERT INTO rollups (room_id, step, bucket, "
    + ", ".join(f"{m}_n, {m}_min, {m}_max, {m}_sum" for m in METRICS) + ") VALUES (?, ?, ?, "
    + ", ".join("?, ?, ?, ?" for _ in METRICS) + ") ON CONFLICT (room_id, step, bucket) DO UPDATE SET "
    + ", ".join(
        f"{m}_n = rollups.{m}_n + excluded.{m}_n, "
        f"{m}_min = CASE WHEN excluded.{m}_min IS NULL THEN rollups.{m}_min WHEN rollups.{m}_min IS NULL"
        f" OR excluded.{m}_min < rollups.{m}_min THEN excluded.{m}_min ELSE rollups.{m}_min END, "
        f"{m}_max = CASE WHEN excluded.{m}_max IS NULL THEN rollups.{m}_max WHEN rollups.{m}_max IS NULL"
        f" OR excluded.{m}_max > rollups.{m}_max THEN excluded.{m}_max ELSE rollups.{m}_max END, "
        f"{m}_sum = CASE WHEN excluded.{m}_sum IS NULL THEN rollups.{m}_sum"
        f" ELSE coalesce(rollups.{m}_sum, 0) + excluded.{m}_sum END"
        for m in METRICS)
)

# Who may read and act (version 3): accounts, API tokens, dashboard sessions, the audit trail.
# Secrets are never stored in clear: passwords as scrypt hashes (collector.accounts),
# API tokens and session ids as SHA-256 (they are random, so a fast hash is enough).
_ACCOUNTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,              -- viewer, operator or admin
    units      TEXT NOT NULL DEFAULT '[]', -- JSON list of units it is limited to; [] = every unit
    password   TEXT NOT NULL,              -- scrypt$N$r$p$salt$hash
    created_at REAL NOT NULL,
    last_login REAL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    units        TEXT NOT NULL DEFAULT '[]',
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256  TEXT PRIMARY KEY,
    account    TEXT NOT NULL,     -- users.name ("user" is a reserved word in PostgreSQL)
    created_at REAL NOT NULL,
    last_seen  REAL NOT NULL,
    address    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account);
-- Who did what, when and from where: room, user and token changes, logins. Never purged.
CREATE TABLE IF NOT EXISTS audit (
    id     INTEGER PRIMARY KEY,
    at     REAL NOT NULL,
    actor  TEXT NOT NULL,   -- the OS user for the CLI, the account (or token:NAME) on the web
    source TEXT NOT NULL,   -- 'cli' or the client address
    action TEXT NOT NULL,   -- e.g. room.revoke, user.add, login.fail
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""

# Incidents (version 4): many rooms failing the same check together, found once per sweep
# (collector.incidents). Kept when the history is purged: they are few and they are the record.
# An incident's own notifications (opened, grown, resolved) are rows of ``events`` with
# room_id '' and to_state 'incident.*', so the webhook outbox delivers them in the one order.
_INCIDENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name     TEXT NOT NULL,            -- the check failing together, or 'offline'
    scope          TEXT NOT NULL,            -- 'city' or 'unit'
    unit           TEXT NOT NULL DEFAULT '', -- the unit of a unit incident
    started_at     REAL NOT NULL,            -- the earliest onset of its rooms
    opened_at      REAL NOT NULL,
    resolved_at    REAL,                     -- NULL while open
    peak_rooms     INTEGER NOT NULL,
    notified_rooms INTEGER NOT NULL          -- rooms at the last opened/grown notification
);
CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents (resolved_at);
-- One row per room that joined; recovered_at set when its problem ended. The event ids are
-- the room's own transitions the incident stands for: the webhook sends the incident instead.
CREATE TABLE IF NOT EXISTS incident_rooms (
    incident_id       INTEGER NOT NULL,
    room_id           TEXT NOT NULL,
    since             REAL NOT NULL,   -- when the room's problem began
    joined_at         REAL NOT NULL,
    recovered_at      REAL,
    onset_event_id    INTEGER,
    recovery_event_id INTEGER,
    PRIMARY KEY (incident_id, room_id)
);
CREATE INDEX IF NOT EXISTS incident_rooms_room ON incident_rooms (room_id);
CREATE INDEX IF NOT EXISTS incident_rooms_onset ON incident_rooms (onset_event_id);
CREATE INDEX IF NOT EXISTS incident_rooms_recovery ON incident_rooms (recovery_event_id);
-- Each room's current problems as the last sweep saw them: (room, failing check or 'offline')
-- and since when, so onsets can be compared across rooms.
CREATE TABLE IF NOT EXISTS room_problems (
    room_id    TEXT NOT NULL,
    check_name TEXT NOT NULL,
    since      REAL NOT NULL,
    event_id   INTEGER,                    -- the room's transition that began it, if any
    PRIMARY KEY (room_id, check_name)
);
-- Acknowledgements of an incident (target: its id) or of a room's problem (target: room_id).
-- A room's ends (ended_at) when the room is ok again; an incident's lasts with the incident.
CREATE TABLE IF NOT EXISTS acks (
    id       INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL,               -- 'incident' or 'room'
    target   TEXT NOT NULL,
    at       REAL NOT NULL,
    actor    TEXT NOT NULL,
    note     TEXT NOT NULL DEFAULT '',
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS acks_target ON acks (kind, target);
"""

# Meetings and their roll-call (version 5): who takes part, what each room was asked, and
# the state of every participating room kept at T-15 min and at the start.
_MEETINGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS meetings (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    start_at    REAL NOT NULL,
    end_at      REAL NOT NULL,
    created_at  REAL NOT NULL,
    created_by  TEXT NOT NULL,
    cancelled_at REAL
);
CREATE INDEX IF NOT EXISTS meetings_end ON meetings (end_at);
-- Who takes part, as given: resolved to rooms when the roll-call is evaluated, so a room
-- enrolled into a unit after `meeting add` takes part too.
CREATE TABLE IF NOT EXISTS meeting_participants (
    meeting_id INTEGER NOT NULL,
    kind       TEXT NOT NULL,   -- 'unit', 'room' or 'all'
    value      TEXT NOT NULL,   -- the unit or room id; '' for all
    PRIMARY KEY (meeting_id, kind, value)
);
-- What a room was asked through the heartbeat response, and when it answered.
CREATE TABLE IF NOT EXISTS meeting_requests (
    id           TEXT PRIMARY KEY,
    meeting_id   INTEGER NOT NULL,
    room_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,   -- 'full_check'
    issued_at    REAL NOT NULL,
    answered_at  REAL,
    answered_seq INTEGER,
    UNIQUE (meeting_id, room_id, kind)
);
CREATE INDEX IF NOT EXISTS meeting_requests_room ON meeting_requests (room_id, answered_at);
-- The roll-call kept at T-15 min ('t-15') and at the start ('start'): evidence per room.
CREATE TABLE IF NOT EXISTS meeting_snapshots (
    meeting_id INTEGER NOT NULL,
    moment     TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    taken_at   REAL NOT NULL,
    unit       TEXT NOT NULL,
    name       TEXT NOT NULL,
    state      TEXT NOT NULL,     -- ready, not_ready, no_answer
    failing    TEXT NOT NULL,     -- JSON list of {name, status, summary}
    PRIMARY KEY (meeting_id, moment, room_id)
);
"""

# Bandwidth test slots (version 6): at most --probe-slots leases per responder at once.
# In the store, not in memory, so several collectors behind one name share the count.
_PROBE_SCHEMA = """
CREATE TABLE IF NOT EXISTS probe_leases (
    lease_id   TEXT PRIMARY KEY,  -- random, handed to the room to release it early
    responder  TEXT NOT NULL,     -- host:port the room measures against, as the agent names it
    room_id    TEXT NOT NULL,
    granted_at REAL NOT NULL,
    expires_at REAL NOT NULL      -- granted_at + duration_s x 2 + margin
);
CREATE INDEX IF NOT EXISTS probe_leases_responder ON probe_leases (responder, expires_at);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    room_id      TEXT PRIMARY KEY,
    admin_name   TEXT,            -- given at `room add`: takes precedence over the agent's
    admin_unit   TEXT,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL,
    revoked_at   REAL,
    -- the latest heartbeat of the current stream and what the room says about itself
    name TEXT, unit TEXT, location TEXT, contact TEXT,
    last_seq INTEGER, sent_at TEXT, last_seen REAL, first_seen REAL,
    interval_s REAL, status TEXT, failing TEXT,
    state TEXT,                   -- the last state written to events, incl. offline
    agent_instance TEXT,          -- the current stream (NULL: the next heartbeat of any stream becomes it)
    stream_started_at REAL        -- when the current stream was first heard
);
-- The latest heartbeat in full, apart from rooms: listing 10,000 rooms then reads
-- small rows only, not 10,000 bodies of 3 KB.
CREATE TABLE IF NOT EXISTS latest (
    room_id TEXT PRIMARY KEY,
    body    TEXT NOT NULL
);
-- One row per (room, agent instance): an agent whose state directory was wiped starts
-- a new stream whose seq starts at 1 again.
CREATE TABLE IF NOT EXISTS streams (
    room_id        TEXT NOT NULL,
    agent_instance TEXT NOT NULL,  -- '' for agents that send none (before 0.2)
    started_at     REAL NOT NULL,
    first_seq      INTEGER NOT NULL,
    last_seq       INTEGER NOT NULL,
    last_seen      REAL NOT NULL,
    PRIMARY KEY (room_id, agent_instance)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heartbeats (
    room_id        TEXT NOT NULL,
    agent_instance TEXT NOT NULL DEFAULT '',
    seq            INTEGER NOT NULL,
    sent_at        TEXT NOT NULL,
    received_at    REAL NOT NULL,
    status         TEXT NOT NULL,
    failing        TEXT NOT NULL,    -- space-separated names of checks with status fail
    PRIMARY KEY (room_id, agent_instance, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS heartbeats_received ON heartbeats (received_at);
-- the report reads only heartbeats with failed checks: a small index, not a scan of 30 days
CREATE INDEX IF NOT EXISTS heartbeats_failed ON heartbeats (received_at, room_id, failing) WHERE failing != '';
-- AUTOINCREMENT: an id is never handed out again after the newest events were purged,
-- so a reader's cursor (the webhook's) can never skip a new event that got an old id.
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    TEXT NOT NULL,
    at         REAL NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_room ON events (room_id, at);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
-- The collector's own downtime: nobody could be heard then, so it is not the rooms' fault.
CREATE TABLE IF NOT EXISTS gaps (
    id     INTEGER PRIMARY KEY,
    start  REAL NOT NULL,   -- the collector's last write before it stopped (or stalled)
    "end"  REAL NOT NULL,   -- quoted: END is a reserved word in PostgreSQL   -- when it was back
    reason TEXT NOT NULL    -- 'restart' or 'stall'
);
CREATE INDEX IF NOT EXISTS gaps_end ON gaps ("end");
-- Small facts about the collector itself, e.g. alive_at: its last sweep.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- How far each reader of the events table got: the webhook outbox keeps the id of the
-- last event it handled (delivered or refused for good), so a restart resumes there.
CREATE TABLE IF NOT EXISTS event_cursors (
    name     TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL
);
""" + _ACCOUNTS_SCHEMA + _INCIDENTS_SCHEMA + _MEETINGS_SCHEMA + _PROBE_SCHEMA + _HISTORY_SCHEMA

# Tables whose rows get their id from the database (an identity column on PostgreSQL).
_IDENTITY_TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \(\s*id\s+INTEGER PRIMARY KEY", _SCHEMA))

# Each step takes a database of version N-1 to N inside one transaction; the index is N-2.
_MIGRATIONS = (
    # 1 -> 2: heartbeat streams (agent_instance), events ids never reused, the collector's
    # gaps, meta, the webhook's cursor.
    """
    ALTER TABLE rooms ADD COLUMN agent_instance TEXT;
    ALTER TABLE rooms ADD COLUMN stream_started_at REAL;
    ALTER TABLE heartbeats RENAME TO heartbeats_v1;
    DROP INDEX IF EXISTS heartbeats_received;
    DROP INDEX IF EXISTS heartbeats_failed;
    ALTER TABLE events RENAME TO events_v1;
    DROP INDEX IF EXISTS events_room;
    DROP INDEX IF EXISTS events_at;
    """ + _SCHEMA + """
    INSERT INTO heartbeats (room_id, agent_instance, seq, sent_at, received_at, status, failing)
        SELECT room_id, '', seq, sent_at, received_at, status, failing FROM heartbeats_v1;
    DROP TABLE heartbeats_v1;
    INSERT INTO events (id, room_id, at, from_state, to_state, detail)
        SELECT id, room_id, at, from_state, to_state, detail FROM events_v1;
    DROP TABLE events_v1;
    INSERT INTO streams (room_id, agent_instance, started_at, first_seq, last_seq, last_seen)
        SELECT room_id, '', coalesce(first_seen, last_seen), 1, last_seq, last_seen
        FROM rooms WHERE last_seq IS NOT NULL AND last_seen IS NOT NULL;
    UPDATE rooms SET agent_instance = '', stream_started_at = first_seen WHERE last_seq IS NOT NULL;
    """,
    # 2 -> 3: accounts, API tokens, sessions, audit.
    _ACCOUNTS_SCHEMA,
    # 3 -> 4: incidents, their rooms, the rooms' current problems, acknowledgements.
    _INCIDENTS_SCHEMA,
    # 4 -> 5: meetings, their participants, roll-call requests and snapshots.
    _MEETINGS_SCHEMA,
    # 5 -> 6: bandwidth test slots.
    _PROBE_SCHEMA,
    # 6 -> 7: per-heartbeat figures and their rollups.
    _HISTORY_SCHEMA,
)

_ROOM_COLUMNS = """room_id, coalesce(admin_name, name, '') AS name, coalesce(admin_unit, unit, '') AS unit,
    coalesce(location, '') AS location, coalesce(contact, '') AS contact, last_seq, sent_at,
    last_seen, first_seen, interval_s, status, failing, revoked_at, created_at, agent_instance,
    stream_started_at"""
# What the overview, the report and /metrics read of every room (Store.room_briefs), in this
# order: enough to judge and show it. Half the columns of _ROOM_COLUMNS, and plain tuples: at
# 10,000 rooms reading them was most of the overview's time.
_BRIEF_ROOM_COLUMNS = """room_id, coalesce(admin_name, name, '') AS name, coalesce(admin_unit, unit, '') AS unit,
    coalesce(contact, '') AS contact, last_seen, interval_s, status, failing"""


@dataclass(frozen=True)
class SlotAnswer:
    """``grant_probe_slot``: granted with a lease of ``lease_s``, or refused for ``wait_s``."""

    granted: bool
    lease_id: str | None
    lease_s: float
    wait_s: float


STORED = "stored"
DUPLICATE = "duplicate"  # the same heartbeat again: nothing written
SEQ_REUSED = "seq_reused"  # a different heartbeat with a seq already stored: nothing written


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class Heartbeat:
    """One validated heartbeat, reduced to what storage needs."""

    room_id: str
    seq: int
    sent_at: str
    received_at: float
    interval_s: float
    status: str
    name: str | None
    unit: str | None
    location: str | None
    contact: str | None
    failing: str  # JSON list of {name, status, summary} for fail and warn checks
    failing_names: str  # space-separated names of failed checks, for the report
    body: str  # the heartbeat as received
    agent_instance: str = ""  # the agent's stream; '' for agents that send none
    figures: dict[str, float | None] | None = None  # collector.history.figures_of; None: keep none


@dataclass(frozen=True)
class Event:
    room_id: str
    at: float
    from_state: str | None
    to_state: str
    detail: str = ""
    id: int | None = None


class Store:
    """The collector's database. Safe to share between threads (one connection each)."""

    def __init__(self, path: Path | str, *, migrate: bool | None = None) -> None:
        """Open (and create) the database: a SQLite file, or a PostgreSQL URL / service.

        ``migrate``: bring an older schema up to date. By default a SQLite file is upgraded
        (one machine, one collector), a PostgreSQL database is not: other collectors may
        run an older version on it, so ``bridge-collector db migrate`` does it, on purpose.
        """
        self.postgres = db.is_postgres(path)
        self.location = str(path)
        self.path = Path(path) if not self.postgres else Path()  # the SQLite file (its -wal beside it)
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        try:
            if not self.postgres:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            if not self.postgres:
                conn.execute("PRAGMA journal_mode=WAL")
            self._migrate(conn, not self.postgres if migrate is None else migrate)
        except (OSError, *db.errors()) as err:
            raise StoreError(f"{db.redact(self.location)}: cannot open the database: {err}") from None

    def _migrate(self, conn: Any, upgrade: bool = True) -> None:
        """Create a new database, or bring an older one up to SCHEMA_VERSION, in one transaction."""
        name = db.redact(self.location)
        version = db.schema_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(f"{name}: the database has schema version {version}, newer than this"
                             f" bridge-collector understands ({SCHEMA_VERSION}): upgrade bridge-collector")
        if version == SCHEMA_VERSION:
            return
        fresh = not db.has_table(conn, "rooms")
        if not fresh and not upgrade:
            raise StoreError(f"{name}: the database has schema version {version}, older than this"
                             f" bridge-collector's ({SCHEMA_VERSION}): run `bridge-collector --db ... db migrate`"
                             " once every collector on it is upgraded")
        steps = [_SCHEMA] if fresh else list(_MIGRATIONS[max(version, 1) - 1:])
        # executescript commits whatever is open first; the explicit BEGIN makes the
        # whole upgrade one transaction, so a crash leaves the old version intact.
        conn.executescript(db.begin_script(conn) + ";\n".join(steps)
                           + f";\n{db.set_version_sql(conn, SCHEMA_VERSION)};\nCOMMIT;")
        if not fresh:
            log.info("%s: database schema upgraded from version %d to %d", name, version, SCHEMA_VERSION)

    def schema_version(self) -> int:
        return db.schema_version(self._conn())

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None and self.postgres:
            try:
                conn = db.connect_postgres(self.location)
            except db.errors() as err:
                raise StoreError(f"{db.redact(self.location)}: cannot open the database: {err}") from None
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        if conn is None:
            try:
                conn = db.connect_sqlite(self.path)
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: cannot open the database: {err}") from None
            # FULL: a commit is on disk (the WAL fsynced) before the agent is answered 200 and
            # deletes its copy. NORMAL would survive a crash of this process but not a power
            # loss; bench/bench_collector.py measures what FULL costs.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute(f"PRAGMA journal_size_limit={64 * 2**20}")  # shrink the WAL file after a burst
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def become_writer(self) -> None:
        """This thread's connection stops checkpointing on commit; ``checkpoint`` does it elsewhere.

        An automatic checkpoint runs inside the commit that crosses the threshold, so the
        heartbeats waiting on that commit would wait for the copy and the fsync as well.
        """
        if not self.postgres:
            self._conn().execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self, *, restart: bool = False) -> None:
        """Copy the WAL into the database; RESTART waits for the writer so the WAL can start over."""
        if self.postgres:
            return  # PostgreSQL checkpoints on its own
        self._conn().execute(f"PRAGMA wal_checkpoint({'RESTART' if restart else 'PASSIVE'})").fetchall()

    def wal_bytes(self) -> int:
        if self.postgres:
            return 0
        try:
            return Path(f"{self.path}-wal").stat().st_size
        except OSError:
            return 0

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def _transaction(self) -> "_Tx":
        return _Tx(self._conn())

    # ---- rooms (the `room` subcommands) ----

    def add_room(self, room_id: str, name: str | None = None, unit: str | None = None) -> str:
        """Enrol a room (or re-enrol a revoked one); returns the new token, stored only hashed."""
        token = secrets.token_urlsafe(32)
        with self._transaction() as conn:
            row = conn.execute("SELECT revoked_at FROM rooms WHERE room_id = ?", (room_id,)).fetchone()
            if row is not None and row["revoked_at"] is None:
                raise RoomError(f"room {room_id!r} already exists; `room revoke {room_id}` first to issue a new token")
            if row is None:
                conn.execute(
                    "INSERT INTO rooms (room_id, admin_name, admin_unit, token_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                    (room_id, name, unit, hash_token(token), time.time()),
                )
            else:
                # Re-enrolled: whichever stream speaks first with the new token is the room now,
                # even one whose seq is below the old stream's last (a reinstalled PC).
                conn.execute(
                    "UPDATE rooms SET token_sha256 = ?, revoked_at = NULL, admin_name = coalesce(?, admin_name),"
                    " admin_unit = coalesce(?, admin_unit), agent_instance = NULL, last_seq = NULL"
                    " WHERE room_id = ?",
                    (hash_token(token), name, unit, room_id),
                )
        return token

    def revoke_room(self, room_id: str) -> None:
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE rooms SET revoked_at = ? WHERE room_id = ? AND revoked_at IS NULL", (time.time(), room_id)
            )
            if cur.rowcount == 0:
                known = conn.execute("SELECT 1 FROM rooms WHERE room_id = ?", (room_id,)).fetchone()
                raise RoomError(f"room {room_id!r} is {'already revoked' if known else 'not enrolled'}")

    def room_for_token(self, token_sha256: str) -> str | None:
        row = self._conn().execute(
            "SELECT room_id FROM rooms WHERE token_sha256 = ? AND revoked_at IS NULL", (token_sha256,)
        ).fetchone()
        return row[0] if row else None

    def rooms(self, *, include_revoked: bool = False) -> list[dict[str, Any]]:
        """Every room's latest state, without heartbeat bodies (cheap for 10,000 rooms)."""
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        cur = self._conn().cursor()
        cur.row_factory = None  # plain tuples: twice as fast as sqlite3.Row for 10,000 rooms
        cur.execute(f"SELECT {_ROOM_COLUMNS} FROM rooms {where} ORDER BY room_id")
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, row)) for row in cur.fetchall()]

    def room_briefs(self) -> list[tuple[Any, ...]]:
        """Every enrolled room as (room_id, name, unit, contact, last_seen, interval_s, status,
        failing): what views.brief_views needs to judge and show it, and no more."""
        cur = self._conn().cursor()
        cur.row_factory = None
        return cur.execute(f"SELECT {_BRIEF_ROOM_COLUMNS} FROM rooms WHERE revoked_at IS NULL").fetchall()

    def enrolled(self, room_id: str) -> bool:
        """Whether the room was ever enrolled (revoked ones too: their history stays readable)."""
        return self._conn().execute("SELECT 1 FROM rooms WHERE room_id = ?", (room_id,)).fetchone() is not None

    def room(self, room_id: str) -> dict[str, Any] | None:
        row = self._conn().execute(
            f"SELECT {_ROOM_COLUMNS}, (SELECT body FROM latest WHERE latest.room_id = rooms.room_id) AS body"
            " FROM rooms WHERE room_id = ? AND revoked_at IS NULL", (room_id,)
        ).fetchone()
        return dict(row) if row else None

    # ---- ingest (called from the single writer thread) ----

    def write_heartbeats(self, batch: Iterable[Heartbeat]) -> tuple[list[str], list[Event]]:
        """Store a batch in one transaction; per heartbeat STORED, DUPLICATE or SEQ_REUSED.

        The key is ``(room_id, agent_instance, seq)``: a reinstalled agent's new stream
        starts at seq 1 again and is stored, never mistaken for a replay of the old one.
        """
        outcomes: list[str] = []
        events: list[Event] = []
        with self._transaction() as conn:
            for hb in batch:
                cur = conn.execute(
                    "INSERT INTO heartbeats (room_id, agent_instance, seq, sent_at, received_at, status,"
                    " failing) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (hb.room_id, hb.agent_instance, hb.seq, hb.sent_at, hb.received_at, hb.status,
                     hb.failing_names),
                )
                if cur.rowcount == 0:
                    # A replay carries the same sent_at; another one means the agent reused a seq.
                    before = conn.execute(
                        "SELECT sent_at FROM heartbeats WHERE room_id = ? AND agent_instance = ? AND seq = ?",
                        (hb.room_id, hb.agent_instance, hb.seq)).fetchone()
                    outcomes.append(DUPLICATE if before is None or before[0] == hb.sent_at else SEQ_REUSED)
                    continue
                outcomes.append(STORED)
                self._record_figures(conn, hb)
                new_stream = self._record_stream(conn, hb)
                event = self._update_latest(conn, hb, new_stream)
                if event:
                    events.append(event)
        return outcomes, events

    def _record_stream(self, conn: sqlite3.Connection, hb: Heartbeat) -> bool:
        """Keep the stream's figures; True when this heartbeat is the first ever heard of it."""
        cur = conn.execute(
            "UPDATE streams SET first_seq = least(first_seq, ?), last_seq = greatest(last_seq, ?),"
            " last_seen = greatest(last_seen, ?) WHERE room_id = ? AND agent_instance = ?",
            (hb.seq, hb.seq, hb.received_at, hb.room_id, hb.agent_instance),
        )
        if cur.rowcount:
            return False
        conn.execute(
            "INSERT INTO streams (room_id, agent_instance, started_at, first_seq, last_seq, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (hb.room_id, hb.agent_instance, hb.received_at, hb.seq, hb.seq, hb.received_at),
        )
        return True

    def _update_latest(self, conn: sqlite3.Connection, hb: Heartbeat, new_stream: bool) -> Event | None:
        row = conn.execute("SELECT last_seq, state, agent_instance FROM rooms WHERE room_id = ?",
                           (hb.room_id,)).fetchone()
        if row is None:
            return None
        current = row["agent_instance"]
        if current is not None and hb.agent_instance != current and not new_stream:
            # An older stream replaying late (its PC was reinstalled since): history only.
            return None
        if hb.agent_instance == current and row["last_seq"] is not None and hb.seq <= row["last_seq"]:
            # An older heartbeat delivered late (spool replay): history only, but the room is alive.
            conn.execute("UPDATE rooms SET last_seen = greatest(coalesce(last_seen, 0), ?) WHERE room_id = ?",
                         (hb.received_at, hb.room_id))
            return None
        if hb.agent_instance != current:
            # A new stream (reinstall, new disk, re-enrolment) is the room from now on.
            started = conn.execute("SELECT started_at FROM streams WHERE room_id = ? AND agent_instance = ?",
                                   (hb.room_id, hb.agent_instance)).fetchone()[0]
            if current is not None:
                log.info("room %s: new agent stream %s (was %s): the agent's state was reset",
                         hb.room_id, hb.agent_instance or "-", current or "-")
            conn.execute("UPDATE rooms SET agent_instance = ?, stream_started_at = ? WHERE room_id = ?",
                         (hb.agent_instance, started, hb.room_id))
        conn.execute(
            "UPDATE rooms SET name = ?, unit = ?, location = ?, contact = ?, last_seq = ?, sent_at = ?,"
            " last_seen = ?, first_seen = coalesce(first_seen, ?), interval_s = ?, status = ?, failing = ?,"
            " state = ? WHERE room_id = ?",
            (hb.name, hb.unit, hb.location, hb.contact, hb.seq, hb.sent_at, hb.received_at, hb.received_at,
             hb.interval_s, hb.status, hb.failing, hb.status, hb.room_id),
        )
        conn.execute(
            "INSERT INTO latest (room_id, body) VALUES (?, ?) ON CONFLICT (room_id) DO UPDATE SET body = excluded.body",
            (hb.room_id, hb.body),
        )
        if row["state"] == hb.status:
            return None
        return self._add_event(conn, Event(hb.room_id, hb.received_at, row["state"], hb.status, hb.failing_names))

    def _add_event(self, conn: sqlite3.Connection, event: Event) -> Event:
        new_id = conn.execute(
            "INSERT INTO events (room_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (event.room_id, event.at, event.from_state, event.to_state, event.detail),
        ).fetchone()[0]
        return Event(event.room_id, event.at, event.from_state, event.to_state, event.detail, new_id)

    def mark_offline(self, now: float, factor: float, heard_since: float = 0.0) -> list[Event]:
        """Write an ``offline`` event for every room that fell silent since the last sweep.

        ``heard_since`` is when this collector could first hear rooms (its start, or the end
        of a stall): a room is silent only counting from then, so the collector's own
        downtime marks nobody offline. Also records that the collector is alive now.
        """
        events = []
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT room_id, greatest(last_seen, ?) AS heard, interval_s, state FROM rooms WHERE revoked_at IS NULL"
                " AND last_seen IS NOT NULL AND state IS DISTINCT FROM 'offline'"
                " AND ? - greatest(last_seen, ?) > ? * interval_s",
                (heard_since, now, heard_since, factor),
            ).fetchall()
            for r in rows:
                at = r["heard"] + factor * r["interval_s"]
                conn.execute("UPDATE rooms SET state = 'offline' WHERE room_id = ?", (r["room_id"],))
                events.append(self._add_event(conn, Event(r["room_id"], at, r["state"], "offline")))
            self._set_meta(conn, "alive_at", repr(now))
        return events

    # ---- the collector's own downtime ----

    def _set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (key, value))

    def last_alive(self) -> float | None:
        """The collector's last sign of life in this database: its last sweep, heartbeat or event."""
        row = self._conn().execute(
            "SELECT greatest(coalesce((SELECT CAST(value AS REAL) FROM meta WHERE key = 'alive_at'), 0),"
            " coalesce((SELECT max(received_at) FROM heartbeats), 0), coalesce((SELECT max(at) FROM events), 0))"
        ).fetchone()
        return row[0] or None

    def record_gap(self, start: float, end: float, reason: str) -> None:
        """The collector heard nobody from ``start`` to ``end`` (stopped, crashed, or stalled)."""
        with self._transaction() as conn:
            conn.execute('INSERT INTO gaps (start, "end", reason) VALUES (?, ?, ?)', (start, end, reason))
            self._set_meta(conn, "alive_at", repr(end))

    def gaps(self, since: float = 0.0, limit: int = 1000) -> list[dict[str, Any]]:
        """The collector's gaps that ended after ``since``, newest first."""
        rows = self._conn().execute(
            'SELECT start, "end", reason FROM gaps WHERE "end" >= ? ORDER BY "end" DESC LIMIT ?', (since, limit)
        ).fetchall()
        return [dict(r) for r in rows]

    def purge(self, before: float, chunk: int = 2000, *, keep_from_cursor: str | None = None,
              events_before: float | None = None, rollups_before: Mapping[int, float] | None = None) -> int:
        """Delete up to ``chunk`` rows of each kind of history older than its limit; how many went.

        ``before`` is for heartbeats, their figures and the gaps; events older than
        ``events_before`` (``before`` when None) and rollups of each step older than
        ``rollups_before[step]`` (kept when None or the step is not named) go too. Called repeatedly by the sweeper, so ingest runs between
        the small transactions. With ``keep_from_cursor`` the events that cursor has not
        passed yet are kept, and so is the cursor's own event (see ``open_cursor``); no
        cursor row yet: no event goes.
        """
        events_before = before if events_before is None else events_before
        with self._transaction() as conn:
            n = conn.execute(
                "DELETE FROM heartbeats WHERE (room_id, agent_instance, seq) IN"
                " (SELECT room_id, agent_instance, seq FROM heartbeats WHERE received_at < ? LIMIT ?)",
                (before, chunk),
            ).rowcount
            if keep_from_cursor is None:
                n += conn.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? LIMIT ?)",
                    (events_before, chunk)
                ).rowcount
            else:
                n += conn.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? AND id <"
                    " coalesce((SELECT event_id FROM event_cursors WHERE name = ?), 0) LIMIT ?)",
                    (events_before, keep_from_cursor, chunk),
                ).rowcount
            n += conn.execute('DELETE FROM gaps WHERE "end" < ?', (before,)).rowcount
            n += self._purge_history(conn, before, rollups_before, chunk)
        return n

    # ---- history and reports ----

    def heartbeats(self, room_id: str, since_seq: int, limit: int,
                   instance: str | None = None) -> list[dict[str, Any]]:
        """One stream's heartbeats with seq above ``since_seq``; the room's current stream by default."""
        rows = self._conn().execute(
            "SELECT seq, sent_at, received_at, status FROM heartbeats"
            " WHERE room_id = ? AND agent_instance = ? AND seq > ? ORDER BY seq LIMIT ?",
            (room_id, self.current_stream(room_id) if instance is None else instance, since_seq, limit),
        ).fetchall()
        return [dict(r) for r in rows]

    def current_stream(self, room_id: str) -> str:
        """The room's current stream, or (just re-enrolled) the one heard last; '' when none."""
        row = self._conn().execute("SELECT agent_instance FROM rooms WHERE room_id = ?", (room_id,)).fetchone()
        return row[0] if row and row[0] is not None else self._newest_stream(room_id)

    def _newest_stream(self, room_id: str) -> str:
        row = self._conn().execute(
            "SELECT agent_instance FROM streams WHERE room_id = ? ORDER BY last_seen DESC LIMIT 1", (room_id,)
        ).fetchone()
        return row[0] if row else ""

    def streams(self, room_id: str) -> list[dict[str, Any]]:
        """The room's streams, the most recently heard first."""
        rows = self._conn().execute(
            "SELECT agent_instance, started_at, first_seq, last_seq, last_seen FROM streams WHERE room_id = ?"
            " ORDER BY last_seen DESC", (room_id,)
        ).fetchall()
        return [dict(r) for r in rows]

    def events(self, room_id: str | None = None, since: float = 0.0, limit: int = 100) -> list[Event]:
        """Newest first."""
        if room_id is None:
            rows = self._conn().execute(
                "SELECT * FROM events WHERE at >= ? AND room_id != '' ORDER BY at DESC, id DESC LIMIT ?",
                (since, limit)
            ).fetchall()
        else:
            rows = self._conn().execute(
                "SELECT * FROM events WHERE room_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?",
                (room_id, since, limit),
            ).fetchall()
        return [Event(r["room_id"], r["at"], r["from_state"], r["to_state"], r["detail"], r["id"]) for r in rows]

    def states_at(self, when: float) -> dict[str, str]:
        """Each room's state as of ``when``: the target of its last event before then."""
        rows = self._conn().execute(
            "SELECT room_id, to_state FROM (SELECT room_id, to_state, row_number() OVER"
            " (PARTITION BY room_id ORDER BY at DESC, id DESC) AS n FROM events WHERE at < ?) AS last WHERE n = 1",
            (when,),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def troubled_since(self, since: float) -> list[tuple[str, str, float]]:
        """(room_id, to_state, at) of every transition to fail or offline since ``since``."""
        rows = self._conn().execute(
            "SELECT room_id, to_state, at FROM events WHERE at >= ? AND to_state IN ('fail', 'offline')", (since,)
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def failed_checks_since(self, since: float) -> Iterator[tuple[str, str]]:
        """(room_id, check name) for every failed check in a heartbeat received since ``since``."""
        rows = self._conn().execute(
            "SELECT room_id, failing FROM heartbeats WHERE received_at >= ? AND failing != ''", (since,)
        )
        for room_id, failing in rows:
            for name in failing.split():
                yield room_id, name

    # ---- history: per-heartbeat figures, 5-minute and 1-hour rollups, series ----

    def _record_figures(self, conn: sqlite3.Connection, hb: Heartbeat) -> None:
        """Keep a newly stored heartbeat's figures and fold them into its rollup buckets."""
        if hb.figures is None:
            return
        values = [hb.figures.get(m) for m in METRICS]
        conn.execute(
            f"INSERT INTO figures (room_id, at, agent_instance, seq, {', '.join(METRICS)}) VALUES (?, ?, ?, ?, "
            + ", ".join("?" for _ in METRICS) + ") ON CONFLICT (room_id, at, agent_instance, seq) DO NOTHING",
            (hb.room_id, hb.received_at, hb.agent_instance, hb.seq, *values),
        )
        per_metric: list[float | int | None] = []
        for v in values:
            per_metric += [0, None, None, None] if v is None else [1, v, v, v]
        for step in ROLLUP_STEPS:
            conn.execute(_ROLLUP_UPSERT, (hb.room_id, step, bucket_of(hb.received_at, step), *per_metric))

    def _purge_history(self, conn: sqlite3.Connection, before: float, rollups_before: Mapping[int, float] | None,
                       chunk: int) -> int:
        n = conn.execute(
            "DELETE FROM figures WHERE (room_id, at, agent_instance, seq) IN"
            " (SELECT room_id, at, agent_instance, seq FROM figures WHERE at < ? LIMIT ?)", (before, chunk)
        ).rowcount
        for step, cutoff in (rollups_before or {}).items():
            n += conn.execute(
                "DELETE FROM rollups WHERE (room_id, step, bucket) IN"
                " (SELECT room_id, step, bucket FROM rollups WHERE bucket < ? AND step = ? LIMIT ?)",
                (cutoff, step, chunk)
            ).rowcount
        return n

    def series_rows(self, room_id: str, metric: str, source: int, start: float,
                    end: float) -> list[tuple[float, int, float, float, float]]:
        """(at, count, min, max, sum) of ``metric`` from ``start`` to ``end``, oldest first.

        ``source`` 0 reads the raw figures, 300 or 3600 that rollup. ``metric`` must be one
        of METRICS (it names a column).
        """
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        cur = self._conn().cursor()
        cur.row_factory = None
        if source == 0:
            cur.execute(f"SELECT at, 1, {metric}, {metric}, {metric} FROM figures WHERE room_id = ?"
                        f" AND at >= ? AND at < ? AND {metric} IS NOT NULL ORDER BY at", (room_id, start, end))
        else:
            cur.execute(f"SELECT bucket, {metric}_n, {metric}_min, {metric}_max, {metric}_sum FROM rollups"
                        f" WHERE room_id = ? AND step = ? AND bucket >= ? AND bucket < ? AND {metric}_n > 0"
                        " ORDER BY bucket", (room_id, source, bucket_of(start, source), end))
        return cur.fetchall()

    def rollup(self, room_id: str, step: int, bucket: float) -> dict[str, Any] | None:
        """One rollup row as stored (for checks and tests)."""
        row = self._conn().execute("SELECT * FROM rollups WHERE room_id = ? AND step = ? AND bucket = ?",
                                   (room_id, step, bucket)).fetchone()
        return dict(row) if row else None

    # ---- event cursors (the webhook outbox) ----

    def open_cursor(self, name: str) -> int:
        """The cursor's event id; a new cursor starts at the newest event (history is not replayed).

        A cursor above the newest event (its events were purged while nobody read them) comes
        down to the newest: SQLite gives a new row the highest id left plus one, so ids above
        that are handed out again and would be skipped. ``purge(keep_from_cursor=)`` keeps
        the cursor's own event for the same reason.
        """
        with self._transaction() as conn:
            newest = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            conn.execute(
                "INSERT INTO event_cursors (name, event_id) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET event_id = least(event_cursors.event_id, excluded.event_id)",
                (name, newest),
            )
            return conn.execute("SELECT event_id FROM event_cursors WHERE name = ?", (name,)).fetchone()[0]

    def advance_cursor(self, name: str, event_id: int) -> None:
        """Move the cursor forward to ``event_id``; never back (another process may be ahead)."""
        with self._transaction() as conn:
            conn.execute("UPDATE event_cursors SET event_id = greatest(event_id, ?) WHERE name = ?", (event_id, name))

    def cursor(self, name: str) -> int | None:
        row = self._conn().execute("SELECT event_id FROM event_cursors WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def events_after(self, event_id: int, limit: int) -> list[Event]:
        """Events with an id above ``event_id``, oldest (lowest id) first."""
        rows = self._conn().execute(
            "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit)
        ).fetchall()
        return [Event(r["room_id"], r["at"], r["from_state"], r["to_state"], r["detail"], r["id"]) for r in rows]

    def count_events_after(self, event_id: int) -> int:
        """How many events have an id above ``event_id`` (a range of the primary key: cheap)."""
        return self._conn().execute("SELECT count(*) FROM events WHERE id > ?", (event_id,)).fetchone()[0]

    # ---- accounts, API tokens, sessions (collector.accounts hashes; this only stores) ----

    def add_user(self, name: str, role: str, units: Iterable[str], password_hash: str) -> None:
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"user {name!r} already exists; `user passwd {name}` changes the password")
            conn.execute("INSERT INTO users (name, role, units, password, created_at) VALUES (?, ?, ?, ?, ?)",
                         (name, role, json.dumps(sorted(set(units)), ensure_ascii=False), password_hash,
                          time.time()))

    def set_password(self, name: str, password_hash: str) -> None:
        """A new password; the user's sessions end (whoever knew the old one is logged out)."""
        with self._transaction() as conn:
            if conn.execute("UPDATE users SET password = ? WHERE name = ?", (password_hash, name)).rowcount == 0:
                raise AccountError(f"no user {name!r}")
            conn.execute("DELETE FROM sessions WHERE account = ?", (name,))

    def remove_user(self, name: str) -> None:
        with self._transaction() as conn:
            if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise AccountError(f"no user {name!r}")
            conn.execute("DELETE FROM sessions WHERE account = ?", (name,))

    def user(self, name: str) -> dict[str, Any] | None:
        """The account with its password hash (for login only), or None."""
        row = self._conn().execute("SELECT name, role, units, password FROM users WHERE name = ?",
                                   (name,)).fetchone()
        return _with_units(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        rows = self._conn().execute("SELECT name, role, units, created_at, last_login FROM users ORDER BY name")
        return [_with_units(r) for r in rows.fetchall()]

    def add_api_token(self, name: str, role: str, units: Iterable[str], token_sha256: str) -> None:
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"token {name!r} already exists; `token remove {name}` first")
            conn.execute("INSERT INTO api_tokens (name, role, units, token_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                         (name, role, json.dumps(sorted(set(units)), ensure_ascii=False), token_sha256,
                          time.time()))

    def remove_api_token(self, name: str) -> None:
        with self._transaction() as conn:
            if conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount == 0:
                raise AccountError(f"no token {name!r}")

    def api_tokens(self) -> list[dict[str, Any]]:
        rows = self._conn().execute("SELECT name, role, units, created_at FROM api_tokens ORDER BY name")
        return [_with_units(r) for r in rows.fetchall()]

    def api_token(self, token_sha256: str) -> dict[str, Any] | None:
        """The token's name, role and units, or None."""
        row = self._conn().execute("SELECT name, role, units FROM api_tokens WHERE token_sha256 = ?",
                                   (token_sha256,)).fetchone()
        return _with_units(row) if row else None

    def count_accounts(self) -> int:
        """Users plus API tokens: none means nobody can read anything yet."""
        return self._conn().execute(
            "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM api_tokens)").fetchone()[0]

    def create_session(self, id_sha256: str, user: str, now: float, address: str, expired_before: float) -> None:
        """A dashboard login; also forgets sessions idle since ``expired_before``."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE last_seen < ?", (expired_before,))
            conn.execute("INSERT INTO sessions (id_sha256, account, created_at, last_seen, address) VALUES (?, ?, ?, ?, ?)",
                         (id_sha256, user, now, now, address))
            conn.execute("UPDATE users SET last_login = ? WHERE name = ?", (now, user))

    def session_user(self, id_sha256: str, now: float, idle_s: float, max_age_s: float,
                     touch_after_s: float = 60.0) -> dict[str, Any] | None:
        """The account of a live session (name, role, units), or None; keeps the session alive.

        ``last_seen`` is written at most every ``touch_after_s``: a page refresh every 30 s
        must not become a write that waits behind the heartbeat writer each time.
        """
        row = self._conn().execute(
            "SELECT users.name, users.role, users.units, sessions.last_seen FROM sessions JOIN users"
            " ON users.name = sessions.account WHERE id_sha256 = ? AND sessions.last_seen >= ? AND sessions.created_at >= ?",
            (id_sha256, now - idle_s, now - max_age_s)).fetchone()
        if row is None:
            return None
        if now - row["last_seen"] > touch_after_s:
            with self._transaction() as conn:
                conn.execute("UPDATE sessions SET last_seen = ? WHERE id_sha256 = ?", (now, id_sha256))
        return _with_units(row)

    def delete_session(self, id_sha256: str) -> str | None:
        """Log out; returns whose session it was (None: unknown or already gone)."""
        with self._transaction() as conn:
            row = conn.execute("DELETE FROM sessions WHERE id_sha256 = ? RETURNING account", (id_sha256,)).fetchone()
        return row[0] if row else None

    # ---- the audit trail ----

    def audit(self, actor: str, source: str, action: str, target: str, detail: str = "",
              at: float | None = None) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT INTO audit (at, actor, source, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                         (time.time() if at is None else at, actor, source, action, target, detail))

    def audit_entries(self, since: float = 0.0, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest first."""
        rows = self._conn().execute(
            "SELECT id, at, actor, source, action, target, detail FROM audit WHERE at >= ?"
            " ORDER BY at DESC, id DESC LIMIT ?", (since, limit)).fetchall()
        return [dict(r) for r in rows]

    # ---- reads limited to units (an account of a district sees its own rooms only) ----

    def room_unit(self, room_id: str) -> str | None:
        """The unit the room is shown under (revoked rooms too); None when never enrolled."""
        row = self._conn().execute("SELECT coalesce(admin_unit, unit, '') FROM rooms WHERE room_id = ?",
                                   (room_id,)).fetchone()
        return row[0] if row else None

    def events_in_units(self, units: Iterable[str], room_id: str | None = None, since: float = 0.0,
                        limit: int = 100) -> list[Event]:
        """Like ``events``, for the rooms of ``units`` only; newest first."""
        wanted = sorted(set(units))
        if not wanted:
            return []
        one_room = "" if room_id is None else " AND events.room_id = ?"
        rows = self._conn().execute(
            "SELECT events.* FROM events JOIN rooms ON rooms.room_id = events.room_id"
            f" WHERE coalesce(rooms.admin_unit, rooms.unit, '') IN ({', '.join('?' * len(wanted))}){one_room}"
            " AND at >= ? ORDER BY at DESC, id DESC LIMIT ?",
            (*wanted, *([] if room_id is None else [room_id]), since, limit)).fetchall()
        return [Event(r["room_id"], r["at"], r["from_state"], r["to_state"], r["detail"], r["id"]) for r in rows]

    # ---- incidents and acknowledgements (collector.incidents judges; this only stores) ----

    def troubled_rooms(self) -> list[dict[str, Any]]:
        """Enrolled rooms whose last state is fail or offline: room_id, unit, state, failing (JSON)."""
        rows = self._conn().execute(
            "SELECT room_id, coalesce(admin_unit, unit, '') AS unit, state, failing FROM rooms"
            " WHERE revoked_at IS NULL AND state IN ('fail', 'offline')").fetchall()
        return [dict(r) for r in rows]

    def unit_sizes(self) -> dict[str, int]:
        """Enrolled rooms per unit."""
        rows = self._conn().execute(
            "SELECT coalesce(admin_unit, unit, '') AS u, count(*) FROM rooms WHERE revoked_at IS NULL GROUP BY u")
        return {r[0]: r[1] for r in rows.fetchall()}

    def sync_problems(self, keys: Iterable[tuple[str, str]], now: float, window_s: float,
                      ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], int | None]]:
        """Make room_problems the set ``keys`` of (room_id, check); its rows, and the problems that ended.

        A new problem begins at the room's last transition when that transition is recent
        and says so (to offline; to fail with the check among the failed), else now. An
        ended problem maps to the room's transition back to ok or warn, if that is the last.
        """
        wanted = set(keys)
        ended: dict[tuple[str, str], int | None] = {}
        known = {(r["room_id"], r["check_name"]): r for r in self._conn().execute(
            "SELECT room_id, check_name, since, event_id FROM room_problems").fetchall()}
        if wanted == set(known):  # the usual sweep: nothing began or ended, nothing to write
            return [dict(r) for r in known.values()], ended
        with self._transaction() as conn:
            for room_id, check in sorted(wanted - set(known)):
                last = self._last_event(conn, room_id)
                since, event_id = now, None
                if last is not None and last["at"] >= now - window_s and (
                        (check == "offline" and last["to_state"] == "offline")
                        or (last["to_state"] == "fail" and check in last["detail"].split())):
                    since, event_id = last["at"], last["id"]
                conn.execute("INSERT INTO room_problems (room_id, check_name, since, event_id) VALUES (?, ?, ?, ?)"
                             " ON CONFLICT (room_id, check_name) DO NOTHING", (room_id, check, since, event_id))
            for key in sorted(set(known) - wanted):
                last = self._last_event(conn, key[0])
                back = last is not None and last["to_state"] in ("ok", "warn") and last["at"] >= known[key]["since"]
                ended[key] = last["id"] if back else None
                conn.execute("DELETE FROM room_problems WHERE room_id = ? AND check_name = ?", key)
            rows = conn.execute("SELECT room_id, check_name, since, event_id FROM room_problems").fetchall()
        return [dict(r) for r in rows], ended

    def _last_event(self, conn: sqlite3.Connection, room_id: str) -> sqlite3.Row | None:
        return conn.execute("SELECT id, at, to_state, detail FROM events WHERE room_id = ? ORDER BY id DESC LIMIT 1",
                            (room_id,)).fetchone()

    def open_incidents_to_judge(self) -> list[dict[str, Any]]:
        """Open incidents with ``members``: the rooms in them that have not recovered."""
        conn = self._conn()
        found = [dict(r) for r in conn.execute(
            "SELECT id, check_name, scope, unit, started_at, notified_rooms FROM incidents"
            " WHERE resolved_at IS NULL ORDER BY id").fetchall()]
        for inc in found:
            inc["members"] = [r[0] for r in conn.execute(
                "SELECT room_id FROM incident_rooms WHERE incident_id = ? AND recovered_at IS NULL",
                (inc["id"],)).fetchall()]
        return found

    def apply_incidents(self, now: float, opened: Iterable[tuple[str, str, str, list[tuple[str, float, int | None]]]],
                        joined: dict[int, list[tuple[str, float, int | None]]],
                        recovered: dict[int, list[tuple[str, int | None]]], grown: dict[int, int],
                        resolved: Iterable[int]) -> list[Event]:
        """Write one sweep's judgement; the incident events (opened, grown, resolved) it wrote.

        ``opened``: (check, scope, unit, rooms) with rooms as (room_id, since, onset event id);
        ``recovered``: (room_id, the room's event back to ok) per incident. Also ends the
        acknowledgements of rooms that are ok again, and notes when judging ran (the webhook
        holds room events until it has).
        """
        events: list[Event] = []
        with self._transaction() as conn:
            for incident_id, rooms in recovered.items():
                for room_id, event_id in rooms:
                    conn.execute("UPDATE incident_rooms SET recovered_at = ?, recovery_event_id = ?"
                                 " WHERE incident_id = ? AND room_id = ? AND recovered_at IS NULL",
                                 (now, event_id, incident_id, room_id))
            for check, scope, unit, rooms in opened:
                incident_id = conn.execute(
                    "INSERT INTO incidents (check_name, scope, unit, started_at, opened_at, peak_rooms,"
                    " notified_rooms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (check, scope, unit, min(r[1] for r in rooms), now, len(rooms), len(rooms))).fetchone()[0]
                self._join(conn, incident_id, rooms, now)
                events.append(self._incident_event(conn, incident_id, "opened", now))
            for incident_id, rooms in joined.items():
                self._join(conn, incident_id, rooms, now)
            for incident_id, count in grown.items():
                conn.execute("UPDATE incidents SET notified_rooms = ? WHERE id = ?", (count, incident_id))
                events.append(self._incident_event(conn, incident_id, "grown", now))
            for incident_id in resolved:
                conn.execute("UPDATE incidents SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
                             (now, incident_id))
                events.append(self._incident_event(conn, incident_id, "resolved", now))
            # Per acknowledgement in force (few), not per room: no scan of 10,000 rooms every sweep.
            conn.execute("UPDATE acks SET ended_at = ? WHERE kind = 'room' AND ended_at IS NULL"
                         " AND (SELECT state FROM rooms WHERE rooms.room_id = acks.target) = 'ok'", (now,))
            self._set_meta(conn, "incidents_judged_at", repr(now))
        return events

    def _join(self, conn: sqlite3.Connection, incident_id: int, rooms: list[tuple[str, float, int | None]],
              now: float) -> None:
        for room_id, since, event_id in rooms:
            # A room that recovered and fails again is back in (its first onset stays the one linked).
            conn.execute(
                "INSERT INTO incident_rooms (incident_id, room_id, since, joined_at, onset_event_id)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id, room_id) DO UPDATE SET recovered_at = NULL,"
                " recovery_event_id = NULL", (incident_id, room_id, since, now, event_id))
        active = conn.execute("SELECT count(*) FROM incident_rooms WHERE incident_id = ? AND recovered_at IS NULL",
                              (incident_id,)).fetchone()[0]
        conn.execute("UPDATE incidents SET peak_rooms = ? WHERE id = ? AND peak_rooms < ?",
                     (active, incident_id, active))

    def _incident_event(self, conn: sqlite3.Connection, incident_id: int, kind: str, now: float) -> Event:
        """An ``incident.KIND`` row of events, its detail a snapshot (a re-sent webhook is the same)."""
        inc = conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        active = conn.execute("SELECT count(*) FROM incident_rooms WHERE incident_id = ? AND recovered_at IS NULL",
                              (incident_id,)).fetchone()[0]
        snapshot = {"incident": incident_id, "check": inc["check_name"], "scope": inc["scope"], "unit": inc["unit"],
                    "rooms": active, "peak_rooms": inc["peak_rooms"], "started_at": inc["started_at"],
                    "resolved_at": inc["resolved_at"]}
        return self._add_event(conn, Event("", now, None, f"incident.{kind}",
                                           json.dumps(snapshot, ensure_ascii=False, separators=(",", ":"))))

    def incidents_judged_at(self) -> float | None:
        """When the last sweep judged incidents (None: never)."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'incidents_judged_at'").fetchone()
        return float(row[0]) if row else None

    def claimed_events(self, event_ids: Iterable[int]) -> set[int]:
        """Which of these room events an incident stands for (the webhook sends the incident instead)."""
        ids = sorted(set(event_ids))
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        rows = self._conn().execute(
            f"SELECT onset_event_id FROM incident_rooms WHERE onset_event_id IN ({marks})"
            f" UNION SELECT recovery_event_id FROM incident_rooms WHERE recovery_event_id IN ({marks})",
            (*ids, *ids)).fetchall()
        return {r[0] for r in rows}

    def incidents(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Incidents newest first; ``status`` 'open' or 'resolved' (None: both). With ``rooms`` (active)."""
        where = {"open": "WHERE resolved_at IS NULL",
                 "resolved": "WHERE resolved_at IS NOT NULL"}.get(status or "", "")
        conn = self._conn()
        found = [dict(r) for r in conn.execute(
            f"SELECT * FROM incidents {where} ORDER BY id DESC LIMIT ?", (limit,)).fetchall()]
        for inc in found:
            self._incident_details(conn, inc)
        return found

    def incident(self, incident_id: int) -> dict[str, Any] | None:
        conn = self._conn()
        row = conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return self._incident_details(conn, dict(row)) if row else None

    def _incident_details(self, conn: sqlite3.Connection, inc: dict[str, Any]) -> dict[str, Any]:
        inc["members"] = [dict(r) for r in conn.execute(
            "SELECT incident_rooms.room_id, coalesce(rooms.admin_unit, rooms.unit, '') AS unit,"
            " coalesce(rooms.admin_name, rooms.name, '') AS name, since, joined_at, recovered_at"
            " FROM incident_rooms LEFT JOIN rooms ON rooms.room_id = incident_rooms.room_id"
            " WHERE incident_id = ? ORDER BY joined_at, incident_rooms.room_id", (inc["id"],)).fetchall()]
        inc["acks"] = self._acks(conn, "incident", str(inc["id"]))
        return inc

    def _acks(self, conn: sqlite3.Connection, kind: str, target: str) -> list[dict[str, Any]]:
        rows = conn.execute("SELECT id, at, actor, note, ended_at FROM acks WHERE kind = ? AND target = ?"
                            " ORDER BY at, id", (kind, target)).fetchall()
        return [dict(r) for r in rows]

    def open_incident_rooms(self) -> dict[str, list[int]]:
        """room_id -> ids of the open incidents it is in (not recovered), for the room rows."""
        rows = self._conn().execute(
            "SELECT incident_rooms.room_id, incident_rooms.incident_id FROM incident_rooms JOIN incidents"
            " ON incidents.id = incident_rooms.incident_id WHERE incidents.resolved_at IS NULL"
            " AND incident_rooms.recovered_at IS NULL ORDER BY incident_rooms.incident_id").fetchall()
        out: dict[str, list[int]] = {}
        for room_id, incident_id in rows:
            out.setdefault(room_id, []).append(incident_id)
        return out

    def acknowledged_incidents(self) -> set[int]:
        rows = self._conn().execute("SELECT DISTINCT target FROM acks WHERE kind = 'incident'").fetchall()
        return {int(r[0]) for r in rows}

    def room_acks(self) -> dict[str, dict[str, Any]]:
        """room_id -> its latest acknowledgement still in force (the room is not ok again yet)."""
        rows = self._conn().execute(
            "SELECT target, id, at, actor, note FROM acks WHERE kind = 'room' AND ended_at IS NULL ORDER BY at, id")
        return {r["target"]: dict(r) for r in rows.fetchall()}

    def add_ack(self, kind: str, target: str, actor: str, note: str, now: float) -> dict[str, Any]:
        with self._transaction() as conn:
            row = conn.execute("INSERT INTO acks (kind, target, at, actor, note) VALUES (?, ?, ?, ?, ?)"
                               " RETURNING id, at, actor, note, ended_at",
                               (kind, target, now, actor, note)).fetchone()
        return dict(row)

    # ---- meetings and their roll-call (collector.meetings judges; this only stores) ----

    def add_meeting(self, title: str, start_at: float, end_at: float, participants: Iterable[tuple[str, str]],
                    created_by: str) -> int:
        """A new meeting with its participants as given ((kind, value) pairs); its id."""
        with self._transaction() as conn:
            meeting_id = conn.execute(
                "INSERT INTO meetings (title, start_at, end_at, created_at, created_by) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id", (title, start_at, end_at, time.time(), created_by)).fetchone()[0]
            for kind, value in participants:
                conn.execute("INSERT INTO meeting_participants (meeting_id, kind, value) VALUES (?, ?, ?)"
                             " ON CONFLICT (meeting_id, kind, value) DO NOTHING", (meeting_id, kind, value))
        return meeting_id

    def cancel_meeting(self, meeting_id: int, now: float) -> None:
        with self._transaction() as conn:
            cur = conn.execute("UPDATE meetings SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL",
                               (now, meeting_id))
            if cur.rowcount == 0:
                known = conn.execute("SELECT 1 FROM meetings WHERE id = ?", (meeting_id,)).fetchone()
                raise MeetingError(f"meeting {meeting_id} is {'already cancelled' if known else 'unknown'}")

    def _meetings_where(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        conn = self._conn()
        rows = [dict(r) for r in conn.execute(
            "SELECT id, title, start_at, end_at, created_at, created_by, cancelled_at FROM meetings"
            f" WHERE {where} ORDER BY start_at, id", params).fetchall()]
        for row in rows:
            row["participants"] = [(p["kind"], p["value"]) for p in conn.execute(
                "SELECT kind, value FROM meeting_participants WHERE meeting_id = ? ORDER BY kind, value",
                (row["id"],)).fetchall()]
        return rows

    def meetings(self, ended_after: float = 0.0, include_cancelled: bool = True) -> list[dict[str, Any]]:
        """Meetings ending after ``ended_after``, soonest first, each with its participants."""
        extra = "" if include_cancelled else " AND cancelled_at IS NULL"
        return self._meetings_where("end_at > ?" + extra, (ended_after,))

    def meeting(self, meeting_id: int) -> dict[str, Any] | None:
        found = self._meetings_where("id = ?", (meeting_id,))
        return found[0] if found else None

    def meetings_near(self, now: float, lead_s: float) -> list[dict[str, Any]]:
        """Meetings not cancelled whose roll-call or duration covers ``now``."""
        return self._meetings_where("cancelled_at IS NULL AND start_at - ? <= ? AND end_at > ?",
                                    (lead_s, now, now))

    def meeting_request(self, meeting_id: int, room_id: str, kind: str, now: float) -> dict[str, Any]:
        """The room's request for this meeting, issued now when it has none yet."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meeting_requests (id, meeting_id, room_id, kind, issued_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (meeting_id, room_id, kind) DO NOTHING",
                (secrets.token_hex(8), meeting_id, room_id, kind, now))
            return dict(conn.execute(
                "SELECT * FROM meeting_requests WHERE meeting_id = ? AND room_id = ? AND kind = ?",
                (meeting_id, room_id, kind)).fetchone())

    def answer_requests(self, room_id: str, request_ids: Iterable[str], seq: int, now: float) -> int:
        """Mark the room's requests answered by heartbeat ``seq``; another room's ids are ignored."""
        n = 0
        with self._transaction() as conn:
            for request_id in request_ids:
                n += conn.execute(
                    "UPDATE meeting_requests SET answered_at = ?, answered_seq = ?"
                    " WHERE id = ? AND room_id = ? AND answered_at IS NULL", (now, seq, request_id, room_id)).rowcount
        return n

    def meeting_requests(self, meeting_id: int) -> dict[str, dict[str, Any]]:
        """The meeting's requests by room."""
        rows = self._conn().execute("SELECT * FROM meeting_requests WHERE meeting_id = ?", (meeting_id,)).fetchall()
        return {r["room_id"]: dict(r) for r in rows}

    def save_snapshot(self, meeting_id: int, moment: str, taken_at: float, rows: Iterable[dict[str, Any]]) -> None:
        """Keep the roll-call of ``moment``; a moment already kept is not overwritten."""
        with self._transaction() as conn:
            for r in rows:
                conn.execute(
                    "INSERT INTO meeting_snapshots (meeting_id, moment, room_id, taken_at, unit, name, state, failing)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (meeting_id, moment, room_id) DO NOTHING",
                    (meeting_id, moment, r["room_id"], taken_at, r["unit"], r["name"], r["state"],
                     json.dumps(r["failing"], ensure_ascii=False)))
            # An empty marker row: the moment was taken even when nobody took part.
            conn.execute(
                "INSERT INTO meeting_snapshots (meeting_id, moment, room_id, taken_at, unit, name, state, failing)"
                " VALUES (?, ?, '', ?, '', '', '', '[]') ON CONFLICT (meeting_id, moment, room_id) DO NOTHING",
                (meeting_id, moment, taken_at))

    def snapshots(self, meeting_id: int) -> dict[str, list[dict[str, Any]]]:
        """The kept roll-calls by moment, rooms by unit and name."""
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self._conn().execute(
                "SELECT * FROM meeting_snapshots WHERE meeting_id = ? ORDER BY moment, unit, name, room_id",
                (meeting_id,)).fetchall():
            rows = out.setdefault(r["moment"], [])
            if r["room_id"]:
                row = dict(r)
                row["failing"] = json.loads(row["failing"])
                rows.append(row)
        return out
    # ---- call quality and /metrics: the latest heartbeat bodies ----

    def latest_bodies(self) -> dict[str, str]:
        """room_id -> the latest heartbeat body (JSON text) of every enrolled, unrevoked room."""
        rows = self._conn().execute(
            "SELECT latest.room_id, latest.body FROM latest JOIN rooms ON rooms.room_id = latest.room_id"
            " WHERE rooms.revoked_at IS NULL").fetchall()
        return {r[0]: r[1] for r in rows}

    # ---- compliance by time: every room's transitions in a period ----

    def transitions_since(self, since: float) -> list[tuple[str, float, str]]:
        """(room_id, at, to_state) of every room state change since ``since``, by room, oldest first."""
        # only the four room states: other rows of the events outbox (incidents) are no room's state
        rows = self._conn().execute(
            "SELECT room_id, at, to_state FROM events WHERE at >= ? AND to_state IN ('ok', 'warn', 'fail', 'offline')"
            " ORDER BY room_id, at, id", (since,)
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    # ---- bandwidth test slots (POST /api/v1/probe/slot) ----

    def grant_probe_slot(self, responder: str, room_id: str, limit: int, lease_s: float,
                         now: float) -> SlotAnswer:
        """A lease on one of ``limit`` slots of ``responder``, or when the first one frees.

        One transaction (BEGIN IMMEDIATE on SQLite; a PostgreSQL store takes a row or advisory
        lock on the responder) so two collectors never grant the same last slot. A room that
        asks again while holding a lease gets that lease back, extended: its agent restarted.
        """
        with self._transaction() as conn:
            conn.execute("DELETE FROM probe_leases WHERE expires_at <= ?", (now,))
            held = conn.execute("SELECT lease_id FROM probe_leases WHERE responder = ? AND room_id = ?",
                                (responder, room_id)).fetchone()
            if held is not None:
                conn.execute("UPDATE probe_leases SET granted_at = ?, expires_at = ? WHERE lease_id = ?",
                             (now, now + lease_s, held["lease_id"]))
                return SlotAnswer(True, held["lease_id"], lease_s, 0.0)
            active = conn.execute("SELECT count(*) AS n, min(expires_at) AS first_free FROM probe_leases"
                                  " WHERE responder = ?", (responder,)).fetchone()
            if active["n"] >= limit:
                return SlotAnswer(False, None, 0.0, max(0.0, active["first_free"] - now))
            lease_id = secrets.token_urlsafe(12)
            conn.execute("INSERT INTO probe_leases (lease_id, responder, room_id, granted_at, expires_at)"
                         " VALUES (?, ?, ?, ?, ?)", (lease_id, responder, room_id, now, now + lease_s))
            return SlotAnswer(True, lease_id, lease_s, 0.0)

    def release_probe_slot(self, lease_id: str, room_id: str, now: float, grace_s: float) -> bool:
        """End a lease early (the test is over), ``grace_s`` from ``now``: the responder has yet to see
        the last connection close. False when it had expired or is another room's."""
        with self._transaction() as conn:
            ended = conn.execute("UPDATE probe_leases SET expires_at = ? WHERE lease_id = ? AND room_id = ?"
                                 " AND expires_at > ? RETURNING lease_id",
                                 (now + grace_s, lease_id, room_id, now)).fetchall()
        return bool(ended)

    def probe_leases(self, now: float) -> list[dict[str, Any]]:
        """The leases running at ``now``, oldest first."""
        rows = self._conn().execute(
            "SELECT lease_id, responder, room_id, granted_at, expires_at FROM probe_leases"
            " WHERE expires_at > ? ORDER BY granted_at", (now,)).fetchall()
        return [dict(r) for r in rows]


    # ---- several collectors on one database (collector.leader, /healthz) ----

    def write_probe(self, now: float) -> None:
        """A real write, for /healthz: fails when the database is read-only, full or gone."""
        with self._transaction() as conn:
            self._set_meta(conn, "probe_at", repr(now))

    # ---- whole-database copy (`bridge-collector db copy`, SQLite <-> PostgreSQL) ----

    def table_names(self) -> list[str]:
        """The tables of the schema, in the order they are created."""
        return re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA)

    def is_empty(self) -> bool:
        """No room, event, heartbeat or account yet: a fit target for a copy."""
        return self._conn().execute(
            "SELECT (SELECT count(*) FROM rooms) + (SELECT count(*) FROM events) + (SELECT count(*) FROM heartbeats)"
            " + (SELECT count(*) FROM users) + (SELECT count(*) FROM api_tokens)").fetchone()[0] == 0

    def dump_table(self, table: str, chunk: int = 5000) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
        """The table's rows, ``chunk`` at a time, with the column names (copy source)."""
        if table not in self.table_names():
            raise StoreError(f"no table {table!r}")
        cur = self._conn().cursor()
        cur.row_factory = None
        cur.execute(f"SELECT * FROM {table}")
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()  # one snapshot: the source is not being written during a copy
        for start in range(0, len(rows), chunk):
            yield columns, [tuple(r) for r in rows[start:start + chunk]]

    def load_rows(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert rows as they are, ids included (copy target); one transaction per call."""
        if table not in self.table_names():
            raise StoreError(f"no table {table!r}")
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
        with self._transaction() as conn:
            for row in rows:
                conn.execute(sql, row)

    def after_load(self) -> None:
        """New ids continue above the copied ones (PostgreSQL's identity sequences)."""
        if self.postgres:
            with self._transaction() as conn:
                for table in _IDENTITY_TABLES:
                    conn.execute(db.resync_identity_sql(table))


def _with_units(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["units"] = tuple(json.loads(out["units"]))
    return out


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if kind else "COMMIT")
