"""The collector's ASGI application: routes and background tasks, assembled in one place.

``create_app(config)`` wires the heartbeat endpoint, the JSON API, the dashboard,
the login pages, ``/metrics`` and the probe endpoints to one ``Runtime``
(collector.web.runtime): the store, the single writer, the compiled schema, the
counters, the sweeper and the webhook notifier. Who may read what is decided in
collector.web.auth. Only collector.cli imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from collector import incidents, probe
from collector.history import ROLLUP_STEPS
from collector.ingest import Validator, Writer
from collector.meetings import Board, refresh_board
from collector.leader import Leader
from collector.status import iso
from collector.store import Store
from collector.web import api, audit, dashboard, heartbeat, login, meetings_web, metrics, probe_slot
from collector.web import incidents as incident_pages
from collector.web.runtime import Runtime, ServeConfig, runtime
from collector.webhook import CURSOR as WEBHOOK_CURSOR
from collector.webhook import Notifier

log = logging.getLogger(__name__)


HEALTHZ_WRITE_TIMEOUT_S = 5.0


async def healthz(request: Request) -> Response:
    """200 only when a write reaches the database: a collector that cannot write must leave the pool.

    ``X-Bridge-Role`` says whether this collector does the once-only work (leader) or not (standby).
    """
    rt = runtime(request)
    try:
        await asyncio.wait_for(rt.writer.call(lambda store: store.write_probe(time.time())), HEALTHZ_WRITE_TIMEOUT_S)
    except Exception as err:  # a timeout or any database error: not healthy, whatever the cause
        return PlainTextResponse(f"database not writable: {type(err).__name__}: {err}\n", status_code=503,
                                 headers={"Retry-After": "5"})
    return PlainTextResponse("ok\n", headers={"X-Bridge-Role": "leader" if rt.leader.held else "standby"})


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
    """Write offline transitions and judge incidents every few seconds; purge old history every hour, a little
    at a time."""
    last_purge = 0.0
    last_sweep = time.time()
    purging = False
    removed = 0
    while True:
        await asyncio.sleep(rt.config.sweep_interval_s)
        now = time.time()
        if not rt.leader.held:
            last_sweep = now  # another collector sweeps; a stall is measured from here on
            if rt.board is not None:  # this one still answers heartbeats with the meetings' requests
                try:
                    await run_in_threadpool(refresh_board, rt.board, rt.store, rt.config.offline_factor,
                                            rt.heard_since, False)
                except Exception:
                    log.exception("meetings: cannot read the current meetings; retrying")
            continue
        try:
            if now - last_sweep > stall_limit(rt.config.sweep_interval_s):
                # Heartbeats were not read meanwhile: the rooms get their chance again.
                started = last_sweep
                await rt.writer.call(lambda store: open_gap(store, now, "stall", since=started))
                rt.heard_since = now
            last_sweep = now
            if rt.board is not None:
                await run_in_threadpool(refresh_board, rt.board, rt.store, rt.config.offline_factor, rt.heard_since)
            events = await rt.writer.call(
                lambda store: store.mark_offline(now, rt.config.offline_factor, rt.heard_since))
            # Right after the offline transitions, so rooms that just went silent count too.
            events += await rt.writer.call(lambda store: incidents.sweep(store, rt.config.incidents, now))
            if events:
                rt.publish(events)
            if not purging and now - last_purge > PURGE_EVERY_S:
                purging, last_purge, removed = True, now, 0
            if purging:
                before = last_purge - rt.config.retention_days * 86400
                events_before = last_purge - rt.config.event_retention_days * 86400
                rollups_before = {s: last_purge - rt.config.kept_days(s) * 86400 for s in ROLLUP_STEPS}
                for _ in range(PURGE_CHUNKS_PER_SWEEP):
                    # Events the webhook has not handled yet are still to be sent: kept.
                    keep = WEBHOOK_CURSOR if rt.config.webhook else None
                    chunk = await rt.writer.call(lambda store: store.purge(
                        before, keep_from_cursor=keep, events_before=events_before, rollups_before=rollups_before))
                    removed += chunk
                    if not chunk:
                        purging = False
                        if removed:
                            log.info("retention: removed %d rows (heartbeats older than %s days, events"
                                     " %s, 5-minute rollups %s, 1-hour rollups %s)", removed,
                                     rt.config.retention_days, rt.config.event_retention_days,
                                     rt.config.rollup_5m_retention_days, rt.config.rollup_retention_days)
                        break
        except Exception:
            log.exception("sweep failed; retrying")


# The cyclic collector's first threshold: allocations between young collections. The
# default 700 runs it some 70 times in one 10,000-room overview (with a full collection over
# every object now and then: 80 ms of a 300 ms page); 20,000 runs it a few times.
GC_YOUNG_THRESHOLD = 20_000


def settle_gc() -> None:
    """Once started: what was loaded stays out of every collection, which runs less often.

    ``gc.freeze`` moves the modules, templates and schemas to a generation never scanned
    again (what CPython offers long-lived servers for this); the request's own objects are
    still collected. The collector makes few reference cycles, so collecting less often
    costs little memory.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def create_app(config: ServeConfig) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(config.db)
        started = time.time()
        leader = Leader(str(config.db))
        await leader.start()
        if leader.held:  # a standby's restart is no gap: the leader was listening meanwhile
            open_gap(store, started, "restart")
        if store.count_accounts() == 0:
            log.warning("no accounts yet: nobody can read the dashboard, the API or /metrics;"
                        " create one with `bridge-collector user add NAME --role admin`")
        rt = Runtime(config, store, Validator(), Writer(store, lambda events: rt.publish(events)),
                     heard_since=started, board=Board(config.rollcall_lead_s, config.rollcall_interval_s),
                     leader=leader)
        refresh_board(rt.board, store, config.offline_factor, started)  # type: ignore[arg-type]
        rt.writer.start(asyncio.get_running_loop())
        notifier = None
        if config.webhook:
            notifier = Notifier(config.webhook, config.webhook_secret or "", store, rt.writer.call,
                               hold_s=incidents.hold_s(config.incidents), leading=lambda: leader.held)
            rt.counters.webhook = notifier.stats
            rt.listeners.append(notifier.wake)
            await notifier.start()
        app.state.runtime = rt
        settle_gc()
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
            await leader.stop()
            store.close()

    routes: list[Any] = [
        Route("/healthz", healthz),
        *heartbeat.routes(),
        *api.routes(),
        *incident_pages.routes(),
        *dashboard.routes(),
        *login.routes(),
        *audit.routes(),
        *meetings_web.routes(),
        *metrics.routes(),
        *probe_slot.routes(),
    ]
    if config.probe_in_process:
        routes += probe.routes(lambda request: runtime(request).store, config.probe_max_transfers)
    return Starlette(routes=routes, lifespan=lifespan)
