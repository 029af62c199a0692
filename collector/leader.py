"""Which collector does the once-only work: the offline sweep, retention and the webhook outbox.

Any number of collectors may share one PostgreSQL database and accept heartbeats, but
an offline transition must be written once and the webhook must send each event from
one place, in order. The collector holding a session-level advisory lock
(collector.db.LeaderLock, on a connection of its own) is the leader; the others check
every ``CHECK_S`` whether they can take the lock. PostgreSQL frees the lock when the
leader's session ends, so when a leader dies (kill -9, a host that reboots) the lock is
free as soon as its connection is gone, and another collector leads within a couple of
checks. On SQLite there is one collector per file: it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from collector import db

log = logging.getLogger(__name__)

CHECK_S = 1.0


class Leader:
    """``held``: whether this collector leads now (refreshed in the background by ``run``)."""

    def __init__(self, location: str, *, check_s: float = CHECK_S) -> None:
        self.postgres = db.is_postgres(location)
        self.held = not self.postgres
        self._lock = db.LeaderLock(location) if self.postgres else None
        self._check_s = check_s
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """Try for the lock, or confirm it is still held (a lost connection loses it)."""
        if self._lock is None:
            return True
        was = self.held
        self.held = await asyncio.to_thread(self._lock.check)
        if self.held != was:
            log.warning("%s the once-only work (offline sweep, retention, webhook)",
                        "this collector now leads" if self.held else "this collector no longer leads")
        return self.held

    async def start(self) -> None:
        await self.check()
        if self._lock is not None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._check_s)
            try:
                await self.check()
            except Exception:
                log.exception("leader check failed")
                self.held = False

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._lock is not None:
            await asyncio.to_thread(self._lock.close)
        self.held = False
