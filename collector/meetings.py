"""Meetings and their roll-call: parsing what an operator types, judging who is ready, what to tell agents.

Pure apart from ``Board.refresh`` and ``Board.answer``, which read and write through ``Store``:

- ``parse_start`` / ``parse_meeting``: ``--start 2026-12-03T08:00`` is Hanoi time
  (Asia/Ho_Chi_Minh) unless it carries an offset or ``Z``; ``--duration`` in minutes;
- participants are kept as given (unit, room id, or all) and resolved to rooms when the
  roll-call is evaluated, so a room enrolled into a unit after ``meeting add`` takes part;
- the roll-call of a room: *ready* (its latest heartbeat, sent after it answered the
  request, is ok or only warns), *not ready* (the failing checks, as the dashboard shows them), *no answer*;
- what the heartbeat response says to a participating room: ``requests`` during the lead
  (``--rollcall-lead`` before the start), the ``interval_s`` hint during the lead and the
  meeting, ``quiet_until`` (Unix seconds, the meeting's end) during the meeting and the
  ``quiet_margin`` before it.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from collector.status import iso
from collector.views import room_view

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
FULL_CHECK = "full_check"
KINDS = (FULL_CHECK,)  # the only request kind there is: agents ignore anything else
TITLE_MAX = 200
DURATION_MAX_MIN = 24 * 60
DEFAULT_LEAD_MIN = 30.0
DEFAULT_INTERVAL_S = 15.0
SNAPSHOT_BEFORE_S = 15 * 60  # the roll-call kept at T-15 min ...
MOMENTS = (("t-15", SNAPSHOT_BEFORE_S), ("start", 0.0))  # ... and at the start
READY, NOT_READY, NO_ANSWER = "ready", "not_ready", "no_answer"
STATES = (READY, NOT_READY, NO_ANSWER)
REFRESH_S = 2.0  # how stale the collector's picture of current meetings may be
QUIET_MARGIN_MAX_S = 60.0


def quiet_margin(interval_s: float) -> float:
    """How long before the start the quiet time begins: an agent learns of it at its next
    heartbeat, so four roll-call intervals (at most a minute) before the start every room
    knows, even after a lost heartbeat, and a test started just before has ended."""
    return min(QUIET_MARGIN_MAX_S, 4 * interval_s)


class MeetingInputError(ValueError):
    """Bad meeting input; ``option`` names the CLI option (the API says the field)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


def parse_start(text: str) -> float:
    """Unix time of ``text`` (ISO 8601); Hanoi time when it has no offset."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MeetingInputError("--start", f"{text!r} is not a time like 2026-12-03T08:00"
                                " (Hanoi time) or 2026-12-03T01:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=HANOI)
    return when.timestamp()


def parse_duration(value: Any) -> float:
    """Minutes (a number, fractions allowed) → seconds."""
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        raise MeetingInputError("--duration", f"{value!r} is not a number of minutes") from None
    if not 0 < minutes <= DURATION_MAX_MIN:
        raise MeetingInputError("--duration", f"must be more than 0 and at most {DURATION_MAX_MIN} minutes")
    return minutes * 60


@dataclass(frozen=True)
class MeetingInput:
    title: str
    start_at: float
    end_at: float
    participants: tuple[tuple[str, str], ...]


def parse_meeting(title: Any, start: Any, duration: Any, units: Iterable[Any] = (), rooms: Iterable[Any] = (),
                  everyone: bool = False) -> MeetingInput:
    """Check a new meeting as typed (CLI) or posted (API, dashboard)."""
    if not isinstance(title, str) or not title.strip():
        raise MeetingInputError("--title", "is required")
    if len(title) > TITLE_MAX:
        raise MeetingInputError("--title", f"at most {TITLE_MAX} characters")
    if not isinstance(start, str):
        raise MeetingInputError("--start", "is required (e.g. 2026-12-03T08:00, Hanoi time)")
    start_at = parse_start(start)
    end_at = start_at + parse_duration(duration)
    participants: list[tuple[str, str]] = []
    for option, kind, values in (("--unit", "unit", units), ("--room", "room", rooms)):
        for v in values:
            if not isinstance(v, str) or not v.strip():
                raise MeetingInputError(option, "must not be empty")
            participants.append((kind, v.strip()))
    if everyone:
        if participants:
            raise MeetingInputError("--all", "is not combined with --unit or --room")
        participants.append(("all", ""))
    if not participants:
        raise MeetingInputError("--unit", "who takes part: --unit UNIT ..., --room ID ... or --all")
    return MeetingInput(title.strip(), start_at, end_at, tuple(participants))


def audit_detail(new: MeetingInput) -> str:
    """The audit trail's words for a new meeting (CLI and web alike)."""
    return f"title={new.title} " + " ".join(f"{k}={v}" if v else k for k, v in new.participants)


