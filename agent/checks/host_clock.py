"""host.clock: is the system clock synchronised? (TLS and event times depend on it.)

The kernel's own view, from ``adjtimex(2)`` in read-only mode: the return value
TIME_ERROR or the STA_UNSYNC status bit mean no NTP client (chrony,
systemd-timesyncd) is disciplining the clock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

from agent.checks.base import CheckContext
from agent.result import CheckResult, Status

NAME = "host.clock"

TIME_ERROR = 5
STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>; the trailing padding is part of the ABI.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class ClockState:
    state: int  # adjtimex return value: 0 TIME_OK ... 5 TIME_ERROR
    status: int  # STA_* bits
    maxerror_us: int
    esterror_us: int


def read_clock() -> ClockState:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    timex = _Timex()  # modes = 0: read only, needs no privilege
    state = libc.adjtimex(ctypes.byref(timex))
    if state < 0:
        raise OSError(ctypes.get_errno(), "adjtimex failed")
    return ClockState(state, timex.status, timex.maxerror, timex.esterror)


def assess_clock(clock: ClockState, require_sync: bool) -> CheckResult:
    synced = clock.state != TIME_ERROR and not clock.status & STA_UNSYNC
    details = {"maxerror_us": clock.maxerror_us, "esterror_us": clock.esterror_us}
    if synced:
        return CheckResult(
            NAME,
            Status.OK,
            f"clock synchronised (estimated error {clock.esterror_us / 1000:.1f} ms)",
            details=details,
            code="host.clock.ok", params={"error_ms": round(clock.esterror_us / 1000, 1)},
        )
    return CheckResult(
        NAME,
        Status.FAIL if require_sync else Status.WARN,
        "clock not synchronised: no NTP client is disciplining it (check chrony or systemd-timesyncd)",
        details=details,
        code="host.clock.unsynchronised",
    )


def check_clock(ctx: CheckContext) -> CheckResult:
    return assess_clock(read_clock(), ctx.config.policy.require_clock_sync)
