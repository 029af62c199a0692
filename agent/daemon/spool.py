"""The heartbeat spool: every heartbeat is on disk before it is sent.

One file per heartbeat, named by its zero-padded ``seq`` so the directory
listing is the send order. Files are written with ``write_atomic`` (temp,
fsync, rename, fsync directory): after a crash or power cut a file is either
complete or absent; leftover temp files are removed at start.

The spool is bounded by count and bytes. When a new heartbeat does not fit,
the oldest are dropped; the number dropped is kept in ``dropped`` (persisted)
until a heartbeat reporting it is spooled, and a dropped heartbeat's own
``spool.dropped`` is carried over, so no drop goes unreported.

Heartbeats the collector can never accept (400, 413, 415, 422: the body is
wrong) are moved to ``rejected/`` next to a ``.reason`` file, bounded too;
a refused token or a wrong URL never moves a heartbeat there (see ``delivery``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from agent.daemon import logfmt
from agent.daemon.fsutil import fsync_dir, is_temp, write_atomic
from agent.errors import DeliveryError

log = logging.getLogger(__name__)

SUFFIX = ".json"
REJECTED_MAX = 1000


def file_name(seq: int) -> str:
    return f"{seq:016d}{SUFFIX}"


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def parse_name(name: str) -> int | None:
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
    return int(stem) if stem.isdigit() else None


class Spool:
    def __init__(self, directory: Path, max_count: int, max_bytes: int) -> None:
        self.directory = directory
        self.rejected_dir = directory / "rejected"
        self._dir = str(directory)
        self.max_count = max_count
        self.max_bytes = max_bytes
        # Re-entrant: the service holds it across put() and the sequence commit (see ``locked``).
        self._lock = threading.RLock()
        self._index: OrderedDict[int, int] = OrderedDict()  # seq -> size, oldest first
        self._bytes = 0
        try:
            self.rejected_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as err:
            raise DeliveryError(f"cannot create the spool {directory}: {err.strerror}") from None
        self._dropped_path = directory / "dropped"
        self._dropped = self._read_dropped()
        self._scan()

    # -- start-up ------------------------------------------------------------

    def _scan(self) -> None:
        found: list[tuple[int, int]] = []
        for entry in os.scandir(self.directory):
            if is_temp(entry.name):
                # An interrupted write: the heartbeat was never committed (its seq was not either).
                os.unlink(entry.path)
                continue
            seq = parse_name(entry.name)
            if seq is not None and entry.is_file():
                found.append((seq, entry.stat().st_size))
        for seq, size in sorted(found):
            self._index[seq] = size
            self._bytes += size
        self._rejected = 0
        for entry in os.scandir(self.rejected_dir):
            if is_temp(entry.name):
                os.unlink(entry.path)
            elif parse_name(entry.name) is not None:
                self._rejected += 1

    def _read_dropped(self) -> int:
        try:
            text = self._dropped_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        return int(text) if text.isdigit() else 0

    def _path(self, seq: int) -> str:
        # A plain string: pathlib interns every path component, and each heartbeat's
        # name is new, which would grow the interpreter's intern table for months.
        return os.path.join(self._dir, file_name(seq))

    # -- state ---------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self._index)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def dropped(self) -> int:
        """Heartbeats dropped and not yet reported in a spooled heartbeat."""
        return self._dropped

    @property
    def rejected(self) -> int:
        """Heartbeats kept in ``rejected/`` (on disk, so across restarts)."""
        return self._rejected

    def max_seq(self) -> int:
        """The highest seq in the spool or among rejected heartbeats (0 when none)."""
        highest = next(reversed(self._index), 0) if self._index else 0
        for entry in os.scandir(self.rejected_dir):
            seq = parse_name(entry.name)
            if seq is not None:
                highest = max(highest, seq)
        return highest

    def seqs(self) -> list[int]:
        with self._lock:
            return list(self._index)

    # -- writing -------------------------------------------------------------

    def locked(self) -> threading.RLock:
        """Hold to make several steps atomic for the sender (which cannot send meanwhile)."""
        return self._lock

    def put(self, seq: int, data: bytes) -> int:
        """Durably add heartbeat ``seq``; returns how many old heartbeats were dropped for it."""
        with self._lock:
            if self._index and seq <= next(reversed(self._index)):
                raise AssertionError(f"spool seq {seq} is not above the newest")
            dropped_now = 0
            while self._index and (
                len(self._index) + 1 > self.max_count or self._bytes + len(data) > self.max_bytes
            ):
                oldest = next(iter(self._index))
                self._dropped += 1 + self._reported_drops(oldest)
                self._forget(oldest)
                dropped_now += 1
            try:
                write_atomic(self._path(seq), data)
            except OSError as err:
                raise DeliveryError(f"cannot write heartbeat {seq} to the spool: {err.strerror}") from None
            self._index[seq] = len(data)
            self._bytes += len(data)
            if dropped_now:
                self._store_dropped()
                logfmt.event(log, "spool.dropped", logging.WARNING, count=dropped_now, unreported=self._dropped)
            return dropped_now

    def reported_dropped(self, count: int) -> None:
        """A spooled heartbeat now carries ``count`` drops: they no longer need reporting."""
        with self._lock:
            if count:
                self._dropped = max(0, self._dropped - count)
                self._store_dropped()

    def _reported_drops(self, seq: int) -> int:
        try:
            doc = json.loads(_read(self._path(seq)))
            return int(doc.get("spool", {}).get("dropped", 0))
        except (OSError, ValueError, AttributeError, TypeError):
            return 0

    def _store_dropped(self) -> None:
        write_atomic(self._dropped_path, f"{self._dropped}\n".encode("ascii"))

    def _forget(self, seq: int) -> None:
        size = self._index.pop(seq, None)
        if size is None:
            return
        self._bytes -= size
        try:
            os.unlink(self._path(seq))
        except FileNotFoundError:
            pass

    # -- sending -------------------------------------------------------------

    def oldest(self) -> tuple[int, bytes] | None:
        """The next heartbeat to send, oldest first; None when the spool is empty."""
        while True:
            with self._lock:
                if not self._index:
                    return None
                seq = next(iter(self._index))
                try:
                    return seq, _read(self._path(seq))
                except FileNotFoundError:
                    # Removed behind our back: forget it and move on rather than stall.
                    self._forget(seq)

    def remove(self, seq: int) -> None:
        """``seq`` was accepted (2xx). A delete lost to a power cut only means a harmless re-send."""
        with self._lock:
            self._forget(seq)

    def reject(self, seq: int, reason: str) -> None:
        """Keep ``seq`` aside in ``rejected/`` with the collector's reason; it is not retried."""
        with self._lock:
            if seq not in self._index:
                return
            source = self._path(seq)
            write_atomic(self.rejected_dir / f"{seq:016d}.reason", (reason.strip() + "\n").encode())
            os.replace(source, self.rejected_dir / file_name(seq))
            fsync_dir(self.rejected_dir)
            self._bytes -= self._index.pop(seq)
            self._trim_rejected()

    def _trim_rejected(self) -> None:
        kept = sorted(s for s in (parse_name(e.name) for e in os.scandir(self.rejected_dir)) if s is not None)
        self._rejected = min(len(kept), REJECTED_MAX)
        for seq in kept[: max(0, len(kept) - REJECTED_MAX)]:
            for name in (file_name(seq), f"{seq:016d}.reason"):
                try:
                    os.unlink(self.rejected_dir / name)
                except FileNotFoundError:
                    pass
