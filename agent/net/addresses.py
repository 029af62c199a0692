"""IPv6 addresses of this host, parsed from ``/proc/net/if_inet6``.

Each line: address (32 hex digits), ifindex, prefix length, scope, flags (all
hex), interface name, e.g.::

    20010db8000000000000000000000002 02 40 00 80     eth0

Flags are the kernel's IFA_F_* bits (include/uapi/linux/if_addr.h).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

IFA_F_TEMPORARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80

# Address states that make an address unusable as a source, in words.
_BAD_FLAGS = (
    (IFA_F_DADFAILED, "dadfailed"),
    (IFA_F_TENTATIVE, "tentative"),
    (IFA_F_DEPRECATED, "deprecated"),
)


@dataclass(frozen=True)
class Inet6Address:
    address: ipaddress.IPv6Address
    ifindex: int
    prefix_len: int
    scope: int
    flags: int
    interface: str

    @property
    def problems(self) -> list[str]:
        """Why this address cannot be used as a source ("tentative", ...); empty when usable."""
        return [word for bit, word in _BAD_FLAGS if self.flags & bit]

    @property
    def kind(self) -> str:
        """ "global", "ula", "link-local", "loopback" or "other"."""
        addr = self.address
        if addr.is_loopback:
            return "loopback"
        if addr.is_link_local:
            return "link-local"
        if addr in ipaddress.IPv6Network("fc00::/7"):
            return "ula"
        if addr in ipaddress.IPv6Network("2000::/3"):
            return "global"
        return "other"

    @property
    def routable(self) -> bool:
        """Global unicast or ULA: usable towards the city WAN."""
        return self.kind in ("global", "ula")

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix_len}"


def parse_if_inet6(text: str) -> list[Inet6Address]:
    """Every well-formed line of ``/proc/net/if_inet6``; malformed lines are ignored."""
    result = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or len(fields[0]) != 32:
            continue
        try:
            address = ipaddress.IPv6Address(int(fields[0], 16))
            ifindex, prefix_len, scope, flags = (int(f, 16) for f in fields[1:5])
        except ValueError:
            continue
        result.append(Inet6Address(address, ifindex, prefix_len, scope, flags, fields[5]))
    return result


def read_addresses(proc_root: Path) -> list[Inet6Address]:
    """This host's IPv6 addresses; empty when IPv6 is disabled (the file is absent)."""
    try:
        text = (proc_root / "net" / "if_inet6").read_text()
    except FileNotFoundError:
        return []
    return parse_if_inet6(text)


def interface_of(address: str, addresses: list[Inet6Address]) -> str | None:
    """The interface carrying ``address``, when it is one of ours."""
    wanted = ipaddress.IPv6Address(address.split("%")[0])
    for entry in addresses:
        if entry.address == wanted:
            return entry.interface
    return None
