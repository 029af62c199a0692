"""What the collector's answer to a heartbeat asks of the room, read defensively (pure).

The 200 answer is ``{"status", "room_id", "seq", "requests": [...]}`` and, while the room
takes part in a meeting, ``interval_s`` (heartbeat more often) and ``quiet_until`` (Unix
seconds: no bandwidth test before then). See docs/meetings.md.

Nothing in it is ever executed: a request only names one of a fixed vocabulary of
things the agent already knows how to do (``full_check``); any other kind, a malformed
request, an unknown field or a value out of bounds is ignored and described in
``ignored`` so the service can log it. A broken or hostile answer can at worst make the
agent run its own full check once per request id, heartbeat at most every
``INTERVAL_MIN_S`` and hold its bandwidth test for at most ``QUIET_MAX_S``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

FULL_CHECK = "full_check"
KINDS = frozenset({FULL_CHECK})
MAX_REQUESTS = 16  # more in one answer are ignored (the heartbeat's answers are bounded the same)
REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
KNOWN_FIELDS = frozenset({"status", "room_id", "seq", "requests", "interval_s", "quiet_until"})
REQUEST_FIELDS = frozenset({"id", "kind"})
INTERVAL_MIN_S = 1.0  # the lowest central.interval_s the configuration accepts
QUIET_MAX_S = 24 * 3600.0  # the longest meeting the collector takes
DESCRIBE_MAX = 200


@dataclass(frozen=True)
class Request:
    id: str
    kind: str


@dataclass(frozen=True)
class Directives:
    requests: tuple[Request, ...] = ()
    interval_s: float | None = None  # the collector's hint; None: the room's own interval
    quiet_until: float | None = None  # Unix seconds; None: no quiet time
    ignored: tuple[str, ...] = field(default=())  # what was not understood, in words, for the log


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def parse(body: str, now_wall: float) -> Directives:
    """The answer's body → what to do; anything not understood ends up in ``ignored``."""
    try:
        doc = json.loads(body) if body else {}
    except ValueError:
        return Directives(ignored=("answer is not JSON",))
    if not isinstance(doc, dict):
        return Directives(ignored=("answer is not a JSON object",))
    ignored = [f"unknown field {_short(k)}" for k in sorted(doc) if k not in KNOWN_FIELDS]
    requests: list[Request] = []
    raw = doc.get("requests", [])
    if not isinstance(raw, list):
        ignored.append("requests is not a list")
        raw = []
    for item in raw[:MAX_REQUESTS]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) \
                or not REQUEST_ID.fullmatch(item["id"]):
            ignored.append(f"malformed request {_short(item)}")
            continue
        if item.get("kind") not in KINDS:
            ignored.append(f"request {item['id']} of unknown kind {_short(item.get('kind'))}")
            continue
        extra = sorted(k for k in item if k not in REQUEST_FIELDS)
        if extra:
            ignored.append(f"request {item['id']}: unknown fields {_short(extra)}")
        if all(r.id != item["id"] for r in requests):
            requests.append(Request(item["id"], item["kind"]))
    if len(raw) > MAX_REQUESTS:
        ignored.append(f"{len(raw) - MAX_REQUESTS} requests over the limit of {MAX_REQUESTS}")
    interval = None
    if "interval_s" in doc:
        interval = _number(doc["interval_s"])
        if interval is None or interval < INTERVAL_MIN_S:
            ignored.append(f"interval_s {_short(doc['interval_s'])} (needs a number of at least {INTERVAL_MIN_S:g})")
            interval = None
    quiet = None
    if "quiet_until" in doc:
        quiet = _number(doc["quiet_until"])
        if quiet is None:
            ignored.append(f"quiet_until {_short(doc['quiet_until'])} (needs Unix seconds)")
        elif quiet > now_wall + QUIET_MAX_S:
            ignored.append(f"quiet_until {quiet:.0f} is more than {QUIET_MAX_S / 3600:g} h ahead: held to that")
            quiet = now_wall + QUIET_MAX_S
        elif quiet <= now_wall:
            quiet = None
    return Directives(tuple(requests), interval, quiet, tuple(i[:DESCRIBE_MAX] for i in ignored))
