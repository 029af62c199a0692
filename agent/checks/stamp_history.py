"""The recorded STAMP sessions and verdicts the service judges over, kept in the state directory.

One small JSON file, ``<agent.state_dir>/stamp-window.json``, replaced atomically
after every session and every verdict change, so a restart (or a power cut)
keeps the window and the hysteresis state::

    {"sessions": [{"at": 1764650000.0, "sent": 100, "received": 99,
                   "rtt_avg_ms": 12.1, "jitter_ms": 0.8}, ...],
     "failing": ["probe.loss"]}

A missing or damaged file starts an empty window: the room judges what it has.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from agent.checks.stamp_window import SessionRecord, window
from agent.daemon.fsutil import write_atomic

log = logging.getLogger(__name__)

FILE = "stamp-window.json"


@dataclass
class StampHistory:
    path: Path
    sessions: list[SessionRecord] = field(default_factory=list)  # oldest first
    failing: set[str] = field(default_factory=set)  # checks whose verdict is fail

    @classmethod
    def load(cls, state_dir: Path) -> "StampHistory":
        path = state_dir / FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            sessions = [r for r in (SessionRecord.from_json(d) for d in doc.get("sessions", [])) if r]
            failing = {str(name) for name in doc.get("failing", [])}
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError, AttributeError, TypeError) as err:
            log.warning("event=stamp_history.unreadable file=%s error=%s", path, err)
            return cls(path)
        return cls(path, sessions, failing)

    def add(self, record: SessionRecord, window_packets: int) -> None:
        """Record a session; keep only what the window needs."""
        self.sessions = window([*self.sessions, record], window_packets)
        self.save()

    def set_failing(self, name: str, failing: bool) -> None:
        if failing == (name in self.failing):
            return
        (self.failing.add if failing else self.failing.discard)(name)
        self.save()

    def save(self) -> None:
        doc = {"sessions": [r.to_json() for r in self.sessions], "failing": sorted(self.failing)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode())
        except OSError as err:  # disk full, read-only: judge from memory, host.disk says why
            log.warning("event=stamp_history.write_failed file=%s error=%s", self.path, err.strerror)
