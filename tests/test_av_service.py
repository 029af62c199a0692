"""The service runs the camera and microphone checks on their own timer and carries them in between."""

from __future__ import annotations

from pathlib import Path

from tests.daemon_helpers import Agent, start_sink, wait_for, write_config


def _check(body: dict, name: str) -> dict:
    return next(c for c in body["checks"] if c["name"] == name)


def test_av_checks_run_once_per_av_every_s_and_are_carried_between(tmp_path: Path) -> None:
    sink = start_sink()
    # av_every_s = 60 (the least): the first run comes within 12 s of the start (±20% splay).
    config = write_config(tmp_path, sink.url, interval_s=1, network="[probe]\nav_every_s = 60")
    agent = Agent(config)
    try:
        first = wait_for(lambda: sink.bodies(), 20, what="first heartbeat")[0]
        frames = _check(first, "camera.frames")
        # The display check reads sysfs only: every cycle, from the first on.
        assert _check(first, "display.connected")["status"] in ("ok", "fail")
        if "measured_at" not in frames:
            assert frames["summary"].startswith("skipped: not measured yet; the first camera and microphone check")
        measured = wait_for(lambda: [b for b in sink.bodies() if "measured_at" in _check(b, "camera.frames")],
                            30, what="an AV run")
        at = _check(measured[0], "camera.frames")["measured_at"]
        later = wait_for(lambda: [b for b in sink.bodies() if _check(b, "camera.frames").get("age_s", 0) >= 2],
                         15, what="the AV result carried")[-1]
        carried = _check(later, "camera.frames")
        # The same measurement, older: not run again within av_every_s.
        assert carried["measured_at"] == at and carried["max_age_s"] >= 60
        assert _check(later, "microphone.level")["measured_at"] == _check(measured[0], "microphone.level")["measured_at"]
        assert agent.terminate() == 0
    finally:
        if agent.process.poll() is None:
            agent.kill()
