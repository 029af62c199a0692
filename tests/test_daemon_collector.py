"""The service against the real collector on [::1]: outages and crashes lose and duplicate nothing."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from tests.collector_helpers import running_collector
from tests.daemon_helpers import Agent, wait_for, write_config

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
    config = write_config(tmp_path, "http://[::1]:1/api/v1/heartbeat", interval_s=1)
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
