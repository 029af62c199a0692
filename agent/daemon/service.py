"""The service's main loop: schedule checks, build heartbeats, spool, report to systemd.

Threads: the main thread only handles signals and shutdown; the *worker*
runs checks and writes heartbeats; the *sender* drains the spool; the device
and configuration watchers only set flags and wake the worker. Heartbeats are
written under ``write_lock``, which shutdown takes before exiting, so SIGTERM
never interrupts a spool write. Nothing received from the network is ever
executed: the collector's answers are only classified (see ``delivery``), and what
they ask of the room is read from a fixed vocabulary (see ``directives``): run the
full check now (answered with the request id in the next heartbeat), heartbeat
faster, no bandwidth test until the meeting's end.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Iterator

from agent import __version__
from agent.checks import select
from agent.checks.base import Check, CheckContext, run_checks, skipped
from agent.config import AgentConfig, enrolment_problems, read_token
from agent.daemon import directives, heartbeat, logfmt
from agent.daemon.delivery import Delivery
from agent.daemon.reload import FileWatcher, decide, describe
from agent.checks.net_common import GATE
from agent.daemon.schedule import (
    BandwidthTimer,
    Plan,
    carried,
    deferred_too_long,
    first_cycle_delay,
    not_measured_since_link_failed,
    plan_cycle,
)
from agent.daemon.sdnotify import Notifier
from agent.daemon.slot import GRANTED, NO_ANSWER, REFUSED, ask_slot, release_slot
from agent.daemon.sender import Sender
from agent.daemon.seqstore import SeqStore
from agent.daemon.spool import Spool
from agent.daemon.state import iso, status_line, write_state
from agent.errors import ConfigError, DeliveryError
from agent.devices import DeviceWatcher, scan
from agent.devices.equipment import equipment_json
from agent.net.figures import network_figures
from agent.paths import Paths
from agent.result import CheckResult, Status, overall_status

log = logging.getLogger("agent.daemon")

WAITING = "waiting for configuration"
ENROLMENT_POLL_S = 5.0
RELOAD_SETTLE_S = 0.2  # an editor's save is several events: read the file once they settle
SHUTDOWN_LOCK_S = 3.0
WATCHER_STOP_S = 0.5
HINT_TTL_S = 600.0  # an interval hint not renewed by an answer for this long is dropped
ANSWERED_KEPT = 256  # request ids already run: the collector repeats a request until it is heard


def _stop_quietly(watcher: Any) -> None:
    try:
        watcher.stop()
    except Exception:  # stopping must not fail the stop
        log.exception("event=watcher.stop_failed")


class Service:
    def __init__(self, config_path: Path, config: AgentConfig, paths: Paths | None = None,
                 notifier: Notifier | None = None) -> None:
        self.config_path = config_path
        self.config = config
        self.paths = paths or Paths()
        self.notifier = notifier or Notifier.from_env()
        self.config_error: str | None = None
        self.token_error: str | None = None  # the token file became unusable; the previous token stays
        self._watched_token: Path | None = None
        self.write_lock = threading.Lock()
        self.exit_code = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload = threading.Event()
        self._token_changed = threading.Event()
        self._devices_changed = threading.Event()
        self._state_lock = threading.Lock()
        self._last_ping = 0.0
        self._ready = False
        self._waiting: str | None = None
        self.spool: Spool | None = None
        self.seq: SeqStore | None = None
        self.sender: Sender | None = None
        self._device_watcher: Any = None
        self._file_watcher: FileWatcher | None = None
        self.results: list[CheckResult] = []
        self.network: dict[str, Any] = {}
        self.devices_json: dict[str, Any] | None = None
        self.last_status: Status | None = None
        self._inventory: Any = None
        self._emit_lock = threading.Lock()  # results, status and devices change together
        self._device_generation = 0
        self._udev: Any = None
        self._scan_lock = threading.Lock()  # a libudev context is not thread-safe
        self.host = heartbeat.HostFacts(self.paths)
        self.bandwidth = self._bandwidth_timer(config)
        self.av = self._av_timer(config)
        self._last_av: dict[str, CheckResult] = {}  # the last camera/microphone results, by check
        # When the network gate started failing since the last bandwidth test (Unix time).
        self._outage_at: float | None = None
        self._gate_failed = False
        self._last_measured: dict[str, CheckResult] = {}  # the last real bandwidth measurement, by check
        self.next_cycle = 0.0
        self._rng = random.Random()  # seeded from the OS: every room its own phase
        # What the collector asked (``directives``), written by the sender thread.
        self._asked_lock = threading.Lock()
        self._pending: dict[str, directives.Request] = {}  # requests to run in the next full cycle
        self._answered: dict[str, None] = {}  # ids run (ordered, bounded): a repeat is not run again
        self._hint: tuple[float, float] | None = None  # (interval_s, when received, monotonic)
        self.quiet_until: float | None = None  # Unix seconds
        self._ignored: tuple[str, ...] = ()
        self._slot_fallback_at: float | None = None  # no slot answer: the test runs unpaced from then

    # -- main thread ---------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code (0 on a clean stop)."""
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_hup)
        logfmt.event(log, "agent.started", version=__version__, config=str(self.config_path),
                     room=self.config.room.id, interval_s=self.config.central.interval_s)
        self._file_watcher = FileWatcher()
        self._file_watcher.start()
        problem = self._file_watcher.watch(self.config_path, self.request_reload)
        if problem:
            logfmt.event(log, "config.watch_failed", logging.WARNING, error=problem, reload_with="SIGHUP")
        # The room profile (agent.equipment_file) reloads like the configuration (profile save, edits).
        if self.config.equipment_path != self.config_path:
            self._file_watcher.watch(self.config.equipment_path, self.request_reload)
        self._watch_token()
        worker = threading.Thread(target=self._work, name="worker", daemon=True)
        worker.start()
        while not self._stop.is_set():
            self._stop.wait(0.5)  # signal handlers run in this thread between waits
        return self._shutdown()

    def _on_stop_signal(self, signum: int, frame: object) -> None:
        logfmt.event(log, "agent.stopping", signal=signal.Signals(signum).name)
        self.stop()

    def _on_hup(self, signum: int, frame: object) -> None:
        self.request_reload()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._devices_changed.set()

    def request_reload(self) -> None:
        self._reload.set()
        self._wake.set()

    def request_token_reload(self) -> None:
        self._token_changed.set()
        self._wake.set()

    def _watch_token(self) -> None:
        """Watch ``central.token_file`` (again, when a reload moved it)."""
        path = self.config.central.token_file
        if self._file_watcher is None or path == self._watched_token:
            return
        if self._watched_token is not None and self._watched_token != self.config_path:
            self._file_watcher.unwatch(self._watched_token)
        self._watched_token = path
        problem = self._file_watcher.watch(path, self.request_token_reload)
        if problem:
            logfmt.event(log, "token.watch_failed", logging.WARNING, file=str(path), error=problem,
                         reload_with="SIGHUP")

    def _shutdown(self) -> int:
        started = time.monotonic()
        if self.sender:
            self.sender.stop()
        for watcher in (self._device_watcher, self._file_watcher):
            if watcher is not None:
                # Bounded: a watcher stuck in its own thread must not hold up the exit.
                stopper = threading.Thread(target=_stop_quietly, args=(watcher,), daemon=True)
                stopper.start()
                stopper.join(WATCHER_STOP_S)
        # Wait for a heartbeat write in progress; never interrupt it.
        locked = self.write_lock.acquire(timeout=SHUTDOWN_LOCK_S)
        self.notifier.stopping()
        self._write_state(state="stopped")
        logfmt.event(log, "agent.stopped", exit_code=self.exit_code, clean=locked,
                     took_ms=round((time.monotonic() - started) * 1000))
        return self.exit_code

    # -- worker thread -------------------------------------------------------

    def _work(self) -> None:
        try:
            if self._wait_for_enrolment():
                self._start_work()
                self._loop()
        except Exception:  # a bug must restart the service, not leave it half alive
            log.exception("event=agent.crashed")
            self.exit_code = 1
            self.stop()

    def _wait_for_enrolment(self) -> bool:
        """Stay up while the room is not enrolled; True once it is (False on stop)."""
        problems = enrolment_problems(self.config)
        while problems and not self._stop.is_set():
            keys = ", ".join(sorted({p.key or "file" for p in problems}))
            waiting = f"{WAITING} ({keys})"
            if waiting != self._waiting:
                self._waiting = waiting
                logfmt.event(log, "agent.waiting", logging.WARNING, config=str(self.config_path),
                             problems=describe(problems))
                self._write_state(state=WAITING, problems=[str(p) for p in problems])
                if self._ready:
                    self._notify(waiting)
                else:
                    # Started as far as systemd is concerned: no start timeout, no restart loop.
                    self._ready = True
                    self.notifier.ready(waiting)
            self._wake.wait(self._wait_time(ENROLMENT_POLL_S))
            self._wake.clear()
            self._ping()
            self._reload.clear()
            self._token_changed.clear()  # read again below, with the rest of the enrolment
            decision = decide(self.config_path, running=False)
            if decision.config is not None:
                self.config = decision.config
                logfmt.set_level(self.config.agent.log_level)
                self._watch_token()
                problems = enrolment_problems(self.config)
            elif decision.error != self.config_error:
                logfmt.event(log, "config.rejected", logging.ERROR, error=decision.error)
            self.config_error = decision.error
        return not self._stop.is_set()

    def _start_work(self) -> None:
        state_dir = self.config.agent.state_dir
        agent = self.config.agent
        self.spool = Spool(state_dir / "spool", agent.spool_max_heartbeats, int(agent.spool_max_mb * 1_000_000))
        self.seq = SeqStore(state_dir / "seq")
        self.seq.raise_to(self.spool.max_seq())
        self.sender = Sender(self.spool, on_change=self._write_state, on_answer=self._on_answer)
        self.sender.set_delivery(self._delivery())
        self.sender.start()
        self.bandwidth = self._bandwidth_timer(self.config)
        self.bandwidth.start(time.monotonic())
        self.av = self._av_timer(self.config)
        self.av.start(time.monotonic())
        threading.Thread(target=self._device_loop, name="devices", daemon=True).start()
        self._device_watcher = DeviceWatcher(self._on_devices, paths=self.paths)
        self._device_watcher.start()
        logfmt.event(log, "agent.working", room=self.config.room.id, url=logfmt.safe_url(self.config.central.url or ""),
                     spool_depth=self.spool.depth, agent_instance=self.seq.instance, next_seq=self.seq.peek_next())

    def _delivery(self, token: str | None = None) -> Delivery | None:
        try:
            token = token if token is not None else read_token(self.config.central.token_file)
        except ConfigError as err:  # emptied between the enrolment check and now: keep spooling
            self.token_error = describe(err.problems)
            logfmt.event(log, "token.unusable", logging.ERROR, error=self.token_error)
            return None
        self.token_error = None
        try:
            return Delivery(self.config, token)
        except Exception as err:  # a bad CA/client certificate: keep spooling, report it
            self.config_error = f"central TLS settings unusable: {type(err).__name__}: {err}"
            logfmt.event(log, "delivery.unusable", logging.ERROR, error=self.config_error)
            return None

    def _on_devices(self, events: object) -> None:
        self._devices_changed.set()

    def _loop(self) -> None:
        central = self.config.central
        phase = first_cycle_delay(central.interval_s, central.splay_s, self._rng)
        logfmt.event(log, "agent.phase", first_cycle_in_s=round(phase, 2), interval_s=central.interval_s)
        self.next_cycle = time.monotonic() + phase
        if phase > 0 and not self._ready:
            # Started as far as systemd is concerned: the phase must not eat the start timeout.
            self._ready = True
            self.notifier.ready(f"first check in {phase:.0f} s")
        while not self._stop.is_set():
            if self._reload.is_set():
                time.sleep(RELOAD_SETTLE_S)
                self._reload.clear()
                self._apply_reload()
            elif self._token_changed.is_set():  # after a reload too: that one may have been refused
                time.sleep(RELOAD_SETTLE_S)
                self._token_changed.clear()
                self._apply_token()
            if time.monotonic() >= self.next_cycle:
                self._full_cycle()
                # Keep the beat: a slow cycle starts the next one at once, never two back to back.
                self.next_cycle = max(self.next_cycle + self.interval_s(), time.monotonic())
                with self._asked_lock:
                    if self._pending:  # asked while the cycle ran: it did not include them
                        self.next_cycle = time.monotonic()
                if not self._ready:
                    self._ready = True
                    self.notifier.ready(self._status_text())
            self._ping()
            self._wake.wait(self._wait_time(self.next_cycle - time.monotonic()))
            self._wake.clear()

    def _wait_time(self, seconds: float) -> float:
        seconds = max(0.0, seconds)
        if self.notifier.watchdog_s:
            seconds = min(seconds, self.notifier.watchdog_s)
        return seconds

    def _ping(self) -> None:
        now = time.monotonic()
        if self.notifier.watchdog_s and now - self._last_ping >= min(1.0, self.notifier.watchdog_s):
            self._last_ping = now
            self.notifier.watchdog()

    def _pinging(self, checks: Iterable[Check]) -> Iterator[Check]:
        """The checks, pinging the watchdog between them; stops early on shutdown."""
        for check in checks:
            if self._stop.is_set():
                return
            self._ping()
            yield check

    def _apply_reload(self) -> None:
        decision = decide(self.config_path, running=True)
        if decision.config is None:
            self.config_error = decision.error
            logfmt.event(log, "config.rejected", logging.ERROR, error=decision.error, keeping="previous configuration")
        else:
            old, self.config = self.config, decision.config
            self.config_error = None
            logfmt.set_level(self.config.agent.log_level)
            if old.agent.state_dir != self.config.agent.state_dir:
                logfmt.event(log, "config.needs_restart", logging.WARNING, key="agent.state_dir")
            if (old.probe.every_s, old.probe.retry_s) != (self.config.probe.every_s, self.config.probe.retry_s):
                self.bandwidth = self._bandwidth_timer(self.config)
                self.bandwidth.start(time.monotonic())
            if old.probe.av_every_s != self.config.probe.av_every_s:
                self.av = self._av_timer(self.config)
                self.av.start(time.monotonic())
            if self.sender:
                self.sender.set_delivery(self._delivery())
            self._watch_token()
            logfmt.event(log, "config.reloaded", room=self.config.room.id, interval_s=self.config.central.interval_s)
        self.next_cycle = time.monotonic()  # report the outcome (the ``config`` check) right away

    def _apply_token(self) -> None:
        """The token file changed: send the backlog with the new token now, without a restart.

        An unusable file (emptied, unreadable, half written) keeps the client with the previous
        token; its next change is read again. No heartbeat is spooled for this: the token is not
        in any heartbeat.
        """
        path = self.config.central.token_file
        try:
            token = read_token(path)
        except ConfigError as err:
            self.token_error = describe(err.problems)
            logfmt.event(log, "token.unusable", logging.ERROR, error=self.token_error, keeping="previous token")
            self._write_state()
            return
        if self.sender:
            self.sender.set_delivery(self._delivery(token))
        logfmt.event(log, "token.reloaded", file=str(path), spool_depth=self.spool.depth if self.spool else 0)
        self._write_state()

    # -- cycles --------------------------------------------------------------

    def _context(self) -> tuple[CheckContext, Any]:
        ctx = CheckContext(config=self.config, paths=self.paths, config_error=self.config_error,
                           state_dir=self.config.agent.state_dir)
        try:
            with self._scan_lock:
                inventory = scan(self.paths, self._udev_context())
        except Exception as err:  # the device checks report it themselves
            logfmt.event(log, "devices.scan_failed", logging.ERROR, error=f"{type(err).__name__}: {err}")
            return ctx, None
        ctx.memo("devices", lambda: inventory)
        return ctx, inventory

    def _udev_context(self) -> Any:
        """One libudev context for every scan (a new one per scan loads libudev again each
        time, and its function pointers pile up); None means scan's own fallback."""
        if self._udev is None and self.paths.sys == Paths().sys:
            try:
                import pyudev

                self._udev = pyudev.Context()
            except Exception:  # no libudev: scan falls back to sysfs and says so
                self._udev = False
        return self._udev or None

    def _full_cycle(self) -> None:
        started = time.monotonic()
        generation = self._device_generation
        ctx, inventory = self._context()
        in_use = inventory.busy() if inventory is not None else None
        reason = inventory.in_use_reason() if inventory is not None else "devices could not be scanned"
        checks = select()
        with self._asked_lock:
            asked, quiet_until = list(self._pending.values())[:heartbeat.MAX_ANSWERS], self.quiet_until
        # A roll-call request is a full check now, bandwidth and the camera and microphone
        # included unless the room is in use or quiet (the deferral gate decides that as for
        # any due test).
        plan = plan_cycle(checks, in_use=in_use, bandwidth_due=bool(asked) or self.bandwidth.due(started),
                          reason=reason, av_due=bool(asked) or self.av.due(started),
                          quiet_until=quiet_until, now_wall=time.time())
        lease = None
        if plan.bandwidth_ran:
            plan, lease = self._paced(plan)
        try:
            fresh = {r.name: r for r in run_checks(self._pinging(plan.run), ctx, plan.skip)}
        finally:
            if lease:
                release_slot(self.config, lease[0], lease[1])
        self._note_av(checks, plan, fresh)
        results = self._bandwidth_results(checks, plan, fresh)
        with self._emit_lock:
            if self._device_generation != generation:
                # A hot-plug was handled while this cycle ran: its device results are newer.
                device_checks = {c.name for c in select("devices")}
                latest = {r.name: r for r in self.results if r.name in device_checks}
                results = [latest.get(r.name, r) for r in results]
                inventory = self._inventory
            self.network = network_figures(results)
            self._emit(results, inventory, always=True, answers=asked)
        logfmt.event(log, "cycle.done", logging.DEBUG, kind="full", in_use=in_use,
                     bandwidth=plan.bandwidth_ran, took_ms=round((time.monotonic() - started) * 1000))

    def _bandwidth_results(self, checks: list[Check], plan: Plan, fresh: dict[str, CheckResult]) -> list[CheckResult]:
        """Every check's result this cycle: fresh ones, and the bandwidth ones carried, retried or deferred."""
        now, wall = time.monotonic(), time.time()
        gate_failed = any(fresh[n].status is Status.FAIL for n in GATE if n in fresh)
        if gate_failed and self._outage_at is None:
            self._outage_at = wall
        elif not gate_failed and self._gate_failed:
            # The link is back: measure again soon, at a random moment (a city-wide outage
            # must not end in every room testing at once).
            self.bandwidth.start(now)
        self._gate_failed = gate_failed
        bandwidth = [c.name for c in checks if c.bandwidth]
        if plan.bandwidth_ran:
            measured = [fresh[n] for n in bandwidth if n in fresh and n not in plan.skip]
            for result in measured:
                if result.status in (Status.OK, Status.FAIL):
                    result.measured_at = wall
                    # The next test is due within every_s (+20% splay) and may be deferred up
                    # to max_defer_s before the agent warns itself: older than that is stale.
                    result.max_age_s = round(1.2 * self.config.probe.every_s + self.config.probe.max_defer_s)
                    self._last_measured[result.name] = result
            # Anything short of a measurement (a failure, the gate, a busy responder's skip) is
            # tried again after probe.retry_s, backing off, not after probe.every_s.
            if gate_failed or any(r.status is not Status.OK for r in measured):
                wait = self.bandwidth.failed(now)
                logfmt.event(log, "bandwidth.retry", in_s=round(wait), failures=self.bandwidth.failures)
            else:
                self.bandwidth.done(now)
                self._outage_at = None
        deferred = [n for n in bandwidth if n in plan.skip]
        if deferred:
            waited = self.bandwidth.deferred(now)
            if waited > self.config.probe.max_defer_s:
                for name in deferred:
                    fresh[name] = deferred_too_long(name, plan.skip[name], waited, wall, self._last_measured.get(name))
        results = []
        for check in checks:
            name = check.name
            if name in fresh:
                results.append(fresh[name])
            elif name in plan.keep_previous and check.av:
                results.append(self._av_kept(name, wall))
            elif name in plan.keep_previous:
                last = self._last_measured.get(name)
                if last is None:
                    results.append(self._not_measured(name))
                elif self._outage_at is not None and self._outage_at >= (last.measured_at or 0):
                    results.append(not_measured_since_link_failed(last, self._outage_at, wall))
                else:
                    results.append(carried(last, wall))
        return results

    def _paced(self, plan: Plan) -> tuple[Plan, tuple[str, str] | None]:
        """Ask the collector for a bandwidth test slot: the plan to run, and (token, lease) to give back.

        Refused: the test waits the collector's time, carrying the last results (not a failure).
        No answer: once put off by a random delay of up to probe.retry_s (rooms that lost the
        collector together must not test together), then run on the agent's own schedule.
        """
        now = time.monotonic()
        target = self.config.probe_target
        try:
            token = read_token(self.config.central.token_file)
        except ConfigError:
            token = None
        if target is None or token is None:
            return plan, None
        slot = ask_slot(self.config, token, target)
        if slot.kind == GRANTED:
            self._slot_fallback_at = None
            logfmt.event(log, "bandwidth.slot", logging.DEBUG, granted=True)
            return plan, (token, slot.lease) if slot.lease else None
        if slot.kind == NO_ANSWER and self._slot_fallback_at is not None and now >= self._slot_fallback_at:
            self._slot_fallback_at = None
            logfmt.event(log, "bandwidth.unpaced", logging.INFO, reason=slot.detail)
            return plan, None
        if slot.kind == REFUSED:
            self._slot_fallback_at = None
            wait = slot.wait_s
            logfmt.event(log, "bandwidth.slot", granted=False, wait_s=round(wait))
        else:
            wait = self._rng.uniform(0.1, 1.0) * self.config.probe.retry_s
            self._slot_fallback_at = now + wait
            logfmt.event(log, "bandwidth.slot_unanswered", logging.WARNING, reason=slot.detail,
                         unpaced_in_s=round(wait))
        self.bandwidth.postpone(now, wait)
        bandwidth = {c.name for c in plan.run if c.bandwidth}
        return replace(plan, run=[c for c in plan.run if not c.bandwidth],
                       keep_previous=plan.keep_previous | bandwidth, bandwidth_ran=False), None

    # -- camera and microphone checks: every probe.av_every_s, carried in between --

    @staticmethod
    def _av_timer(config: AgentConfig) -> BandwidthTimer:
        return BandwidthTimer(config.probe.av_every_s)

    def _note_av(self, checks: list[Check], plan: Plan, fresh: dict[str, CheckResult]) -> None:
        """After an AV run: keep its results to carry, and set the next one; a deferred run stays due."""
        if not plan.av_ran:
            return
        now, wall = time.monotonic(), time.time()
        for check in checks:
            result = fresh.get(check.name)
            if check.av and result is not None and check.name not in plan.skip:
                result.measured_at = wall
                result.max_age_s = round(1.2 * self.config.probe.av_every_s + self.config.probe.max_defer_s)
                self._last_av[check.name] = result
        self.av.done(now)

    def _av_kept(self, name: str, wall: float) -> CheckResult:
        last = self._last_av.get(name)
        if last is not None:
            return carried(last, wall)
        minutes = round(self.av.seconds_left(time.monotonic()) / 60)
        return skipped(name, f"not measured yet; the first camera and microphone check runs in about {minutes} min")

    @staticmethod
    def _bandwidth_timer(config: AgentConfig) -> BandwidthTimer:
        return BandwidthTimer(config.probe.every_s, retry_s=config.probe.retry_s)

    def _not_measured(self, name: str) -> CheckResult:
        minutes = round(self.bandwidth.seconds_left(time.monotonic()) / 60)
        return skipped(name, f"not measured yet; the first bandwidth test runs in about {minutes} min")

    def _device_loop(self) -> None:
        """Hot-plug changes, in their own thread: a long network cycle must not delay them."""
        try:
            while not self._stop.is_set():
                self._devices_changed.wait()
                self._devices_changed.clear()
                if not self._stop.is_set():
                    self._device_cycle()
        except Exception:
            log.exception("event=agent.crashed thread=devices")
            self.exit_code = 1
            self.stop()

    def _device_cycle(self) -> None:
        ctx, inventory = self._context()
        fresh = {r.name: r for r in run_checks(select("devices"), ctx)}
        with self._emit_lock:
            if not self.results:
                return  # the first full cycle has not finished: it will report the devices
            self._device_generation += 1
            results = [fresh.get(r.name, r) for r in self.results]
            self._emit(results, inventory, always=False)

    def _emit(self, results: list[CheckResult], inventory: Any, *, always: bool,
              answers: list[directives.Request] | None = None) -> None:
        """Keep the results; spool a heartbeat when asked, or when status or devices changed."""
        status = overall_status(results)
        devices = inventory.to_json() if inventory is not None else self.devices_json
        changed = status != self.last_status or devices != self.devices_json
        if status != self.last_status:
            failing = [r.name for r in results if r.status in (Status.FAIL, Status.WARN)]
            logfmt.event(log, "status.changed", was=self.last_status.value if self.last_status else None,
                         now=status.value, checks=",".join(failing))
        self.results, self.last_status, self.devices_json = results, status, devices
        if inventory is not None:
            self._inventory = inventory
        if always or changed:
            self._heartbeat(results, devices, answers or [])
        self._write_state()
        self._notify(self._status_text())

    def _heartbeat(self, results: list[CheckResult], devices: dict[str, Any] | None,
                   answers: list[directives.Request]) -> None:
        assert self.spool is not None and self.seq is not None and self.sender is not None
        with self.write_lock:
            if self._stop.is_set():
                return  # shutting down: do not start a write that could be cut
            seq = self.seq.peek_next()
            dropped = self.spool.dropped
            doc = heartbeat.build(self.config, seq, results, devices, self.network, self.host.now(),
                                  heartbeat.SpoolFigures(self.spool.depth, dropped),
                                  agent_instance=self.seq.instance,
                                  equipment=equipment_json(self.config, self._inventory),
                                  answers=[heartbeat.answer_json(a.id, a.kind) for a in answers])
            # Spool first, then the counter: a crash in between is healed at start (raise_to).
            # The sender cannot send (and delete) the new file before the counter is committed,
            # or a crash in between would hand the same number to a different heartbeat.
            try:
                with self.spool.locked():
                    self.spool.put(seq, heartbeat.encode(doc))
                    self.seq.commit(seq)
                    self.spool.reported_dropped(dropped)
            except (DeliveryError, OSError) as err:
                # Disk full or read-only: keep running (host.disk says why); the number is reused.
                logfmt.event(log, "heartbeat.spool_failed", logging.ERROR, seq=seq, error=str(err))
                return
        if answers:
            self._answered_now(answers, seq)
        self.sender.poke()
        logfmt.event(log, "heartbeat.spooled", seq=seq, status=doc["status"], spool_depth=self.spool.depth,
                     dropped=dropped)

    # -- what the collector asks (sender thread) -----------------------------

    def _on_answer(self, body: str) -> None:
        """A delivered heartbeat's answer: take its requests and hints; run nothing from it."""
        now, wall = time.monotonic(), time.time()
        asked = directives.parse(body, wall)
        if asked.ignored != self._ignored:  # logged once per new kind of oddity, not every heartbeat
            self._ignored = asked.ignored
            if asked.ignored:
                logfmt.event(log, "collector.answer_ignored", logging.WARNING, ignored="; ".join(asked.ignored))
        wake = False
        with self._asked_lock:
            for request in asked.requests:
                if (request.id not in self._pending and request.id not in self._answered
                        and len(self._pending) < heartbeat.MAX_ANSWERS):
                    self._pending[request.id] = request
                    logfmt.event(log, "request.received", id=request.id, kind=request.kind)
                    wake = True
            if asked.quiet_until != self.quiet_until:
                logfmt.event(log, "quiet.changed", until=iso(asked.quiet_until) if asked.quiet_until else None)
            self.quiet_until = asked.quiet_until
            old = self._hint[0] if self._hint else None
            self._hint = (asked.interval_s, now) if asked.interval_s is not None else None
            if asked.interval_s != old:
                logfmt.event(log, "interval.hint", interval_s=asked.interval_s,
                             own_interval_s=self.config.central.interval_s)
        if wake:
            self.next_cycle = now  # the full check the collector asked for, now
        elif asked.interval_s is not None and self.next_cycle > now + self.interval_s():
            self.next_cycle, wake = now + self.interval_s(), True  # the faster beat starts now
        if wake:
            self._wake.set()

    def interval_s(self) -> float:
        """The full cycle's interval: the collector's hint when it is faster and fresh, else the room's own."""
        own = self.config.central.interval_s
        hint = self._hint
        if hint is None or time.monotonic() - hint[1] > HINT_TTL_S:
            return own
        return min(own, max(directives.INTERVAL_MIN_S, hint[0]))

    def _meeting_state(self) -> dict[str, Any]:
        """What the collector asked, for ``bridge-agent status`` and status.json."""
        with self._asked_lock:
            return {"quiet_until": iso(self.quiet_until) if self.quiet_until else None,
                    "interval_s": self.interval_s(), "pending_requests": sorted(self._pending)}

    def _answered_now(self, answers: list[directives.Request], seq: int) -> None:
        """The requests are answered in the spooled heartbeat ``seq``: the spool delivers it once."""
        with self._asked_lock:
            for request in answers:
                self._pending.pop(request.id, None)
                self._answered[request.id] = None
            while len(self._answered) > ANSWERED_KEPT:
                self._answered.pop(next(iter(self._answered)))
        for request in answers:
            logfmt.event(log, "request.answered", id=request.id, kind=request.kind, seq=seq)

    # -- reporting -----------------------------------------------------------

    def _status_text(self) -> str:
        if self.spool is None or self.seq is None or self.sender is None:
            return self._waiting or WAITING
        delivery = self.sender.state
        text = status_line(
            status=self.last_status.value if self.last_status else None,
            failing=[r.name for r in self.results if r.status is Status.FAIL],
            seq=self.seq.last, depth=self.spool.depth, delivered_at=delivery.last_delivered_at,
            error=delivery.last_problem or delivery.last_error, failures=delivery.failures)
        if self.token_error:
            text = f"token file unusable; {text}"
        return f"config rejected; {text}" if self.config_error else text

    def _notify(self, text: str) -> None:
        self.notifier.status(text)

    def _write_state(self, state: str | None = None, problems: list[str] | None = None) -> None:
        # Built and written under one lock: a slower thread must not write an older picture last.
        with self._state_lock:
            self._write_state_locked(state, problems)

    def _write_state_locked(self, state: str | None, problems: list[str] | None) -> None:
        doc: dict[str, Any] = {
            "pid": os.getpid(),
            "updated_at": iso(time.time()),
            "state": state or "running",
            "version": __version__,
            "config": str(self.config_path),
            "config_error": self.config_error,
            "token_error": self.token_error,
            "room_id": self.config.room.id,
        }
        if problems:
            doc["problems"] = problems
        if self.spool is not None and self.seq is not None and self.sender is not None:
            delivery = self.sender.state
            doc.update({
                "status_line": self._status_text(),
                "agent_instance": self.seq.instance,
                "seq": self.seq.last,
                "status": self.last_status.value if self.last_status else None,
                "spool": {"depth": self.spool.depth, "bytes": self.spool.size_bytes, "dropped": self.spool.dropped,
                          "rejected": self.spool.rejected, "rejected_dir": str(self.spool.rejected_dir)},
                "last_delivery": {"seq": delivery.last_delivered_seq, "at": iso(delivery.last_delivered_at)},
                "last_error": {"message": delivery.last_error, "problem": delivery.last_problem,
                               "kind": delivery.last_kind, "status_code": delivery.last_status_code,
                               "at": iso(delivery.last_error_at), "failures": delivery.failures},
                "checks": [r.to_json() for r in self.results],
                "meeting": self._meeting_state(),
            })
        try:
            write_state(self.config.agent.runtime_dir, doc)
        except OSError as err:
            logfmt.event(log, "state.write_failed", logging.WARNING, error=err.strerror)
