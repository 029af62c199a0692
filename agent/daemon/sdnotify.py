"""systemd's notification protocol, spoken directly (no libsystemd).

The service manager passes ``NOTIFY_SOCKET``: a filesystem path, or an
abstract socket name written with a leading ``@``. Each message is one
AF_UNIX datagram of newline-separated ``KEY=VALUE`` lines. Outside systemd
(no ``NOTIFY_SOCKET``) every call is a no-op, so the daemon runs the same way
in a terminal.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes:
    """The address to send to: ``@name`` is the abstract socket ``\\0name``."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of ``WATCHDOG_USEC``, as sd_watchdog_enabled advises.

    None when the watchdog is off or meant for another process (``WATCHDOG_PID``).
    """
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000 / 2


@dataclass
class Notifier:
    """Sends notifications to the service manager; silent when there is none."""

    address: str | bytes | None = None
    watchdog_s: float | None = None
    # Once STOPPING=1 is sent, a worker thread still finishing its cycle must not
    # follow it with a STATUS= that would read as if the service were running on.
    _stopped: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Notifier":
        environ = os.environ if environ is None else environ
        value = environ.get("NOTIFY_SOCKET", "")
        address = socket_address(value) if value else None
        return cls(address, watchdog_interval(environ, os.getpid()))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str) -> bool:
        """Send ``KEY=value`` lines (keyword names upper-cased); True when sent."""
        if self.address is None:
            return False
        lines = []
        for key, value in fields.items():
            # A newline would start a new assignment: keep a status to one line.
            lines.append(f"{key.upper()}={' '.join(str(value).split())}")
        payload = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, self.address)
        except OSError as err:
            log.warning("event=sd_notify.failed error=%r", str(err))
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify(ready="1", status=status)

    def status(self, status: str) -> bool:
        return False if self._stopped else self.notify(status=status)

    def watchdog(self) -> bool:
        return False if self._stopped else self.notify(watchdog="1")

    def stopping(self) -> bool:
        self._stopped = True
        return self.notify(stopping="1")

    def reloading(self) -> bool:
        return self.notify(reloading="1")
