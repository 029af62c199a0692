"""The heartbeat stream: a random instance id and a sequence number that only increases.

The collector de-duplicates on ``(room_id, agent_instance, seq)``, so a pair
must never be reused for a different heartbeat. The spool is written *before*
the counter (see ``service``), and at start the counter is raised to the
highest number found in the spool, so a crash between the two writes neither
reuses nor skips a number.

The instance id (128 random bits, 32 lowercase hex digits) lives in the file
``instance`` next to the counter and is trusted only together with it: when
the counter file is missing (first start, a wiped state directory after a
reinstall or a new disk) or the id file is missing or damaged (an upgrade from
0.1.0, which had none), a new id is written, durably, before any heartbeat
carries it. A new stream can never collide with an old one, so starting one
too often costs nothing; reusing one after the counter went back would make
the collector drop heartbeats as replays.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from pathlib import Path

from agent.daemon import logfmt
from agent.daemon.fsutil import write_atomic
from agent.errors import DeliveryError

log = logging.getLogger(__name__)

INSTANCE_FILE = "instance"
INSTANCE_RE = re.compile(r"[0-9a-f]{32}")


def new_instance() -> str:
    return secrets.token_hex(16)


def parse_instance(text: str | None) -> str | None:
    """The id in an instance file's text, or None when absent or damaged (pure)."""
    value = (text or "").strip()
    return value if INSTANCE_RE.fullmatch(value) else None


class SeqStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.instance_path = path.parent / INSTANCE_FILE
        self._lock = threading.Lock()
        self._last = self._read()
        self.instance = self._instance()

    def _read(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            # Written atomically, so this is damage from outside: refuse to guess lower.
            raise DeliveryError(f"{self.path}: sequence file is corrupt ({text[:20]!r}); remove it only if the spool is empty")
        return int(text)

    def _instance(self) -> str:
        counter_exists = self.path.exists()
        try:
            text: str | None = self.instance_path.read_text(encoding="ascii")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as err:
            raise DeliveryError(f"{self.instance_path}: cannot read the agent instance id: {err}") from None
        found = parse_instance(text)
        if found is not None and counter_exists:
            return found
        if text is None:
            why = "new state directory" if not counter_exists else "sequence file without an instance id (upgrade)"
        elif found is None:
            why = "instance file damaged"
        else:
            why = "sequence file missing: the counter starts again"
        instance = new_instance()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(self.instance_path, f"{instance}\n".encode("ascii"), mode=0o644)
        except OSError as err:
            raise DeliveryError(f"{self.instance_path}: cannot write the agent instance id: {err.strerror}") from None
        logfmt.event(log, "agent.new_instance", logging.WARNING if counter_exists else logging.INFO,
                     agent_instance=instance, reason=why, next_seq=self._last + 1)
        return instance

    @property
    def last(self) -> int:
        return self._last

    def peek_next(self) -> int:
        """The number the next heartbeat gets (not yet committed)."""
        return self._last + 1

    def raise_to(self, seq: int) -> None:
        """Never hand out ``seq`` or below again (numbers found in the spool at start)."""
        with self._lock:
            if seq > self._last:
                self._store(seq)

    def commit(self, seq: int) -> None:
        """Record that ``seq`` is used; it must be the one ``peek_next`` gave."""
        with self._lock:
            if seq != self._last + 1:
                raise AssertionError(f"sequence {seq} committed after {self._last}")
            self._store(seq)

    def _store(self, seq: int) -> None:
        # In memory first: if the write fails (disk full), ``seq`` is still never handed out
        # again by this process, and the spool file that holds it heals the file at start.
        self._last = seq
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, f"{seq}\n".encode("ascii"))
