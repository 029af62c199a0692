"""Interfaces and their link state, read from ``/sys/class/net``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IFF_UP = 0x1
IFF_LOOPBACK = 0x8


@dataclass(frozen=True)
class Link:
    name: str
    up: bool  # administratively up (IFF_UP)
    carrier: bool  # the cable/peer is there (carrier = 1)
    loopback: bool
    operstate: str


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:  # carrier is unreadable (EINVAL) while the interface is down
        return ""


def parse_link(name: str, flags: str, carrier: str, operstate: str) -> Link:
    """A Link from the raw sysfs values (``flags`` is hex, e.g. ``0x1003``)."""
    try:
        bits = int(flags, 16)
    except ValueError:
        bits = 0
    return Link(
        name=name,
        up=bool(bits & IFF_UP),
        carrier=carrier == "1",
        loopback=bool(bits & IFF_LOOPBACK) or name == "lo",
        operstate=operstate or "unknown",
    )


def read_links(sys_root: Path) -> list[Link]:
    """Every interface under ``sys_root/class/net``, sorted by name."""
    base = sys_root / "class" / "net"
    links = []
    try:
        entries = sorted(p for p in base.iterdir())
    except OSError:
        return []
    for entry in entries:
        links.append(
            parse_link(
                entry.name,
                _read(entry / "flags"),
                _read(entry / "carrier"),
                _read(entry / "operstate"),
            )
        )
    return links
