"""``--webhook URL``: POST each status transition as JSON, retrying with backoff.

Ingest only appends to a bounded in-memory queue; one task delivers in order.
When the receiver is down for long the oldest undelivered events are dropped
(and counted): they stay in the events table and the API either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from collector.status import iso
from collector.store import Event

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
BACKOFF_S = (1, 2, 5, 10, 30, 60)


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id, "room_id": event.room_id, "at": iso(event.at), "from": event.from_state,
        "to": event.to_state, "detail": event.detail,
    }


class Notifier:
    def __init__(self, url: str, backoff_s: tuple[float, ...] = BACKOFF_S) -> None:
        self.url = url
        self.backoff_s = backoff_s
        self.delivered = 0
        self.dropped = 0
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, events: list[Event]) -> None:
        for event in events:
            if self._queue.qsize() >= QUEUE_LIMIT:
                self._queue.get_nowait()
                self.dropped += 1
            self._queue.put_nowait(event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._deliver_forever())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _deliver_forever(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                event = await self._queue.get()
                await self._deliver(client, event)

    async def _deliver(self, client: httpx.AsyncClient, event: Event) -> None:
        attempt = 0
        while True:
            try:
                response = await client.post(self.url, json=event_json(event))
                if response.status_code < 500 and response.status_code != 429:
                    if response.status_code >= 400:
                        log.warning("webhook refused event %s: HTTP %d", event.id, response.status_code)
                    self.delivered += 1
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as err:
                problem = type(err).__name__
            delay = self.backoff_s[min(attempt, len(self.backoff_s) - 1)]
            log.warning("webhook delivery of event %s failed (%s); retrying in %ss", event.id, problem, delay)
            attempt += 1
            await asyncio.sleep(delay)
