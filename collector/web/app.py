"""The collector's ASGI application: routes, shared state, background tasks, read access.

``create_app(config)`` wires the heartbeat endpoint, the JSON API, the dashboard,
``/metrics`` and the probe endpoints to one ``Runtime``: the store, the single
writer, the compiled schema, the counters, the sweeper and the webhook notifier.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collector import probe
from collector.ingest import Validator, Writer
from collector.status import DEFAULT_OFFLINE_FACTOR, iso
from collector.store import Event, Store
from collector.webhook import CURSOR as WEBHOOK_CURSOR
from collector.webhook import DeliveryStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeConfig:
    db: Path
    lang: str = "vi"
    webhook: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)  # never in a log line
    retention_days: float = 30
    offline_factor: float = DEFAULT_OFFLINE_FACTOR
    read_token: str | None = None  # None: reads are open (only allowed on loopback)
    sweep_interval_s: float = 2.0
    probe_max_transfers: int = probe.DEFAULT_MAX_TRANSFERS


@dataclass
class Counters:
    """Process-lifetime counters for /metrics."""

    accepted: int = 0
    duplicates: int = 0
    seq_reused: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    webhook: DeliveryStats | None = None  # None: no --webhook

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


@dataclass
class Runtime:
    config: ServeConfig
    store: Store
    validator: Validator
    writer: Writer
    counters: Counters = field(default_factory=Counters)
    listeners: list[Callable[[list[Event]], None]] = field(default_factory=list)
    # When this collector could first hear the rooms: its start, or the end of a stall.
    # No room's silence counts before it (see status.effective_status).
    heard_since: float = 0.0

    def publish(self, events: list[Event]) -> None:
        for listener in self.listeners:
            listener(events)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _credential(request: Request) -> str | None:
    """The token of ``Authorization: Bearer T`` or the password of ``Basic`` (browsers)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


Endpoint = Callable[[Request], Awaitable[Response]]


def reader(endpoint: Endpoint, *, html: bool = False) -> Endpoint:
    """Require the read token (when one is configured) before ``endpoint``."""

    async def guarded(request: Request) -> Response:
        expected = runtime(request).config.read_token
        if expected is not None:
            given = _credential(request)
            if given is None or not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
                if html:
                    return PlainTextResponse("read token required\n", status_code=401,
                                             headers={"WWW-Authenticate": 'Basic realm="bridge-collector"'})
                return JSONResponse({"error": "read token required (Authorization: Bearer TOKEN)"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await endpoint(request)

    return guarded


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


PURGE_EVERY_S = 3600
STALL_MIN_S = 10.0
PURGE_CHUNKS_PER_SWEEP = 10  # a large backlog is purged over several sweeps, not in one long stall


def stall_limit(sweep_interval_s: float) -> float:
    """A sweep this late means the collector itself was stalled (VM paused, disk hung)."""
    return max(STALL_MIN_S, 5 * sweep_interval_s)


def open_gap(store: Store, now: float, reason: str, since: float | None = None) -> float | None:
    """Record the collector's downtime up to ``now`` as a gap; returns its start (None: no gap)."""
    start = store.last_alive() if since is None else since
    if start is None or start >= now:
        return None  # a new database, or the clock went back: nothing to excuse
    store.record_gap(start, now, reason)
    log.warning("collector %s: heard no room from %s to %s (%.0f s); offline counts from now",
                "was down" if reason == "restart" else "stalled", iso(start), iso(now), now - start)
    return start


async def _sweep_forever(rt: Runtime) -> None:
    """Write offline transitions every few seconds; purge old history every hour, a little at a time."""
    last_purge = 0.0
    last_sweep = time.time()
    purging = False
    removed = 0
    while True:
        await asyncio.sleep(rt.config.sweep_interval_s)
        now = time.time()
        try:
            if now - last_sweep > stall_limit(rt.config.sweep_interval_s):
                # Heartbeats were not read meanwhile: the rooms get their chance again.
                started = last_sweep
                await rt.writer.call(lambda store: open_gap(store, now, "stall", since=started))
                rt.heard_since = now
            last_sweep = now
            events = await rt.writer.call(
                lambda store: store.mark_offline(now, rt.config.offline_factor, rt.heard_since))
            if events:
                rt.publish(events)
            if not purging and now - last_purge > PURGE_EVERY_S:
                purging, last_purge, removed = True, now, 0
            if purging:
                before = last_purge - rt.config.retention_days * 86400
                for _ in range(PURGE_CHUNKS_PER_SWEEP):
                    # Events the webhook has not handled yet are still to be sent: kept.
                    keep = WEBHOOK_CURSOR if rt.config.webhook else None
                    chunk = await rt.writer.call(lambda store: store.purge(before, keep_from_cursor=keep))
                    removed += chunk
                    if not chunk:
                        purging = False
                        if removed:
                            log.info("retention: removed %d rows older than %s days", removed,
                                     rt.config.retention_days)
                        break
        except Exception:
            log.exception("sweep failed; retrying")


def create_app(config: ServeConfig) -> Starlette:
    from collector.web import api, dashboard, heartbeat, metrics
    from collector.webhook import Notifier

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(config.db)
        started = time.time()
        open_gap(store, started, "restart")
        rt = Runtime(config, store, Validator(), Writer(store, lambda events: rt.publish(events)),
                     heard_since=started)
        rt.writer.start(asyncio.get_running_loop())
        notifier = None
        if config.webhook:
            notifier = Notifier(config.webhook, config.webhook_secret or "", store, rt.writer.call)
            rt.counters.webhook = notifier.stats
            rt.listeners.append(notifier.wake)
            await notifier.start()
        app.state.runtime = rt
        sweeper = asyncio.create_task(_sweep_forever(rt))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if notifier:
                await notifier.stop()
            rt.writer.stop()
            store.close()

    routes: list[Any] = [
        Route("/healthz", healthz),
        *heartbeat.routes(),
        *api.routes(),
        *dashboard.routes(),
        *metrics.routes(),
        *probe.routes(lambda request: runtime(request).store, config.probe_max_transfers),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
