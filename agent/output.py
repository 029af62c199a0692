"""Rendering shared by every subcommand: the human report and the JSON document.

Colour only on a terminal and never when ``NO_COLOR`` is set (no-color.org).
Text that came from the network goes through ``printable`` first.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from typing import IO, Any

from agent import __version__
from agent.config import AgentConfig
from agent.result import CheckResult, Status, overall_status

_COLOURS = {Status.OK: "32", Status.WARN: "33", Status.FAIL: "31;1", Status.SKIP: "2"}
# C0 and C1 controls and DEL (terminal escapes, carriage returns that overwrite a line, line
# breaks that forge log lines), and the bidirectional overrides that reorder what is shown.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]+")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text from the network (a SIP reason, an HTTP error, a room name) safe for a terminal or a log.

    Every run of control characters becomes one space: "a\\r\\nb" stays two words, an
    escape sequence loses its ESC and cannot act; the invisible bidirectional marks go.
    The result is stripped at both ends.
    """
    return _CONTROLS.sub(" ", _BIDI.sub("", text)).strip()


def use_colour(stream: IO[str]) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def paint(text: str, status: Status, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour else text


def iso_utc(unix_time: float, timespec: str = "seconds") -> str:
    """A Unix time as ISO 8601 in UTC with a ``Z``, as every document of the agent writes times."""
    return datetime.fromtimestamp(unix_time, timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_now() -> str:
    return iso_utc(time.time())


def report_json(config: AgentConfig, results: list[CheckResult]) -> dict[str, Any]:
    return {
        "status": overall_status(results).value,
        "room": config.room_json(),
        "checks": [r.to_json() for r in results],
        "agent_version": __version__,
        "generated_at": utc_now(),
    }


def print_json(document: Any, stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    json.dump(document, stream, ensure_ascii=False, indent=2)
    stream.write("\n")
    stream.flush()


def room_line(config: AgentConfig) -> str:
    room = config.room
    if not room.id:
        return "room: not enrolled (room.id not set)"
    line = f"room {room.id}"
    if room.name:
        line += f" ({printable(room.name)})"
    if room.unit:
        line += f", {printable(room.unit)}"
    return line


def status_label(status: Status, colour: bool) -> str:
    return paint(f"{status.value.upper():<4}", status, colour)


def format_result(result: CheckResult, width: int, colour: bool) -> str:
    return f"  {status_label(result.status, colour)}  {result.name:<{width}}  {printable(result.summary)}"


def print_report(config: AgentConfig, results: list[CheckResult], stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    colour = use_colour(stream)
    stream.write(f"bridge-agent {__version__}, {room_line(config)}\n")
    width = max((len(r.name) for r in results), default=0)
    for result in results:
        stream.write(format_result(result, width, colour) + "\n")
    overall = overall_status(results)
    counts = {s: sum(1 for r in results if r.status is s) for s in Status}
    stream.write(
        f"overall: {paint(overall.value.upper(), overall, colour)}"
        f" ({counts[Status.FAIL]} failed, {counts[Status.WARN]} warnings,"
        f" {counts[Status.OK]} ok, {counts[Status.SKIP]} skipped)\n"
    )
    stream.flush()
