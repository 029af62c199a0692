"""camera.frames and microphone.level end to end through the real ffmpeg, and their scheduling.

The camera input is an ffmpeg lavfi source (black, frozen, a test pattern) or
a FIFO nobody writes (a camera that sends nothing); the microphone is an ALSA
PCM of the ``file`` plugin over recorded PCM, named through ALSA_CONFIG_PATH,
so alsa-lib really runs (``-f alsa``). The checks differ from production
only in the input they are given for the device node (``INPUTS_KEY``). A
wrapper around ffmpeg logs every start, so a test can assert that a device
in use was never opened.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from agent.av.capture import FFMPEG_KEY, INPUTS_KEY
from agent.checks import select
from agent.checks.av_camera import check_camera_frames
from agent.checks.av_microphone import check_microphone_level
from agent.checks.base import CheckContext
from agent.config import parse_config
from agent.daemon.schedule import IN_USE, deferral, plan_cycle
from agent.devices import Device, Inventory
from agent.devices.proc import alsa_in_use
from agent.result import Status
from tests.conftest import REPO

AV = REPO / "tests" / "fixtures" / "av"
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt install ffmpeg)")


def camera(in_use: bool | None = False) -> Device:
    return Device("camera", "046d:082d:A1B2C3", "HD Pro Webcam C920", "/dev/video0", "usb",
                  "046d", "082d", "Logitech", "C920", "A1B2C3", in_use=in_use,
                  in_use_signal="usb-streaming" if in_use is not None else None)


def microphone(in_use: bool | None = False, card: int = 1) -> Device:
    return Device("microphone", "0b0e:0422:X1", "Jabra SPEAK 510 USB", f"/dev/snd/pcmC{card}D0c", "usb",
                  "0b0e", "0422", "Jabra", "SPEAK 510", "X1", in_use=in_use, card=card, device=0,
                  in_use_signal="alsa" if in_use is not None else None)


def wrapper(tmp_path: Path) -> tuple[str, Path]:
    """An ffmpeg that logs its arguments, then is the real one."""
    log = tmp_path / "ffmpeg.log"
    script = tmp_path / "ffmpeg"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{FFMPEG}" "$@"\n')
    script.chmod(0o755)
    return str(script), log


def context(tmp_path: Path, devices: list[Device], inputs: dict[str, list[str]],
            ffmpeg: str | None = "wrapper") -> tuple[CheckContext, Path]:
    ctx = CheckContext(parse_config("[policy]\nmin_displays = 0\n"))
    inventory = Inventory()
    for device in devices:
        inventory.of_kind(device.kind).append(device)
    ctx.memo("devices", lambda: inventory)
    ctx.memo(INPUTS_KEY, lambda: inputs)
    tool, log = wrapper(tmp_path) if ffmpeg == "wrapper" else (ffmpeg, tmp_path / "ffmpeg.log")
    ctx.memo(FFMPEG_KEY, lambda: tool)
    return ctx, log


def lavfi(source: str) -> list[str]:
    return ["-f", "lavfi", "-re", "-i", source]


@needs_ffmpeg
@pytest.mark.parametrize("source, status, code", [
    ("testsrc=size=320x240:rate=30,noise=alls=8:allf=t", Status.OK, "camera.ok"),
    ("color=c=black:size=320x240:rate=30,noise=alls=2:allf=t", Status.FAIL, "camera.black"),
    ("testsrc=size=320x240:rate=30,trim=end_frame=1,loop=-1:1:0", Status.FAIL, "camera.frozen"),
])
def test_camera_frames_from_lavfi(tmp_path: Path, source: str, status: Status, code: str) -> None:
    ctx, log = context(tmp_path, [camera()], {"/dev/video0": lavfi(source)})
    result = check_camera_frames(ctx)
    assert (result.status, result.code) == (status, code), result.summary
    assert result.params["device"] == "C920"
    figures = result.details["devices"][0]
    assert figures["frames"] >= 20 and figures["fps"] >= 10
    if code == "camera.black":
        assert "image is black" in result.summary and "lens covered or shutter closed?" in result.summary
    if code == "camera.ok":
        assert result.summary.startswith("C920: ") and "fps, mean luma" in result.summary
    # The device was held for the capture and no longer: -t before the input.
    assert "-t 1.5 -i" in log.read_text()


@needs_ffmpeg
def test_camera_that_sends_nothing_is_no_frames_within_the_timeout(tmp_path: Path) -> None:
    fifo = tmp_path / "video0"
    os.mkfifo(fifo)
    ctx, _ = context(tmp_path, [camera()], {
        "/dev/video0": ["-f", "rawvideo", "-video_size", "160x120", "-pix_fmt", "gray", "-i", str(fifo)]})
    started = time.monotonic()
    result = check_camera_frames(ctx)
    assert time.monotonic() - started < 5, "the capture was not killed at its timeout"
    assert (result.status, result.code) == (Status.FAIL, "camera.no_frames")
    assert result.summary.startswith("no frames from C920 in 3 s")


def alsa_pcm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: str) -> list[str]:
    """An ALSA PCM ``roommic`` that captures ``recording`` (repeated to 30 s) through the file plugin.

    The null slave delivers frames faster than real time and the file plugin fills whatever
    the infile no longer covers with stale buffer contents, so the infile must outlast any
    capture by far: 30 s for a 1.5 s capture.
    """
    raw = tmp_path / "in.s16"
    raw.write_bytes((AV / recording).read_bytes() * 120)
    conf = tmp_path / "asound.conf"
    conf.write_text('pcm.roommic {\n type file\n slave.pcm "null"\n file "/dev/null"\n'
                    f' infile "{raw}"\n format "raw"\n}}\n')
    system = Path("/usr/share/alsa/alsa.conf")
    if not system.exists():
        pytest.skip("alsa-lib configuration /usr/share/alsa/alsa.conf missing (apt install libasound2)")
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{system}:{conf}")
    return ["-f", "alsa", "-i", "roommic"]


@needs_ffmpeg
@pytest.mark.parametrize("recording, status, code", [
    ("room-tone.s16", Status.OK, "microphone.ok"),
    ("silence.s16", Status.FAIL, "microphone.silence"),
    ("clipped.s16", Status.WARN, "microphone.clipping"),
])
def test_microphone_level_through_alsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       recording: str, status: Status, code: str) -> None:
    mic = microphone()
    ctx, log = context(tmp_path, [mic], {mic.node: alsa_pcm(tmp_path, monkeypatch, recording)})
    result = check_microphone_level(ctx)
    assert (result.status, result.code) == (status, code), result.summary
    figures = result.details["devices"][0]
    assert figures["samples"] > 24000  # at least half a second of sound went through alsa-lib
    if code == "microphone.ok":
        assert -60 < result.params["rms_dbfs"] < -25
    if code == "microphone.silence":
        assert "digital silence: muted or disconnected?" in result.summary
    assert "-f alsa -t 1.5 -i roommic" in log.read_text()


@needs_ffmpeg
def test_devices_in_use_are_never_opened(tmp_path: Path) -> None:
    meeting = REPO / "tests/fixtures/proc-asound/meeting/proc"
    # The Jabra on card 2 records (substream RUNNING); the camera streams.
    running = alsa_in_use(meeting, 2, 0, "c")
    assert running is True
    mic = microphone(in_use=running, card=2)
    cam = camera(in_use=True)
    unknown = microphone(in_use=None, card=3)
    unknown.id, unknown.node = "usb-3", "/dev/snd/pcmC3D0c"
    ctx, log = context(tmp_path, [cam, mic, unknown], {
        cam.node: lavfi("testsrc"), mic.node: ["-f", "lavfi", "-i", "sine"],
        unknown.node: ["-f", "lavfi", "-i", "sine"]})
    frames, level = check_camera_frames(ctx), check_microphone_level(ctx)
    assert frames.status is Status.SKIP and frames.code == "camera.in_use"
    assert frames.summary == "skipped: C920: not read, in use"
    assert level.status is Status.SKIP and level.code == "microphone.in_use"
    assert "cannot tell whether it is in use" in level.summary
    assert not log.exists(), "ffmpeg was started for a device in use"


def test_without_ffmpeg_the_checks_skip_with_the_reason(tmp_path: Path) -> None:
    ctx, log = context(tmp_path, [camera(), microphone()], {}, ffmpeg=None)
    for result in (check_camera_frames(ctx), check_microphone_level(ctx)):
        assert result.status is Status.SKIP and result.code == "av.no_ffmpeg"
        assert result.summary == "skipped: ffmpeg is not installed (apt install ffmpeg)"
    empty, _ = context(tmp_path, [], {}, ffmpeg=None)
    assert check_camera_frames(empty).code == "camera.none_to_read"


def test_av_checks_wait_for_their_timer_and_the_room_gate() -> None:
    checks = select()
    av = {c.name for c in checks if c.av}
    assert av == {"camera.frames", "microphone.level"}
    idle = plan_cycle(checks, in_use=False, bandwidth_due=False, av_due=False)
    assert av <= idle.keep_previous and not idle.av_ran
    assert "display.connected" in {c.name for c in idle.run}  # sysfs only: every cycle
    due = plan_cycle(checks, in_use=False, bandwidth_due=False, av_due=True)
    assert due.av_ran and not (av & set(due.skip)) and av <= {c.name for c in due.run}
    busy = plan_cycle(checks, in_use=True, bandwidth_due=True, av_due=True,
                      reason="meeting in progress: camera C920 streaming")
    assert not busy.av_ran and not busy.bandwidth_ran
    assert busy.skip["camera.frames"] == "deferred: meeting in progress: camera C920 streaming"
    assert busy.skip["probe.upload"] == busy.skip["camera.frames"]
    unknown = plan_cycle(checks, in_use=None, bandwidth_due=False, av_due=True)
    assert unknown.skip["microphone.level"] == IN_USE
    assert deferral(in_use=False) is None and deferral(in_use=None) == IN_USE
    assert deferral(in_use=False, quiet_until=2000.0, now_wall=1000.0).startswith("deferred: meeting")


def run_cli(*args: str) -> Any:
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.startswith("{") else proc.stdout


def test_diagnose_reads_cameras_and_microphones_only_with_av(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[policy]\nmin_cameras = 0\nmin_microphones = 0\nmin_displays = 0\n"
                      "require_clock_sync = false\n")
    root = AV / "drm-connected"
    _, plain = run_cli("diagnose", "--json", "--no-bandwidth", "--config", str(config), "--root", str(root))
    names = [c["name"] for c in plain["checks"]]
    assert "display.connected" in names and "camera.frames" not in names
    _, with_av = run_cli("diagnose", "--json", "--no-bandwidth", "--av", "--config", str(config), "--root", str(root))
    by_name = {c["name"]: c for c in with_av["checks"]}
    assert by_name["display.connected"]["summary"] == "Samsung SyncMaster on HDMI-A-1"
    assert by_name["camera.frames"]["status"] == "skip" and by_name["camera.frames"]["code"] == "camera.none_to_read"


@needs_ffmpeg
def test_capture_works_inside_the_units_seccomp_sandbox(tmp_path: Path) -> None:
    """The unit's SystemCallFilter= and MemoryDenyWriteExecute= apply to ffmpeg, a child of the agent."""
    import subprocess
    import sys

    try:
        import seccomp  # noqa: F401
    except ImportError:
        pytest.skip("python3-seccomp is not installed (packaging/apt-ensure python3-seccomp)")
    unit = REPO / "packaging/debian/bridge-room-agent.bridge-agent.service"
    code = ("from agent.av.capture import *; from agent.av.frames import *; import sys; "
            "c = capture(find_ffmpeg(), ['-f', 'lavfi', '-i', 'testsrc=rate=30'], video_output()); "
            "print(len(split_frames(c.data, FRAME_W, FRAME_H)), c.error)")
    proc = subprocess.run([sys.executable, str(REPO / "packaging/unit-seccomp"), str(unit), "--",
                           sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    frames, error = proc.stdout.split()
    assert int(frames) >= 30 and error == "None", proc.stdout
