"""A umockdev testbed driven line by line over stdin, for the device tests and benchmark.

Run it under ``umockdev-wrapper`` (uevents are only delivered from a process
that has the preload library). Commands, one per line; each answers one line
starting with ``ok`` or ``error``:

    root                  the testbed directory (UMOCKDEV_DIR for the processes under test)
    load NAME             add tests/fixtures/umockdev/NAME.umockdev, no uevents (cold plug)
    plug NAME             add it and send "add" uevents, parents first (hot plug)
    unplug NAME           send "remove" uevents, children first, and remove the devices
    proc NAME             use tests/fixtures/proc-asound/NAME/proc as the testbed's /proc overlay
    quit

Fixture files share parents (the USB controller): a device that is already
in the testbed is not added again, and stays until the last fixture using it
is unplugged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WRAPPER = shutil.which("umockdev-wrapper")


def blocks(name: str) -> list[tuple[str, str]]:
    """(devpath, record) per device of a fixture file, parents first."""
    text = (FIXTURES / "umockdev" / f"{name}.umockdev").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    records = [r.strip() + "\n" for r in "\n".join(lines).split("\n\n") if r.strip()]
    found = [(r.splitlines()[0].removeprefix("P: ").strip(), r) for r in records]
    return sorted(found, key=lambda item: item[0].count("/"))


class Bed:
    def __init__(self) -> None:
        import gi

        gi.require_version("UMockdev", "1.0")
        from gi.repository import UMockdev

        self.testbed = UMockdev.Testbed.new()
        self.root = Path(self.testbed.get_root_dir())
        self.users: dict[str, set[str]] = {}  # devpath -> fixtures using it

    def add(self, name: str, uevents: bool) -> None:
        added = []
        for devpath, record in blocks(name):
            if devpath not in self.users:
                self.testbed.add_from_string(record)
                added.append(devpath)
            self.users.setdefault(devpath, set()).add(name)
        if uevents:
            for devpath in added:
                self.testbed.uevent("/sys" + devpath, "add")

    def unplug(self, name: str) -> None:
        for devpath, _ in reversed(blocks(name)):
            users = self.users.get(devpath, set())
            users.discard(name)
            if not users and devpath in self.users:
                del self.users[devpath]
                self.testbed.uevent("/sys" + devpath, "remove")
                self.testbed.remove_device("/sys" + devpath)

    def proc(self, name: str) -> None:
        target = self.root / "proc"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(FIXTURES / "proc-asound" / name / "proc", target)


class BedClient:
    """The test side: starts this script under umockdev-wrapper and sends it commands."""

    def __init__(self) -> None:
        if WRAPPER is None:
            raise RuntimeError("umockdev-wrapper not found (Debian package umockdev)")
        self.proc = subprocess.Popen(
            [WRAPPER, sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.root = Path(self.send("root"))

    def send(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply.startswith("ok"):
            raise RuntimeError(f"testbed: {command!r} -> {reply or 'no answer (crashed?)'}")
        return reply[3:]

    def env(self) -> dict[str, str]:
        """Environment for a process that should see this testbed instead of the machine's devices."""
        return {**os.environ, "UMOCKDEV_DIR": str(self.root),
                "LD_PRELOAD": "libumockdev-preload.so.0:" + os.environ.get("LD_PRELOAD", "")}

    def close(self) -> None:
        try:
            self.send("quit")
        except (RuntimeError, BrokenPipeError, OSError):
            pass
        try:
            self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def main() -> int:
    bed = Bed()
    actions = {
        "load": lambda arg: bed.add(arg, uevents=False),
        "plug": lambda arg: bed.add(arg, uevents=True),
        "unplug": bed.unplug,
        "proc": bed.proc,
    }
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        try:
            if command == "quit":
                print("ok", flush=True)
                break
            if command == "root":
                print(f"ok {bed.root}", flush=True)
                continue
            actions[command](arg)
            print("ok", flush=True)
        except Exception as exc:  # report to the test instead of dying mid-protocol
            print(f"error {command}: {exc}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
