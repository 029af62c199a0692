"""Hot-plug: a callback for every debounced burst of device changes.

A USB webcam arrives as a dozen uevents (USB device, interfaces, video
nodes, sound card, PCM nodes). The watcher waits until the burst has been
quiet for ``debounce_s``, takes a fresh inventory and reports the difference
to the previous one, so each plugged or pulled device is reported once.
Without udev (containers) it also rescans every ``POLL_S`` seconds.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from agent.paths import Paths

if TYPE_CHECKING:
    from agent.devices.model import DeviceEvent, Inventory

log = logging.getLogger(__name__)

# A burst that never goes quiet (a flapping cable) is still reported this often.
MAX_DELAY_S = 2.0
POLL_S = 2.0


class DeviceWatcher:
    """Calls ``on_change(events)`` from its own thread, once per debounced burst of changes.

    ``inventory`` is the latest scan (taken at ``start()`` and after each burst).
    Only plugging, unplugging and changed identity are events; a device
    starting or stopping to be used is not (it makes no uevent).
    """

    def __init__(self, on_change: Callable[[list["DeviceEvent"]], None], paths: Paths = Paths(),
                 debounce_s: float = 0.3, context: Any = None) -> None:
        self.on_change = on_change
        self.paths = paths
        self.debounce_s = debounce_s
        self.context = context
        self.inventory: Inventory | None = None
        self._monitor: Any = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1

    def start(self) -> None:
        """Start listening; returns once the monitor is live and the first inventory taken."""
        from agent.devices import scan

        if self._thread is not None:
            raise RuntimeError("DeviceWatcher already started")
        if self.paths.sys == Paths().sys:
            try:
                import pyudev

                self.context = self.context or pyudev.Context()
                monitor = pyudev.Monitor.from_netlink(self.context)
                monitor.filter_by("video4linux")
                monitor.filter_by("sound")
                monitor.filter_by("drm")  # a monitor plugged or unplugged: a "change" of the card
                monitor.start()  # before the first scan, so nothing plugged meanwhile is lost
                self._monitor = monitor
            except Exception as exc:  # no libudev or no netlink: poll instead
                log.warning("udev monitor not available (%s); polling every %.0f s", exc, POLL_S)
        self.inventory = scan(self.paths, self.context if self._monitor is not None else None)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="device-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        self._thread = None
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _drain(self) -> int:
        count = 0
        while self._monitor.poll(timeout=0) is not None:
            count += 1
        return count

    def _polling(self) -> bool:
        # Without udevd (inventory read from sysfs) udev events may never come: rescan as well.
        return self._monitor is None or (self.inventory is not None and self.inventory.source != "udev")

    def _run(self) -> None:
        first: float | None = None  # when the pending burst started
        deadline: float | None = None
        next_poll = time.monotonic() + POLL_S
        watched = [self._wake_r] + ([self._monitor.fileno()] if self._monitor is not None else [])
        while True:
            now = time.monotonic()
            waits = [t - now for t in (deadline, next_poll if self._polling() else None) if t is not None]
            ready, _, _ = select.select(watched, [], [], max(0.0, min(waits)) if waits else None)
            if self._wake_r in ready:
                return
            now = time.monotonic()
            if ready and self._drain():
                first = first if first is not None else now
                deadline = min(now + self.debounce_s, first + MAX_DELAY_S)
                continue
            if (deadline is not None and now >= deadline) or (self._polling() and now >= next_poll):
                first = deadline = None
                next_poll = now + POLL_S
                self._flush()

    def _flush(self) -> None:
        from agent.devices import scan
        from agent.devices.model import diff

        try:
            fresh = scan(self.paths, self.context if self._monitor is not None else None)
        except Exception:
            log.exception("device rescan failed")
            return
        events = diff(self.inventory, fresh) if self.inventory is not None else []
        self.inventory = fresh
        if events:
            try:
                self.on_change(events)
            except Exception:  # the callback's bug must not end hot-plug detection
                log.exception("device change callback failed")
