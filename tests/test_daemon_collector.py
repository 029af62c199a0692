"""The service against the real collector on [::1]: outages and crashes lose and duplicate nothing."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from tests.collector_helpers import running_collector
from tests.daemon_helpers import Agent, wait_for, write_config
from tests.umockdev_bed import BedClient

ROOM = "room-1"


def _state(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / "run/status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _assert_exactly_once_in_order(rows: list[dict], last_seq: int) -> None:
    seqs = [row["seq"] for row in rows]
    assert seqs == list(range(1, last_seq + 1)), f"gaps or duplicates: {sorted(set(range(1, last_seq + 1)) - set(seqs))[:20]}"
    received = [row["received_at"] for row in rows]
    assert received == sorted(received), "delivered out of order"


def test_outage_of_50_heartbeats_every_seq_once_in_order(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=(ROOM,)) as collector:
        agent = Agent(write_config(tmp_path, collector.heartbeat_url, token=collector.tokens[ROOM], interval_s=1))
        try:
            wait_for(lambda: len(collector.heartbeats(ROOM)) >= 3, 30, what="first heartbeats")
            collector.stop()
            outage_from = _state(tmp_path)["seq"]
            wait_for(lambda: _state(tmp_path).get("seq", 0) >= outage_from + 50, 90, interval=0.5, what="50 spooled")
            assert _state(tmp_path)["spool"]["depth"] >= 45
            collector.start()
            target = _state(tmp_path)["seq"]
            wait_for(lambda: len(collector.heartbeats(ROOM)) >= target, 120, interval=0.5, what="catch-up")
            assert agent.terminate() == 0
            rows = collector.heartbeats(ROOM)
        finally:
            if agent.process.poll() is None:
                agent.kill()
    _assert_exactly_once_in_order(rows[:target], target)
    assert "event=heartbeat.retry" in agent.log
    assert collector.tokens[ROOM] not in agent.log


def test_kill_9_at_random_moments_100_times(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    # splay_s = 0: each short-lived agent spools at once, as the kill moments below are calibrated for.
    config = write_config(tmp_path, "http://[::1]:1/api/v1/heartbeat", interval_s=1, extra="splay_s = 0")
    spool = tmp_path / "state/spool"
    with running_collector(tmp_path, rooms=(ROOM,)) as collector:
        config.write_text(config.read_text().replace("http://[::1]:1/api/v1/heartbeat", collector.heartbeat_url))
        (tmp_path / "token").write_text(collector.tokens[ROOM] + "\n")
        collector.stop()  # first the agent only spools ...
        deepest = 0
        for round_ in range(100):
            if round_ == 40:
                collector.start()  # ... then it spools and sends while being killed
            agent = Agent(config)
            time.sleep(rng.uniform(0.05, 1.5))
            agent.kill()
            files = list(spool.glob("*.json"))
            deepest = max(deepest, len(files))
            for path in files:
                doc = json.loads(path.read_bytes())  # never a torn file
                assert f"{doc['seq']:016d}.json" == path.name
        # The kills hit an agent that was spooling and sending, not only starting.
        assert deepest >= 10 and collector.heartbeats(ROOM)
        # Finally let it run until everything spooled is delivered.
        agent = Agent(config)
        try:
            wait_for(lambda: _state(tmp_path).get("pid") == agent.process.pid
                     and _state(tmp_path).get("spool", {}).get("depth", 1) == 0, 120, interval=0.5, what="spool drained")
            assert agent.terminate() == 0
        finally:
            if agent.process.poll() is None:
                agent.kill()
        last = int((tmp_path / "state/seq").read_text())
        rows = collector.heartbeats(ROOM)
    assert last > 30
    seqs = [row["seq"] for row in rows]
    assert len(seqs) == len(set(seqs)), "duplicate rows"
    assert sorted(seqs) == list(range(1, last + 1)), f"gaps: {sorted(set(range(1, last + 1)) - set(seqs))[:20]}"
    assert not list((spool / "rejected").glob("*.json"))


def _bed() -> BedClient:
    try:
        import gi

        gi.require_version("UMockdev", "1.0")
    except (ImportError, ValueError) as exc:
        pytest.skip(f"needs the UMockdev GObject bindings (gir1.2-umockdev-1.0, python3-gi): {exc}")
    bed = BedClient()
    bed.send("proc idle")
    return bed


def test_camera_unplugged_gives_a_fail_heartbeat_at_the_collector_within_1s(tmp_path: Path) -> None:
    bed = _bed()
    bed.send("load webcam-c920")
    bed.send("load ethernet-i219")  # net.link looks at the testbed's /sys/class/net
    try:
        with running_collector(tmp_path, rooms=(ROOM,)) as collector:
            # A long interval: what arrives after the unplug is the hot-plug heartbeat, not a periodic one.
            # splay_s = 0: the first heartbeat at once, not within 30 s.
            config = write_config(tmp_path, collector.heartbeat_url, token=collector.tokens[ROOM], interval_s=300,
                                  extra="splay_s = 0",
                                  policy="min_cameras = 1\nmin_microphones = 1\nmin_displays = 0\nrequire_ipv6 = false")
            agent = Agent(config, env=bed.env())
            try:
                latencies = []
                for round_ in range(3):
                    if round_:
                        bed.send("plug webcam-c920")
                    # Not failing with the camera there (warn at most: this machine's own IPv6 may be missing).
                    ok = wait_for(lambda: (rows := collector.heartbeats(ROOM)) and rows[-1]["status"] != "fail"
                                  and rows, 30, what="heartbeat without failure, camera present")
                    seen = ok[-1]["seq"]
                    removed_at = time.time()
                    bed.send("unplug webcam-c920")
                    # The API gives received_at to the second: time it here instead (an upper bound,
                    # it includes the polling).
                    wait_for(lambda: [r for r in collector.heartbeats(ROOM, since_seq=seen) if r["status"] == "fail"],
                             10, interval=0.02, what="fail heartbeat")
                    latencies.append(time.time() - removed_at)
                body = json.loads((tmp_path / "run/status.json").read_text())
                assert agent.terminate() == 0
            finally:
                if agent.process.poll() is None:
                    agent.kill()
    finally:
        bed.close()
    cameras = next(c for c in body["checks"] if c["name"] == "devices.cameras")
    assert cameras["status"] == "fail"
    assert max(latencies) <= 1.0, f"unplug to fail heartbeat at the collector: {latencies}"


def test_bandwidth_deferred_while_the_room_is_in_use_stamp_goes_on(tmp_path: Path) -> None:
    bed = _bed()
    for fixture in ("webcam-c920", "speakerphone-jabra", "hda-intel", "ethernet-i219"):
        bed.send(f"load {fixture}")
    bed.send("proc meeting")  # the Jabra's capture and playback are RUNNING from the start
    try:
        with running_collector(tmp_path, rooms=(ROOM,)) as collector:
            # every_s = 60: the first bandwidth test is due within 12 s (the splay), during the meeting.
            config = write_config(tmp_path, collector.heartbeat_url, token=collector.tokens[ROOM], interval_s=1,
                                  network=f'[mcu]\nhost = "::1"\ntcp_ports = [{collector.port}]\n'
                                          '[probe]\nstamp_port = 9\nhttp_port = 9\nevery_s = 60\n')
            agent = Agent(config, env=bed.env())
            try:
                def checks_of_last() -> dict[str, dict]:
                    return {c["name"]: c for c in _state(tmp_path).get("checks", [])}

                busy = wait_for(lambda: (c := checks_of_last()) and "meeting in progress" in c["probe.upload"]["summary"]
                                and c, 40, what="bandwidth due and deferred")
                bed.send("proc idle")  # the meeting ends: the due test runs at the next cycle
                after = wait_for(lambda: (c := checks_of_last()) and "deferred" not in c["probe.upload"]["summary"]
                                 and c, 30, what="after the meeting")
                assert agent.terminate() == 0
            finally:
                if agent.process.poll() is None:
                    agent.kill()
    finally:
        bed.close()
    for name in ("probe.rtt", "probe.jitter", "probe.loss"):
        # STAMP runs during the meeting (the responder port is closed here, so it fails: but it ran).
        assert "deferred" not in busy[name]["summary"], busy[name]
    for name in ("probe.upload", "probe.download"):
        assert busy[name]["status"] == "skip", busy[name]
        # The signal that decided: the speakerphone's capture is running (/proc/asound).
        assert busy[name]["summary"] == "skipped: deferred: meeting in progress: microphone Jabra SPEAK 510 USB recording"
    assert busy["net.link"]["status"] == "ok"  # the light checks still run
    # Measured once the room is free (the responder port is closed here, so they fail: but they ran).
    for name in ("probe.rtt", "probe.upload", "probe.download"):
        assert after[name]["status"] != "skip", after[name]
