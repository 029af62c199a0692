"""A room's device tree under umockdev, controlled from a test through stdin.

Run under ``umockdev-wrapper`` (the preload must be active in the process that
sends uevents). It loads ``.umockdev`` records into a testbed, starts the
command after ``--`` inside the same testbed, then obeys stdin lines:

    remove SYSPATH   uevent "remove" for SYSPATH, then remove it from the tree
    quit             stop the command (SIGTERM) and exit

and answers each with one line, ``removed <time.time()>`` or ``error <why>``.
The first line it prints is ``ready <pid of the command>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402


def main(argv: list[str]) -> int:
    split = argv.index("--")
    records, command = argv[:split], argv[split + 1:]
    testbed = UMockdev.Testbed.new()
    for record in records:
        testbed.add_from_file(record)
    # The testbed sets UMOCKDEV_DIR with g_setenv, which os.environ does not see: pass it on.
    env = dict(os.environ, UMOCKDEV_DIR=testbed.get_root_dir())
    child = subprocess.Popen(command, env=env)
    print(f"ready {child.pid}", flush=True)
    for line in sys.stdin:
        verb, _, arg = line.strip().partition(" ")
        if verb == "remove":
            try:
                testbed.uevent(arg, "remove")
                testbed.remove_device(arg)
            except Exception as err:  # report to the test, keep obeying
                print(f"error {err}", flush=True)
                continue
            print(f"removed {time.time()}", flush=True)
        elif verb == "quit":
            break
    child.terminate()
    return child.wait(10)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
