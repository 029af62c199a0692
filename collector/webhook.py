"""``--webhook URL``: POST every status transition, signed, from the events table (an outbox).

The events table is the queue. A cursor in the store (``event_cursors``, row
``webhook``) holds the id of the last event handled; one task reads the events
after it, oldest first, and POSTs them one at a time, so a restart (or a crash)
resumes where delivery stopped: each event at least once, in order of id, with
its ``id`` in the body and in ``X-Bridge-Event-Id`` for the receiver to drop
repeats. The task wakes when this process writes events and also polls, for
events another collector process wrote to the same database.

Each answer is one of three outcomes (``classify``): 2xx delivered; 408, 429,
5xx and network errors retry the same event (backoff with jitter, capped,
``Retry-After`` honoured up to the cap) and hold the later ones back; any other
answer (4xx, 3xx) is refused for good: logged, counted, and the cursor moves on.
A new cursor starts at the newest event, so a first start does not send the
whole history.

Incidents (collector.incidents): a room's transition that an incident stands for
is not sent; the incident's own ``opened``, ``grown`` and ``resolved`` rows of the
same events table are, in the same order and with the same guarantees. So that a
room's transition can still be folded into an incident that opens a little later,
each waits until the sweep has judged incidents ``hold_s`` after it (the
incident window); the ones after it wait too, so the order holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any, Awaitable, Callable

import httpx

from collector import __version__
from collector.status import iso
from collector.store import Event, Store

log = logging.getLogger(__name__)

CURSOR = "webhook"  # the row of event_cursors this module owns
SIGNATURE_HEADER = "X-Bridge-Signature"
EVENT_ID_HEADER = "X-Bridge-Event-Id"
POLL_S = 2.0  # how soon events written by another process are noticed
BATCH = 100  # events read per query
TIMEOUT_S = 10.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
HELD_RECHECK_S = 0.5  # how often held events are looked at again

# Runs a job on the single writer thread (``Writer.call``): cursor writes never race ingest.
WriterCall = Callable[[Callable[[Store], Any]], Awaitable[Any]]


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id, "room_id": event.room_id, "at": iso(event.at), "from": event.from_state,
        "to": event.to_state, "detail": event.detail,
    }


def incident_event_json(event: Event) -> dict[str, Any]:
    """An incident's notification (room_id '', to_state ``incident.KIND``) from the snapshot it stored."""
    snap = json.loads(event.detail)
    return {
        "id": event.id, "type": "incident", "event": event.to_state.removeprefix("incident."), "at": iso(event.at),
        "incident": {"id": snap["incident"], "check": snap["check"], "scope": snap["scope"],
                     "unit": snap["unit"] or None, "rooms": snap["rooms"], "peak_rooms": snap["peak_rooms"],
                     "started_at": iso(snap["started_at"]), "resolved_at": iso(snap["resolved_at"])},
    }


def body_bytes(event: Event) -> bytes:
    """The exact bytes POSTed (and signed) for ``event``."""
    doc = incident_event_json(event) if is_incident(event) else event_json(event)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def is_incident(event: Event) -> bool:
    return event.room_id == "" and event.to_state.startswith("incident.")


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Bridge-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, for logs: the path and query of a webhook URL often hold a token."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii').rpartition('@')[2]}"


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"  # for good: the cursor moves on
    RETRY = "retry"  # the same event again later; the ones after it wait


def classify(status_code: int) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    # A timeout, throttling or a server error says nothing about the event itself.
    if status_code in (408, 429) or status_code >= 500:
        return Outcome.RETRY
    return Outcome.REFUSED


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) -> seconds from ``now``; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def retry_delay(attempt: int, retry_after: float | None = None, *, jitter: float | None = None) -> float:
    """Seconds before retry number ``attempt`` + 1 (``attempt`` from 0).

    Doubling from ``BACKOFF_BASE_S``, drawn from the upper half of that step so that
    collectors (or events) failing together do not retry in step; never sooner than the
    receiver's ``Retry-After``; never above ``BACKOFF_CAP_S``, so a receiver asking for
    an hour is still asked again within the minute.
    """
    step = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(attempt, 16))
    delay = step * (0.5 + 0.5 * (random.random() if jitter is None else jitter))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(BACKOFF_CAP_S, delay)


@dataclass
class DeliveryStats:
    """What ``/metrics`` shows of the webhook (counts are since the process started)."""

    position: int = 0  # the cursor: id of the last event handled
    delivered: int = 0
    failed: int = 0  # refused for good
    retries: int = 0
    coalesced: int = 0  # room transitions not sent because an incident stands for them
    last_success: float | None = None  # Unix time of the last 2xx


