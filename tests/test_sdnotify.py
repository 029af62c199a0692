"""sd_notify over a real AF_UNIX datagram socket, path and abstract names."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from agent.daemon.sdnotify import Notifier, socket_address, watchdog_interval


def _receiver(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2)
    return sock


def test_path_socket_receives_ready_and_status(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with _receiver(path) as sock:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
        assert notifier.ready("ok; seq 1\nsecond line")
        assert sock.recv(4096) == b"READY=1\nSTATUS=ok; seq 1 second line"
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_nothing_follows_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with _receiver(path) as sock:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
        assert notifier.stopping()
        assert not notifier.status("ok; seq 9")
        assert not notifier.watchdog()
        assert sock.recv(4096) == b"STOPPING=1"
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(4096)


def test_abstract_socket_name_with_at_sign() -> None:
    name = f"bridge-agent-test-{os.getpid()}"
    with _receiver(b"\0" + name.encode()) as sock:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.status("waiting for configuration")
        assert sock.recv(4096) == b"STATUS=waiting for configuration"


def test_no_socket_is_a_silent_no_op() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.ready("x") is False


def test_missing_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert notifier.watchdog() is False


def test_address_parsing() -> None:
    assert socket_address("@abc") == b"\0abc"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "20000000"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "42"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "43"}, None),
    ],
)
def test_watchdog_interval_is_half_and_honours_pid(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env, pid=42) == expected
