"""probe.upload / probe.download over token-bucket shaped links, HTTP streams and iperf3.

The figures must land near the shaped rate: goodput is the rate minus
Ethernet/IPv6/TCP headers (about 6% at 1500 bytes MTU), so the window is
generous; the benchmark (bench/bench_bandwidth.py) measures accuracy properly.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO
from tests.netns import Link, built_link

pytestmark = pytest.mark.root

HTTP_PORT = 8080
STAMP_PORT = 8862


@pytest.fixture(scope="module")
def link() -> Iterator[Link]:
    with built_link(responder=(HTTP_PORT, STAMP_PORT)) as built:
        yield built


def config(tmp_path: Path, link: Link, mode: str = "http", duration: int = 3) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        link.agent_central
        + f'[mcu]\nhost = "{link.centre_address}"\ntcp_ports = [{HTTP_PORT}]\n'
        f'[probe]\nhost = "{link.centre_address}"\n'
        f"http_port = {HTTP_PORT}\nstamp_port = {STAMP_PORT}\nduration_s = {duration}\ntls = false\n"
        f'streams = 4\nmode = "{mode}"\n'
        "[policy]\nmin_upload_mbps = 20\nmin_download_mbps = 20\n"
    )
    return path


def bandwidth(link: Link, path: Path) -> dict[str, dict]:
    proc = link.agent("netcheck", "--json", "--config", str(path))
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    return {name: checks[name] for name in ("probe.upload", "probe.download")}


@pytest.mark.parametrize("mbit", [10, 50, 200])
def test_http_goodput_follows_the_shaped_rate(link: Link, tmp_path: Path, mbit: int) -> None:
    link.shape(mbit)
    checks = bandwidth(link, config(tmp_path, link))
    for name, check in checks.items():
        assert check["unit"] == "Mbit/s"
        # About 0.94 of the rate on an idle machine; an agent starved of CPU reads slower.
        assert 0.8 * mbit <= check["observed"] <= 1.02 * mbit, check
        # Policy asks for 20 Mbit/s: the 10 Mbit/s link fails with the figure in words.
        if mbit < 20:
            assert check["status"] == "fail"
            direction = name.split(".")[1]
            assert check["summary"].startswith(f"{direction} too slow: {direction} ")
            assert check["summary"].endswith("need at least 20 Mbit/s")
        else:
            assert check["status"] == "ok"


def test_iperf3_mode(link: Link, tmp_path: Path) -> None:
    if shutil.which("iperf3") is None:
        pytest.skip("needs iperf3 (Debian package iperf3)")
    link.shape(10)
    server = link.start(link.centre, "iperf3", "--server", "--bind", link.centre_address)
    link.wait_tcp(link.centre, link.centre_address, 5201, server)
    try:
        checks = bandwidth(link, config(tmp_path, link, mode="iperf3", duration=2))
    finally:
        link.stop(server)
    for check in checks.values():
        assert check["details"]["mode"] == "iperf3"
        assert check["observed"] is not None, check["summary"]
        assert 8.5 <= check["observed"] <= 10.5, check
        assert f"iperf3 at [{link.centre_address}]:5201" in check["summary"]


def test_iperf3_server_absent(link: Link, tmp_path: Path) -> None:
    checks = bandwidth(link, config(tmp_path, link, mode="iperf3", duration=1))
    for check in checks.values():
        assert check["status"] == "fail"
        assert check["summary"].endswith("iperf3: unable to connect to server: Connection refused")


def test_progress_line_only_on_a_terminal(link: Link, tmp_path: Path) -> None:
    link.shape(50)
    path = config(tmp_path, link, duration=1)
    command = [
        "ip",
        "netns",
        "exec",
        link.room,
        "env",
        "-u",
        "NO_COLOR",
        "-u",
        "BRIDGE_AGENT_CONFIG",
        sys.executable,
        "-m",
        "agent",
        "netcheck",
        "--config",
        str(path),
    ]
    for as_json in (False, True):
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            command + (["--json"] if as_json else []),
            stdout=follower,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        os.close(follower)
        output = b""
        while True:
            try:
                piece = os.read(leader, 65536)
            except OSError:
                break
            if not piece:
                break
            output += piece
        proc.wait(60)
        os.close(leader)
        text = output.decode()
        if as_json:
            assert "\r" not in text.replace("\r\n", "\n")
            assert json.loads(text)["checks"]
        else:
            assert "\rprobe.rtt: STAMP 100/100" in text
            assert "\rprobe.download: download" in text and "Mbit/s" in text
            assert "overall:" in text


def test_no_bandwidth_leaves_the_link_alone(link: Link, tmp_path: Path) -> None:
    proc = link.agent(
        "netcheck", "--json", "--no-bandwidth", "--config", str(config(tmp_path, link))
    )
    names = [c["name"] for c in json.loads(proc.stdout)["checks"]]
    assert "probe.upload" not in names and "probe.download" not in names and "probe.rtt" in names


def test_iperf3_server_busy_is_a_skip_not_a_failure(link: Link, tmp_path: Path) -> None:
    if shutil.which("iperf3") is None:
        pytest.skip("needs iperf3 (Debian package iperf3)")
    link.shape(10)
    server = link.start(link.centre, "iperf3", "--server", "--bind", link.centre_address)
    link.wait_tcp(link.centre, link.centre_address, 5201, server)
    # Another room's long test holds the one-test-at-a-time server for the agent's retries.
    other = link.start(link.room, "iperf3", "--client", link.centre_address, "-6", "--time", "30")
    try:
        time.sleep(1)
        checks = bandwidth(link, config(tmp_path, link, mode="iperf3", duration=1))
    finally:
        link.stop(other)
        link.stop(server)
    for check in checks.values():
        assert check["status"] == "skip", check
        assert "busy with another room's test" in check["summary"]
        assert check["code"] == "bandwidth.responder_busy"