class Notifier:
    """Delivers the events table to one URL, in order of id, from the persisted cursor."""

    def __init__(self, url: str, secret: str, store: Store, write: WriterCall, *, poll_s: float = POLL_S,
                 hold_s: float = 0.0, leading: Callable[[], bool] = lambda: True) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret to sign with")
        self.url = url
        self._secret = secret.encode("utf-8")
        self._store = store
        self._write = write
        self._poll_s = poll_s
        self._hold_s = hold_s
        self._leading = leading  # several collectors on one database: only the leader delivers
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._was_leading = True  # start() has just read the cursor
        self.stats = DeliveryStats()

    def wake(self, events: list[Event]) -> None:
        """A listener of ``Runtime.publish``: new events are committed, read them now."""
        self._wake.set()

    async def start(self) -> None:
        """Open the cursor (on the writer thread) before the first request, then deliver in the background."""
        self.stats.position = await self._write(lambda store: store.open_cursor(CURSOR))
        log.info("webhook: delivering events after id %d to %s", self.stats.position, origin(self.url))
        self._task = asyncio.create_task(self._deliver_forever())

    async def stop(self) -> None:
        """Stop at once; an event cut off mid-POST is sent again after the restart."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _deliver_forever(self) -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            while True:
                self._wake.clear()  # before reading: a publish from now on is not missed
                if not await self._lead():
                    await asyncio.sleep(self._poll_s)
                    continue
                try:
                    events = await asyncio.to_thread(self._store.events_after, self.stats.position, BATCH)
                    ready, claimed = await asyncio.to_thread(self._ready, events)
                except Exception:
                    log.exception("webhook: cannot read events; trying again in %ss", self._poll_s)
                    events, ready, claimed = [], [], set()
                if not events:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_s)
                    continue
                skipped = None
                for event in ready:
                    if not self._leading():
                        break  # the new leader goes on from the saved cursor
                    if event.id in claimed:
                        # Not sent; the cursor passes it with the next event delivered (one write, not 400).
                        self.stats.coalesced += 1
                        skipped = event
                        continue
                    await self._deliver(client, event)
                    await self._move_cursor(event)
                    skipped = None
                if skipped is not None:
                    await self._move_cursor(skipped)
                if len(ready) < len(events):
                    await asyncio.sleep(HELD_RECHECK_S)  # the next sweep judges more of them

    def _ready(self, events: list[Event]) -> tuple[list[Event], set[int]]:
        """The leading events judged, and which of them an incident stands for."""
        ready = self._judged(events)
        return ready, self._store.claimed_events([e.id for e in ready if e.id is not None and not is_incident(e)])

    def _judged(self, events: list[Event]) -> list[Event]:
        """The leading events incident judging is done with; the rest wait (in order)."""
        if not self._hold_s:
            return events
        judged = self._store.incidents_judged_at()
        ready = []
        for event in events:
            if not is_incident(event) and (judged is None or event.at + self._hold_s > judged):
                break
            ready.append(event)
        return ready

    async def _lead(self) -> bool:
        """Whether to deliver now; on becoming the leader, resume from the cursor another one saved."""
        leading = self._leading()
        if leading and not self._was_leading:
            try:
                self.stats.position = await self._write(lambda store: store.open_cursor(CURSOR))
            except Exception:
                log.exception("webhook: cannot read the cursor")
                return False
        self._was_leading = leading
        return leading

    async def _move_cursor(self, event: Event) -> None:
        assert event.id is not None
        self.stats.position = event.id
        event_id = event.id
        try:
            await self._write(lambda store: store.advance_cursor(CURSOR, event_id))
        except Exception as err:
            # Delivery goes on from memory; the next cursor write covers this one. Only a
            # restart before that re-sends the events since the last write (at least once).
            log.warning("webhook: cannot save the cursor at event %d: %s", event_id, err)

    def _describe(self, err: Exception) -> str:
        """The error for a log line, with the URL (its path may hold a token) cut to its origin."""
        text = str(err).replace(self.url, origin(self.url))
        return f"{type(err).__name__}: {text}" if text else type(err).__name__

    async def _deliver(self, client: httpx.AsyncClient, event: Event) -> None:
        """POST until delivered or refused for good."""
        body = body_bytes(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"bridge-collector/{__version__}",
            SIGNATURE_HEADER: sign(self._secret, body),
            EVENT_ID_HEADER: str(event.id),
        }
        attempt = 0
        while True:
            retry_after = None
            try:
                response = await client.post(self.url, content=body, headers=headers)
                outcome = classify(response.status_code)
                problem = f"HTTP {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
            except Exception as err:  # whatever went wrong, the event is not skipped: retried
                outcome, problem = Outcome.RETRY, self._describe(err)
            if outcome is Outcome.DELIVERED:
                self.stats.delivered += 1
                self.stats.last_success = time.time()
                return
            if outcome is Outcome.REFUSED:
                self.stats.failed += 1
                log.warning("webhook refused event %s (%s): counted as failed, not sent again", event.id, problem)
                return
            delay = retry_delay(attempt, retry_after)
            log.warning("webhook delivery of event %s failed (%s); retry %d in %.1fs", event.id, problem,
                        attempt + 1, delay)
            self.stats.retries += 1
            attempt += 1
            await asyncio.sleep(delay)
