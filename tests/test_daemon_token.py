"""Token trouble, a wiped state directory and the start-up phase, with the real agent process.

A refused token keeps every heartbeat spooled; writing the right token (in place, or by
rename as editors and ``install`` do) delivers the whole backlog to the real collector,
exactly once and in order, without restarting the agent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Callable

from tests.collector_helpers import RunningCollector, running_collector
from tests.conftest import Completed, run_agent
from tests.daemon_helpers import Agent, start_sink, wait_for, write_config
from tests.test_daemon_collector import _assert_exactly_once_in_order

ROOM = "room-1"
OTHER = "room-2"
WINDOW = 10  # intervals with the wrong token


def _state(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / "run/status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _token_trouble_then_fixed(tmp_path: Path, collector: RunningCollector, wrong: str, token_file: Path,
                              write_right: Callable[[str], None]) -> tuple[dict, Completed, int, Agent]:
    """Run the agent with ``wrong`` for WINDOW intervals, then ``write_right`` the room's token.

    Returns the state while refused, ``bridge-agent status`` then, the last seq spooled
    before the fix, and the (stopped) agent.
    """
    config = write_config(tmp_path, collector.heartbeat_url, token=wrong, interval_s=1)
    if token_file != tmp_path / "token":
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(wrong + "\n")
        config.write_text(config.read_text().replace('token_file = "token"', f'token_file = "{token_file}"'))
    agent = Agent(config)
    try:
        wait_for(lambda: _state(tmp_path).get("seq", 0) >= WINDOW, 40, interval=0.2, what=f"{WINDOW} heartbeats spooled")
        refused = _state(tmp_path)
        human = run_agent("--config", str(config), "status")
        assert not collector.heartbeats(ROOM)
        write_right(collector.tokens[ROOM])
        target = _state(tmp_path)["seq"]
        wait_for(lambda: len(collector.heartbeats(ROOM)) >= target, 30, interval=0.2, what="the backlog delivered")
        assert agent.process.poll() is None  # the same process all along
        assert agent.terminate() == 0
    finally:
        if agent.process.poll() is None:
            agent.kill()
    return refused, human, target, agent


def _check_delivered(tmp_path: Path, collector: RunningCollector, target: int, agent: Agent, *tokens: str) -> None:
    rows = collector.heartbeats(ROOM)
    _assert_exactly_once_in_order(rows[:target], target)
    seqs = [row["seq"] for row in rows]
    assert len(seqs) == len(set(seqs)), "duplicate rows"
    assert not list((tmp_path / "state/spool/rejected").iterdir()), "a heartbeat was set aside"
    assert "event=token.reloaded" in agent.log and "event=agent.started" in agent.log
    assert agent.log.count("event=agent.started") == 1  # never restarted
    for token in tokens:
        assert token not in agent.log


def test_token_of_another_room_for_10_intervals_then_the_right_one(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=(ROOM, OTHER)) as collector:
        token_file = tmp_path / "token"
        refused, human, target, agent = _token_trouble_then_fixed(
            tmp_path, collector, collector.tokens[OTHER], token_file,
            lambda right: token_file.write_text(right + "\n"))  # edited in place
        assert target >= WINDOW
        error = refused["last_error"]
        assert error["kind"] == "wrong_room" and error["status_code"] == 403 and error["failures"] >= 1
        assert f"the token in {token_file} belongs to another room, not {ROOM}" in error["problem"]
        assert refused["spool"]["rejected"] == 0 and refused["spool"]["depth"] >= WINDOW - 1
        assert "belongs to another room" in human.stdout and "problem:" in human.stdout
        assert collector.tokens[OTHER] not in human.stdout + human.stderr
        _check_delivered(tmp_path, collector, target, agent, collector.tokens[ROOM], collector.tokens[OTHER])


def test_revoked_token_then_the_right_one_installed_by_rename_in_another_directory(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=(ROOM,)) as collector:
        token_file = tmp_path / "etc-bridge-agent" / "token"

        def install(right: str) -> None:
            new = token_file.parent / ".token.new"
            new.write_text(right + "\n")
            os.replace(new, token_file)

        refused, human, target, agent = _token_trouble_then_fixed(
            tmp_path, collector, "revoked-0123456789", token_file, install)
        error = refused["last_error"]
        assert error["kind"] == "token_refused" and error["status_code"] == 401
        assert f"re-enrol the room and write the new token to {token_file}" in error["problem"]
        assert "re-enrol the room" in human.stdout
        assert "not delivered" in refused["status_line"] and "re-enrol" in refused["status_line"]
        assert "event=heartbeat.retry" in agent.log and "kind=token_refused" in agent.log
        _check_delivered(tmp_path, collector, target, agent, collector.tokens[ROOM], "revoked-0123456789")


def test_wiped_state_dir_gives_a_new_agent_instance_and_seq_from_1(tmp_path: Path) -> None:
    sink = start_sink()
    config = write_config(tmp_path, sink.url, interval_s=1)
    runs = []
    try:
        for _ in range(2):
            agent = Agent(config)
            try:
                wait_for(lambda: len([b for b in sink.accepted() if b["seq"] >= 3]) > len(runs), 30,
                         what="three heartbeats")
                state = _state(tmp_path)
                human = run_agent("--config", str(config), "status")
                assert agent.terminate() == 0
            finally:
                if agent.process.poll() is None:
                    agent.kill()
            instance = (tmp_path / "state/instance").read_text().strip()
            runs.append((instance, state, human.stdout))
            shutil.rmtree(tmp_path / "state")  # reinstall, new disk
    finally:
        sink.stop()
    (first, state1, human1), (second, state2, _) = runs
    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second
    assert state1["agent_instance"] == first and state2["agent_instance"] == second
    assert f"agent instance:  {first}" in human1
    bodies = sink.accepted()
    by_instance = {i: [b["seq"] for b in bodies if b.get("agent_instance") == i] for i in (first, second)}
    assert len(by_instance[first]) + len(by_instance[second]) == len(bodies)  # every heartbeat carries one
    for seqs in by_instance.values():
        assert seqs[:3] == [1, 2, 3]


def _ts(line: str) -> float:
    stamp = re.match(r"ts=(\S+)", line).group(1)  # type: ignore[union-attr]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_two_agents_started_together_report_at_their_own_phase(tmp_path: Path) -> None:
    sink = start_sink()
    agents = []
    try:
        for name in ("a", "b"):
            directory = tmp_path / name
            directory.mkdir()
            agents.append(Agent(write_config(directory, sink.url, interval_s=8, room=f"room-{name}")))
        wait_for(lambda: {b["room_id"] for b in sink.bodies()} == {"room-a", "room-b"}, 30, what="both report")
        for agent in agents:
            assert agent.terminate() == 0
    finally:
        for agent in agents:
            if agent.process.poll() is None:
                agent.kill()
        sink.stop()
    phases = []
    for agent in agents:
        lines = agent.log.splitlines()
        phase_line = next(line for line in lines if "event=agent.phase" in line)
        first_spool = next(line for line in lines if "event=heartbeat.spooled" in line)
        phase = float(re.search(r"first_cycle_in_s=([0-9.]+)", phase_line).group(1))  # type: ignore[union-attr]
        assert 0 <= phase < 8
        # The first heartbeat waited for its phase (the cycle itself takes a moment more).
        assert _ts(first_spool) - _ts(phase_line) >= phase - 0.02, (phase, first_spool)
        phases.append(phase)
    assert phases[0] != phases[1] and max(phases) > 0.05, phases  # not both at t=0