def takes_part(participants: Iterable[tuple[str, str]], room_id: str, unit: str) -> bool:
    return any(kind == "all" or (kind == "unit" and value == unit) or (kind == "room" and value == room_id)
               for kind, value in participants)


def participating(participants: Iterable[tuple[str, str]], rooms: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The enrolled rooms (store rows) the participants name, resolved now."""
    chosen = list(participants)
    return [r for r in rooms if takes_part(chosen, r["room_id"], r["unit"])]


def phase(meeting: dict[str, Any], now: float, lead_s: float) -> str:
    if meeting["cancelled_at"] is not None:
        return "cancelled"
    if now >= meeting["end_at"]:
        return "ended"
    if now >= meeting["start_at"]:
        return "in_progress"
    return "rollcall" if now >= meeting["start_at"] - lead_s else "scheduled"


def meeting_json(meeting: dict[str, Any], now: float, lead_s: float) -> dict[str, Any]:
    return {"id": meeting["id"], "title": meeting["title"], "start": iso(meeting["start_at"]),
            "end": iso(meeting["end_at"]), "duration_min": round((meeting["end_at"] - meeting["start_at"]) / 60, 2),
            "rollcall_from": iso(meeting["start_at"] - lead_s), "phase": phase(meeting, now, lead_s),
            "participants": [{"kind": k, "value": v} for k, v in meeting["participants"]],
            "created_at": iso(meeting["created_at"]), "created_by": meeting["created_by"],
            "cancelled_at": iso(meeting["cancelled_at"])}


def rollcall(rooms: Iterable[dict[str, Any]], requests: dict[str, dict[str, Any]], now: float, factor: float,
             heard_since: float = 0.0) -> list[dict[str, Any]]:
    """Each participating room's state now; not ready first, then no answer, then ready."""
    out = []
    for row in rooms:
        view = room_view(row, now, factor, heard_since)
        request = requests.get(row["room_id"])
        answered = request is not None and request["answered_at"] is not None
        if not answered:
            state, failing = NO_ANSWER, []
        elif view.status in ("ok", "warn"):
            # A warning (an unsynchronised clock, a device name udev could not give) does not keep
            # a room out of a meeting: ready, with the warnings shown.
            state, failing = READY, view.failing
        elif view.status == "offline":
            state = NOT_READY
            failing = [{"name": "offline", "status": "fail", "summary": "no heartbeat since it answered",
                        "code": "meeting.offline_since_answered", "params": {}}]
        else:
            state, failing = NOT_READY, view.failing
        out.append({"room_id": row["room_id"], "name": view.name, "unit": view.unit, "state": state,
                    "failing": failing, "status": view.status, "last_seen": view.last_seen,
                    "issued_at": request["issued_at"] if request else None,
                    "answered_at": request["answered_at"] if request else None})
    order = {NOT_READY: 0, NO_ANSWER: 1, READY: 2}
    out.sort(key=lambda r: (order[r["state"]], r["unit"], r["name"], r["room_id"]))
    return out


def state_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    totals = dict.fromkeys(STATES, 0)
    for r in rows:
        totals[r["state"]] += 1
    return totals


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"room_id": row["room_id"], "name": row["name"], "unit": row["unit"], "state": row["state"],
            "failing_checks": row["failing"], "issued_at": iso(row.get("issued_at")),
            "answered_at": iso(row.get("answered_at"))}


def _summary(check: dict[str, Any]) -> str:
    return str(check.get("summary", ""))


def rollcall_csv(meeting: dict[str, Any], now_rows: list[dict[str, Any]],
                 kept: dict[str, list[dict[str, Any]]], say: Callable[[dict[str, Any]], str] = _summary) -> str:
    """One line per room: its state at T-15, at the start and now, with the failing checks.

    ``say`` words a failing check (the page's language); the agent's summary by default.
    """
    by_room: dict[str, dict[str, Any]] = {}
    for moment, rows in (*kept.items(), ("now", now_rows)):
        for r in rows:
            entry = by_room.setdefault(r["room_id"], {"unit": r["unit"], "name": r["name"]})
            entry[moment] = r["state"]
            entry[f"{moment}_failing"] = "; ".join(say(c) for c in r["failing"])
    out = io.StringIO()
    writer = csv.writer(out)
    columns = [m for m, _ in MOMENTS] + ["now"]
    writer.writerow(["meeting_id", "title", "start", "unit", "room_id", "name",
                     *[c for m in columns for c in (m, f"{m}_failing")]])
    for room_id, e in sorted(by_room.items(), key=lambda kv: (kv[1]["unit"], kv[1]["name"], kv[0])):
        writer.writerow([meeting["id"], meeting["title"], iso(meeting["start_at"]), e["unit"], room_id, e["name"],
                         *[e.get(c, "") for m in columns for c in (m, f"{m}_failing")]])
    return out.getvalue()


