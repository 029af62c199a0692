"""``bridge-agent run`` as a real process against a real HTTP sink on [::1]."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.conftest import run_agent
from tests.daemon_helpers import Agent, NotifySocket, start_sink, wait_for, write_config


def test_invalid_config_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[central]\ninterval_s = 0.5\n[agnet]\n')
    result = run_agent("--config", str(config), "run", timeout=20)
    assert result.returncode == 78
    assert "central.interval_s" in result.stderr and "agnet" in result.stderr


def test_missing_config_file_exits_78(tmp_path: Path) -> None:
    result = run_agent("--config", str(tmp_path / "nope.toml"), "run", timeout=20)
    assert result.returncode == 78 and "does not exist" in result.stderr


def test_waits_for_configuration_then_starts_when_the_file_is_edited(tmp_path: Path) -> None:
    sink = start_sink()
    notify = NotifySocket(tmp_path / "notify")
    config = tmp_path / "agent.toml"
    # As installed: a valid file without room.id, central.url or token.
    config.write_text('[agent]\nstate_dir = "state"\nruntime_dir = "run"\n')
    agent = Agent(config, env={"NOTIFY_SOCKET": str(notify.path)})
    try:
        wait_for(lambda: any("STATUS=waiting for configuration" in m for m in notify.messages), 15, what="waiting")
        assert any(m.startswith("READY=1") for m in notify.messages)  # no start timeout, no crash loop
        time.sleep(1.5)
        assert agent.process.poll() is None and not sink.requests
        state = json.loads((tmp_path / "run/status.json").read_text())
        assert state["state"] == "waiting for configuration"
        assert any("room.id" in p for p in state["problems"])
        write_config(tmp_path, sink.url)
        wait_for(lambda: sink.requests, 15, what="first heartbeat after enrolment")
        assert sink.bodies()[0]["room_id"] == "room-1"
        assert agent.terminate() == 0
    finally:
        if agent.process.poll() is None:
            agent.kill()
        notify.close()
        sink.stop()
    assert "t0k3n" not in agent.log


def test_sd_notify_ready_watchdog_status(tmp_path: Path) -> None:
    sink = start_sink()
    notify = NotifySocket(tmp_path / "notify")
    agent = Agent(write_config(tmp_path, sink.url),
                  env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "2000000"})
    try:
        wait_for(lambda: sum(m == "WATCHDOG=1" for m in notify.messages) >= 3, 20, what="watchdog pings")
        ready = [m for m in notify.messages if m.startswith("READY=1")]
        assert len(ready) == 1
        assert ready[0].split("\n")[1].startswith("STATUS=")
        statuses = [m for m in notify.messages if m.startswith("STATUS=")]
        assert any("seq " in s and "spool " in s for s in statuses)
        assert agent.terminate() == 0
    finally:
        notify.close()
        sink.stop()
    assert notify.messages[-1] == "STOPPING=1"


def test_sigterm_during_a_hanging_request_exits_0_within_5s(tmp_path: Path) -> None:
    import socket

    # A collector that accepts connections and never answers.
    silent = socket.socket(socket.AF_INET6)
    silent.bind(("::1", 0))
    silent.listen(16)
    url = f"http://[::1]:{silent.getsockname()[1]}/api/v1/heartbeat"
    agent = Agent(write_config(tmp_path, url, extra="", interval_s=1))
    try:
        wait_for(lambda: (tmp_path / "state/spool").is_dir() and "heartbeat.spooled" in agent.log, 20, what="spooling")
        time.sleep(0.5)
        started = time.monotonic()
        agent.process.send_signal(signal.SIGTERM)
        code = agent.process.wait(10)
        took = time.monotonic() - started
    finally:
        if agent.process.poll() is None:
            agent.kill()
        silent.close()
    assert code == 0 and took < 5, (code, took)
    assert "event=agent.stopped exit_code=0 clean=True" in agent.log
    # Every spooled heartbeat is complete JSON.
    for path in (tmp_path / "state/spool").glob("*.json"):
        json.loads(path.read_bytes())


def test_reload_valid_and_invalid_edits(tmp_path: Path) -> None:
    sink = start_sink()
    # splay_s = 0: the first heartbeat at once, not within 30 s (the phase is tested on its own).
    config = write_config(tmp_path, sink.url, interval_s=30, extra="splay_s = 0")
    agent = Agent(config)
    try:
        wait_for(lambda: sink.requests, 20, what="first heartbeat")
        # A valid edit saved as editors do (new file renamed over the old): the next heartbeat
        # comes at once and carries it.
        edited = tmp_path / ".agent.toml.swp"
        edited.write_text(config.read_text().replace('name = "Phòng thử"', 'name = "Phòng mới"'))
        os.replace(edited, config)
        wait_for(lambda: any(b["room"].get("name") == "Phòng mới" for b in sink.bodies()), 10, what="valid reload")
        # An invalid edit: the old configuration keeps running, the config check fails.
        good = config.read_text()
        config.write_text(good.replace("interval_s = 30", "interval_s = 0"))
        last = wait_for(lambda: [b for b in sink.bodies() if b["status"] == "fail"], 10, what="config fail")[-1]
        check = next(c for c in last["checks"] if c["name"] == "config")
        assert check["status"] == "fail" and "central.interval_s" in check["summary"]
        assert last["interval_s"] == 30 and last["room"]["name"] == "Phòng mới"
        wait_for(lambda: "central.interval_s" in (json.loads((tmp_path / "run/status.json").read_text())
                                                   .get("config_error") or ""), 5, what="config_error in state")
        # Fixed again, then SIGHUP also reloads.
        config.write_text(good.replace('name = "Phòng mới"', 'name = "Phòng ba"'))
        wait_for(lambda: sink.bodies()[-1]["status"] != "fail", 10, what="recovery")
        count = len(sink.requests)
        agent.process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(sink.requests) > count, 10, what="heartbeat after SIGHUP")
        assert sink.bodies()[-1]["room"]["name"] == "Phòng ba"
        assert agent.process.poll() is None
        assert agent.terminate() == 0
    finally:
        if agent.process.poll() is None:
            agent.kill()
        sink.stop()
    assert "event=config.rejected" in agent.log and "event=config.reloaded" in agent.log


def test_spool_full_drops_oldest_and_reports_count(tmp_path: Path) -> None:
    sink = start_sink(default=503)
    config = write_config(tmp_path, sink.url, interval_s=1)
    config.write_text(config.read_text().replace('runtime_dir = "run"', 'runtime_dir = "run"\nspool_max_heartbeats = 3'))
    agent = Agent(config)
    try:
        wait_for(lambda: "event=spool.dropped" in agent.log and "seq=6 " in agent.log, 30, what="drops")
        sink.default = 200
        # The collector is back: the 3 kept heartbeats and later ones arrive (after the backoff wait).
        wait_for(lambda: any(b["spool"]["dropped"] for b in sink.accepted()), 30, what="drop count")
        state = run_agent("--config", str(config), "status", "--json")
        human = run_agent("--config", str(config), "status")
        assert agent.terminate() == 0
    finally:
        if agent.process.poll() is None:
            agent.kill()
        sink.stop()
    delivered = {}
    for body in sink.accepted():
        delivered.setdefault(body["seq"], body)
    waiting = {int(p.stem): json.loads(p.read_bytes()) for p in (tmp_path / "state/spool").glob("*.json")}
    assert min(delivered) > 1  # the oldest were dropped
    # Every heartbeat neither delivered nor still waiting was dropped, and counted exactly once.
    everything = {**delivered, **waiting}
    not_yet_reported = int((tmp_path / "state/spool/dropped").read_text())
    reported = sum(b["spool"]["dropped"] for b in everything.values()) + not_yet_reported
    assert reported == len(set(range(1, max(everything) + 1)) - set(everything))
    assert state.returncode in (0, 1, 2)
    assert "bridge-agent service: running" in human.stdout and "last delivery:" in human.stdout
    assert "spool:" in human.stdout and "config" in human.stdout
    doc = json.loads(state.stdout)
    assert doc["state"] == "running" and doc["spool"]["depth"] >= 0 and doc["last_delivery"]["seq"]
