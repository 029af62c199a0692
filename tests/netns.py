"""Network namespaces for the network tests: a room and a control centre joined by a veth pair.

Names are unique per test process (``br-net-<pid>-<n>``) so several suites can
build namespaces on one machine at once. Everything built is torn down,
including processes started inside and ``/etc/netns/<room>/`` files.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO

_counter = itertools.count(1)
ROOM_IF = "v0"
CENTRE_IF = "v1"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def netns_available() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root for network namespaces (ip netns); CI runs as root"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip) for network namespaces"
    return None


@dataclass
class Link:
    """A room namespace and a control-centre namespace joined by ``v0`` <-> ``v1``."""

    room_cidr: str | None = "fd00:b1::2/64"
    centre_cidr: str = "fd00:b1::1/64"
    room: str = ""
    centre: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)
    # The responder's database, with one room enrolled, and that room's token file.
    work: Path | None = None

    def __post_init__(self) -> None:
        n = next(_counter)
        self.room = f"br-net-{os.getpid()}-{n}-room"
        self.centre = f"br-net-{os.getpid()}-{n}-centre"

    @property
    def centre_address(self) -> str:
        return self.centre_cidr.split("/")[0]

    @property
    def room_address(self) -> str | None:
        return self.room_cidr.split("/")[0] if self.room_cidr else None

    @property
    def etc(self) -> Path:
        return Path("/etc/netns") / self.room

    def up(self) -> "Link":
        for ns in (self.room, self.centre):
            ip("netns", "add", ns)
            # Duplicate address detection would leave link-local addresses tentative for a second.
            self.run(
                ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad", check=True
            )
            ip("-n", ns, "link", "set", "lo", "up")
        ip(
            "link",
            "add",
            ROOM_IF,
            "netns",
            self.room,
            "type",
            "veth",
            "peer",
            "name",
            CENTRE_IF,
            "netns",
            self.centre,
        )
        for ns, ifname, cidr in (
            (self.room, ROOM_IF, self.room_cidr),
            (self.centre, CENTRE_IF, self.centre_cidr),
        ):
            if cidr:
                ip("-n", ns, "addr", "add", cidr, "dev", ifname, "nodad")
            ip("-n", ns, "link", "set", ifname, "up")
        self._wait_operstate_up()
        self.etc.mkdir(parents=True, exist_ok=True)
        # Names not in hosts fail fast: nothing listens on [::1]:53 inside the namespace.
        (self.etc / "resolv.conf").write_text("nameserver ::1\noptions timeout:1 attempts:1\n")
        self.hosts("")
        return self

    def _wait_operstate_up(self, timeout: float = 5.0) -> None:
        """Until the kernel's link watcher has set both ends UP (it runs up to a second late).

        Before that the device has no working qdisc and drops packets: the first TCP
        SYN on a fresh link would wait out its one-second retransmission timer.
        """
        deadline = time.monotonic() + timeout
        for ns, ifname in ((self.room, ROOM_IF), (self.centre, CENTRE_IF)):
            while "state UP" not in self.run(ns, "ip", "-o", "link", "show", ifname).stdout:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{ifname} in {ns} did not come up")
                time.sleep(0.05)

    def hosts(self, lines: str) -> None:
        """The room's /etc/hosts (``ip netns exec`` bind-mounts it over /etc/hosts)."""
        (self.etc / "hosts").write_text(
            "127.0.0.1 localhost\n::1 localhost ip6-localhost\n" + lines
        )

    def shape(self, mbit: float) -> None:
        """Token-bucket shaping of both directions to ``mbit`` Mbit/s."""
        burst = max(32_000, int(mbit * 1e6 / 8 / 250))  # about 4 ms of data at that rate
        for ns, ifname in ((self.room, ROOM_IF), (self.centre, CENTRE_IF)):
            self.run(
                ns,
                "tc",
                "qdisc",
                "replace",
                "dev",
                ifname,
                "root",
                "tbf",
                "rate",
                f"{mbit}mbit",
                "burst",
                str(burst),
                "latency",
                "50ms",
                check=True,
            )

    def run(
        self, ns: str, *cmd: str, check: bool = False, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *cmd],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def start(self, ns: str, *cmd: str, cwd: Path | None = None) -> subprocess.Popen:
        """A long-running process inside ``ns``, stopped at teardown."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=cwd or REPO,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    @property
    def token_file(self) -> Path:
        assert self.work is not None, "start_responder() first"
        return self.work / "token"

    @property
    def agent_central(self) -> str:
        """The ``[central]`` lines an agent needs for the responder: the enrolled room's token,
        in clear on this test network (the responder runs with ``--insecure-http``)."""
        return f'[central]\ntoken_file = "{self.token_file}"\nallow_insecure_http = true\n'

    def start_responder(self, http_port: int = 8080, stamp_port: int = 8862) -> subprocess.Popen:
        self.work = Path(tempfile.mkdtemp(prefix="br-net-"))
        db = self.work / "collector.db"
        enrolled = subprocess.run([sys.executable, "-m", "collector", "--db", str(db), "room", "add", "netns-room"],
                                  cwd=REPO, capture_output=True, text=True, check=True)
        self.token_file.write_text(enrolled.stdout)
        proc = self.start(
            self.centre,
            sys.executable,
            "-m",
            "collector",
            "--db",
            str(db),
            "probe-serve",
            "--listen",
            f"[{self.centre_address}]:{http_port}",
            "--stamp-port",
            str(stamp_port),
            "--insecure-http",
        )
        self.wait_tcp(self.centre, self.centre_address, http_port, proc)
        return proc

    def wait_tcp(
        self,
        ns: str,
        address: str,
        port: int,
        proc: subprocess.Popen | None = None,
        timeout: float = 20,
    ) -> None:
        """Until something accepts TCP on ``[address]:port`` inside ``ns``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = self.run(
                ns,
                sys.executable,
                "-c",
                "import socket,sys\n"
                f"s=socket.socket(socket.AF_INET6)\ns.settimeout(1)\nsys.exit(s.connect_ex(({address!r},{port})))",
            )
            if probe.returncode == 0:
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"server in {ns} exited: {proc.stderr.read() if proc.stderr else ''}"
                )
            time.sleep(0.2)
        raise TimeoutError(f"nothing listening on [{address}]:{port} in {ns}")

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc.stderr:
            proc.stderr.close()

    def agent(
        self, *args: str, ns: str | None = None, wrap: tuple[str, ...] = (), timeout: float = 90
    ) -> subprocess.CompletedProcess:
        """``python -m agent ARGS`` inside the room namespace, as a technician would run it."""
        env_clean = ("env", "-u", "BRIDGE_AGENT_CONFIG", "NO_COLOR=1")
        return subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns or self.room,
                *env_clean,
                *wrap,
                sys.executable,
                "-m",
                "agent",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )

    def down(self) -> None:
        for proc in self.procs:
            self.stop(proc)
        for ns in (self.room, self.centre):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.etc, ignore_errors=True)
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)


@contextmanager
def built_link(responder: tuple[int, int] | None = None, **addresses: str | None) -> Iterator[Link]:
    """A Link built for the block and removed after it; the test skips without root.

    ``responder=(http_port, stamp_port)`` starts the responder in the control centre.
    """
    reason = netns_available()
    if reason:
        pytest.skip(reason)
    link = Link(**addresses)  # type: ignore[arg-type]
    try:
        link.up()
        if responder:
            link.start_responder(*responder)
        yield link
    finally:
        link.down()
