"""``bridge-agent devices [--json] [--watch]``: the room's cameras, microphones and speakers.

The list is judged by the three device checks, whose worst status is the exit
code. ``--watch`` prints each hot-plug change until interrupted (one JSON
object per line with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import IO

from agent import __version__
from agent.checks import run_checks, select
from agent.checks.devices import inventory
from agent.commands.common import context_from, load_onsite_config, paths_from
from agent.devices import Device, DeviceEvent, DeviceWatcher, Inventory
from agent.output import format_result, print_json, room_line, use_colour
from agent.result import CheckResult, Status, overall_status


def device_line(device: Device) -> str:
    """One line a technician reads: kind, name, node, bus, vendor:product, flags."""
    ids = f"{device.vendor_id}:{device.product_id}" if device.vendor_id else "-"
    flags = [flag for flag, on in (("virtual", device.virtual), ("in use", device.in_use)) if on]
    if device.in_use is None:
        flags.append("in use: unknown")
    line = f"{device.kind:<10}  {device.name:<34}  {device.node:<18}  {device.bus:<8}  {ids:<9}"
    return (line + "  " + ", ".join(flags)).rstrip()


def missing_line(results: list[CheckResult]) -> str:
    missing = [r for r in results if r.status is Status.FAIL]
    if not missing:
        return "policy: all required devices present"
    return "missing against policy: " + "; ".join(r.summary.split(";")[0] for r in missing)


def print_inventory(inv: Inventory, results: list[CheckResult], heading: str, stream: IO[str]) -> None:
    colour = use_colour(stream)
    stream.write(heading + "\n")
    devices = inv.all()
    for device in devices:
        stream.write(device_line(device) + "\n")
    if not devices:
        stream.write("no cameras, microphones or speakers found\n")
    for warning in inv.warnings:
        stream.write(f"warning: {warning}\n")
    width = max(len(r.name) for r in results)
    for result in results:
        stream.write(format_result(result, width, colour) + "\n")
    stream.write(missing_line(results) + "\n")
    stream.flush()


def event_line(event: DeviceEvent) -> str:
    return f"{time.strftime('%H:%M:%S')}  {event.event:<7}  {device_line(event.device)}"


def watch(args: argparse.Namespace) -> int:
    lock = threading.Lock()

    def on_change(events: list[DeviceEvent]) -> None:
        with lock:
            for event in events:
                line = json.dumps(event.to_json(), ensure_ascii=False) if args.json else event_line(event)
                sys.stdout.write(line + "\n")
            sys.stdout.flush()

    # Block the stop signals before the watcher thread exists, so only sigwait() sees them.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    watcher = DeviceWatcher(on_change, paths=paths_from(args))
    watcher.start()
    if not args.json and watcher.inventory is not None:
        for device in watcher.inventory.all():
            print(f"{'present':<17}  {device_line(device)}", flush=True)
    print("bridge-agent: watching for device changes (Ctrl-C to stop)", file=sys.stderr, flush=True)
    signal.sigwait(stop_signals)
    watcher.stop()
    return 0


def main(args: argparse.Namespace) -> int:
    config = load_onsite_config(args)
    if args.watch:
        return watch(args)
    ctx = context_from(args, config)
    inv = inventory(ctx)
    results = run_checks(select("devices"), ctx)
    if args.json:
        print_json(inv.to_json())
        for warning in inv.warnings:
            print(f"bridge-agent: warning: {warning}", file=sys.stderr)
    else:
        print_inventory(inv, results, f"bridge-agent {__version__}, {room_line(config)}", sys.stdout)
    return overall_status(results).exit_code
