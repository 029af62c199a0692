"""Runs a ``DeviceWatcher`` and prints one JSON line per ``on_change`` call.

Used by the hot-plug tests and the benchmark in a process that sees a umockdev
testbed: ``{"t": <time.time() of the call>, "events": [...]}``. Says
``ready`` on stderr once the watcher listens; stops at end of stdin.
"""

from __future__ import annotations

import json
import sys
import time

from agent.devices import DeviceEvent, DeviceWatcher


def main() -> int:
    debounce = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3

    def on_change(events: list[DeviceEvent]) -> None:
        line = {"t": time.time(), "events": [e.to_json() for e in events]}
        print(json.dumps(line), flush=True)

    watcher = DeviceWatcher(on_change, debounce_s=debounce)
    watcher.start()
    print("ready", file=sys.stderr, flush=True)
    sys.stdin.read()
    watcher.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
