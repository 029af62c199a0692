"""12 rooms started at once against one responder, paced by the collector with --probe-slots 2.

A room namespace with twelve agents (one room each) and a control centre running the
collector (``serve --probe-slots 2``) and the responder (``probe-serve``, HTTP mode,
room to serve 4) as separate processes on one database. Without pacing the responder
would run up to 4 and refuse the rest as busy; paced it never runs more than 2, and
every room ends with a real figure.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_helpers import wait_for
from tests.netns import built_link

pytestmark = pytest.mark.root

ROOMS = 12
SLOTS = 2
COLLECTOR_PORT = 8443
HTTP_PORT = 8080
STAMP_PORT = 8862


def _config(directory: Path, room: str, centre: str, token_file: Path) -> Path:
    config = directory / "agent.toml"
    config.write_text(f"""
[room]
id = "{room}"
[central]
url = "http://[{centre}]:{COLLECTOR_PORT}/api/v1/heartbeat"
token_file = "{token_file}"
allow_insecure_http = true
interval_s = 1
splay_s = 0
timeout_s = 3
[mcu]
host = "{centre}"
tcp_ports = [{COLLECTOR_PORT}]
[probe]
host = "{centre}"
http_port = {HTTP_PORT}
stamp_port = {STAMP_PORT}
stamp_packets = 5
stamp_interval_ms = 10
duration_s = 1
streams = 1
every_s = 60
retry_s = 30
tls = false
[policy]
min_cameras = 0
min_microphones = 0
min_upload_mbps = 1
min_download_mbps = 1
require_clock_sync = false
[agent]
state_dir = "state"
runtime_dir = "run"
""")
    return config


def _checks(directory: Path) -> dict[str, Any]:
    try:
        state = json.loads((directory / "run/status.json").read_text())
    except (OSError, ValueError):
        return {}
    return {c["name"]: c for c in state.get("checks", [])}


def _measured(directory: Path) -> bool:
    checks = _checks(directory)
    return all(checks.get(n, {}).get("observed") is not None for n in ("probe.upload", "probe.download"))


def test_twelve_rooms_at_once_never_more_than_two_tests_and_none_busy(tmp_path: Path) -> None:
    with built_link(responder=(HTTP_PORT, STAMP_PORT)) as link:
        assert link.work is not None
        db = link.work / "collector.db"
        link.shape(100)
        collector = link.start(link.centre, sys.executable, "-m", "collector", "--db", str(db), "serve",
                               "--listen", f"[{link.centre_address}]:{COLLECTOR_PORT}", "--insecure-http",
                               "--probe-slots", str(SLOTS))
        link.wait_tcp(link.centre, link.centre_address, COLLECTOR_PORT, collector)
        rooms = []
        for n in range(1, ROOMS + 1):
            directory = tmp_path / f"room-{n}"
            directory.mkdir()
            token = link.run(link.centre, sys.executable, "-m", "collector", "--db", str(db),
                             "room", "add", f"room-{n}", check=True).stdout
            (directory / "token").write_text(token)
            rooms.append((directory, _config(directory, f"room-{n}", link.centre_address, directory / "token")))
        started = time.monotonic()
        for directory, config in rooms:
            link.start(link.room, "sh", "-c", f"cd {directory} && exec {sys.executable} -m agent --config {config}"
                                              f" run 2>>{directory / 'agent.log'}")
        wait_for(lambda: all(_measured(d) for d, _ in rooms), 240, interval=0.5,
                 what="every room's upload and download figures")
        took = time.monotonic() - started
        status = link.run(link.room, "python3", "-c",
                          f"import urllib.request; print(urllib.request.urlopen("
                          f"'http://[{link.centre_address}]:{HTTP_PORT}/api/v1/probe/status').read().decode())",
                          check=True).stdout
        served = json.loads(status)
        for directory, _ in rooms:
            checks = _checks(directory)
            for name in ("probe.upload", "probe.download"):
                assert checks[name]["status"] == "ok", (directory.name, checks[name])
                assert checks[name]["observed"] > 1, checks[name]
            log = (directory / "agent.log").read_text()
            assert "busy" not in log, log[-2000:]
        assert served["busy"] == 0, served
        assert served["rooms_peak"] <= SLOTS, served
        assert served["served"] >= 2 * ROOMS, served
        print(f"12 rooms measured in {took:.0f} s; responder peak {served['rooms_peak']} rooms,"
              f" {served['peak']} transfers, served {served['served']}")


def test_without_a_slot_answer_the_room_waits_a_random_delay_then_measures_on_its_own(tmp_path: Path) -> None:
    # The collector of central.url here is probe-serve alone: no slot endpoint (404), as
    # from a collector older than pacing.
    with built_link(responder=(HTTP_PORT, STAMP_PORT)) as link:
        config = _config(tmp_path, "netns-room", link.centre_address, link.token_file)
        text = config.read_text().replace(f":{COLLECTOR_PORT}/api/v1/heartbeat", f":{HTTP_PORT}/api/v1/heartbeat")
        config.write_text(text.replace("retry_s = 30", "retry_s = 4").replace(
            f"tcp_ports = [{COLLECTOR_PORT}]", f"tcp_ports = [{HTTP_PORT}]"))
        log = tmp_path / "agent.log"
        link.start(link.room, "sh", "-c", f"cd {tmp_path} && exec {sys.executable} -m agent --config {config}"
                                          f" run 2>>{log}")
        wait_for(lambda: _measured(tmp_path), 90, interval=0.5, what="the unpaced bandwidth test")
        text = log.read_text()
        assert "event=bandwidth.slot_unanswered" in text and "HTTP 404" in text
        delay = int(text.split("unpaced_in_s=", 1)[1].split()[0])
        assert 0 <= delay <= 4
        assert "event=bandwidth.unpaced" in text
        assert _checks(tmp_path)["probe.upload"]["status"] == "ok"