@dataclass
class Directives:
    """What the heartbeat response tells one room."""

    requests: list[dict[str, str]] = field(default_factory=list)
    interval_s: float | None = None
    quiet_until: float | None = None

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": self.requests}
        if self.interval_s is not None:
            out["interval_s"] = self.interval_s
        if self.quiet_until is not None:
            out["quiet_until"] = round(self.quiet_until, 3)
        return out


@dataclass
class Current:
    """A meeting near now, with the rooms it resolved to at the last refresh."""

    meeting: dict[str, Any]
    rooms: dict[str, dict[str, Any]]


class Board:
    """The collector's picture of the meetings near now, refreshed every few seconds.

    The heartbeat endpoint asks ``participates`` for every heartbeat from memory; only the
    rooms that take part in a current meeting cost a database round trip.
    """

    def __init__(self, lead_s: float, interval_s: float) -> None:
        self.lead_s = lead_s
        self.interval_s = interval_s
        self.current: list[Current] = []
        self.refreshed_at = 0.0
        self._kept: set[tuple[int, str]] = set()  # snapshots known to be written
        self._lock = threading.Lock()

    def refresh(self, store: Any, now: float) -> list[Current]:
        meetings = store.meetings_near(now, self.lead_s)
        rooms = store.rooms() if meetings else []
        current = [Current(m, {r["room_id"]: r for r in participating(m["participants"], rooms)}) for m in meetings]
        with self._lock:
            self.current, self.refreshed_at = current, now
        return current

    def participates(self, room_id: str) -> bool:
        return any(room_id in c.rooms for c in self.current)

    def directives(self, store: Any, room_id: str, now: float) -> Directives:
        """Requests (issued on the first heartbeat of the lead), the interval hint and quiet_until."""
        out = Directives()
        for c in self.current:
            m = c.meeting
            if room_id not in c.rooms or not m["start_at"] - self.lead_s <= now < m["end_at"]:
                continue
            out.interval_s = self.interval_s
            if now < m["start_at"] - quiet_margin(self.interval_s):
                request = store.meeting_request(m["id"], room_id, FULL_CHECK, now)
                if request["answered_at"] is None:
                    out.requests.append({"id": request["id"], "kind": FULL_CHECK})
            else:
                out.quiet_until = max(out.quiet_until or 0.0, m["end_at"])
        return out

    def snapshots_due(self, now: float) -> list[tuple[Current, str, float]]:
        """(meeting, moment, when) of every kept roll-call due now and not written yet.

        A moment that passed before the meeting was even added is not kept: it would only
        show every room without an answer.
        """
        due = []
        for c in self.current:
            for moment, before in MOMENTS:
                at = c.meeting["start_at"] - before
                if now >= at and c.meeting["created_at"] <= at and (c.meeting["id"], moment) not in self._kept:
                    due.append((c, moment, at))
        return due

    def kept(self, meeting_id: int, moment: str) -> None:
        self._kept.add((meeting_id, moment))


def keep_snapshots(board: Board, store: Any, now: float, factor: float, heard_since: float) -> int:
    """Write the roll-calls due now (T-15, start); how many moments were written."""
    n = 0
    for c, moment, _ in board.snapshots_due(now):
        rows = rollcall(c.rooms.values(), store.meeting_requests(c.meeting["id"]), now, factor, heard_since)
        store.save_snapshot(c.meeting["id"], moment, now, rows)
        board.kept(c.meeting["id"], moment)
        n += 1
    return n


def refresh_board(board: Board, store: Any, factor: float, heard_since: float, leading: bool = True) -> None:
    """The sweeper's step: the current meetings (every collector answers heartbeats from them),
    then, on the collector doing the once-only work, the snapshots they are due."""
    now = time.time()
    board.refresh(store, now)
    if leading:
        keep_snapshots(board, store, now, factor, heard_since)
