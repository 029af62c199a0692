"""The heartbeat sequence number: persisted, and only ever increasing.

The collector de-duplicates on ``(room_id, seq)``, so a number must never be
reused for a different heartbeat. The spool is written *before* the counter
(see ``service``), and at start the counter is raised to the highest number
found in the spool, so a crash between the two writes neither reuses nor
skips a number.
"""

from __future__ import annotations

import threading
from pathlib import Path

from agent.daemon.fsutil import write_atomic
from agent.errors import DeliveryError


class SeqStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last = self._read()

    def _read(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            # Written atomically, so this is damage from outside: refuse to guess lower.
            raise DeliveryError(f"{self.path}: sequence file is corrupt ({text[:20]!r}); remove it only if the spool is empty")
        return int(text)

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
