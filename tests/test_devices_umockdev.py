"""Device enumeration, in-use detection and hot-plug over umockdev device trees.

The real libudev and pyudev read recorded device trees
(``tests/fixtures/umockdev/*.umockdev``) through umockdev's preload library;
the agent runs as a real process. Needs ``umockdev-wrapper`` and the UMockdev
GObject bindings (Debian: umockdev, gir1.2-umockdev-1.0, python3-gi).
"""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Iterator

import pytest

from tests.conftest import REPO, run_agent
from tests.umockdev_bed import BedClient

SCHEMA = json.loads((REPO / "collector/schema/heartbeat-v1.schema.json").read_text())
ALL = ["hda-intel", "webcam-c920", "speakerphone-jabra", "capture-camlink", "virtual-loopback"]


def _need_umockdev() -> None:
    if shutil.which("umockdev-wrapper") is None:
        pytest.skip("needs umockdev-wrapper (Debian package umockdev) to replay device trees")
    try:
        import gi

        gi.require_version("UMockdev", "1.0")
    except (ImportError, ValueError) as exc:
        pytest.skip(f"needs the UMockdev GObject bindings (gir1.2-umockdev-1.0, python3-gi): {exc}")


@pytest.fixture
def bed() -> Iterator[BedClient]:
    _need_umockdev()
    client = BedClient()
    client.send("proc idle")  # never the build machine's own /proc/asound
    yield client
    client.close()


def validate_devices(doc: dict[str, Any]) -> None:
    import jsonschema

    schema = {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], **SCHEMA["properties"]["devices"]}
    jsonschema.Draft202012Validator(schema).validate(doc)


def devices_json(bed: BedClient, *args: str) -> tuple[dict[str, Any], int]:
    done = run_agent("devices", "--json", *args, env=bed.env())
    assert done.returncode in (0, 1, 2), done.stderr
    assert "warning" not in done.stderr, done.stderr  # read through udev, nothing guessed
    doc = json.loads(done.stdout)
    validate_devices(doc)
    return doc, done.returncode


def names(doc: dict[str, Any], kind: str) -> list[str]:
    return [d["name"] for d in doc[kind]]


EXPECTED = {
    # fixture: (cameras, microphones, speakers, exit code with the default policy)
    "empty": ([], [], [], 2),
    "webcam-c920": (["HD Pro Webcam C920"], ["HD Pro Webcam C920: USB Audio"], [], 0),
    "speakerphone-jabra": ([], ["Jabra SPEAK 510 USB: USB Audio"], ["Jabra SPEAK 510 USB: USB Audio"], 2),
    "hda-intel": ([], ["HDA Intel PCH: ALC892 Analog"], ["HDA Intel PCH: ALC892 Analog", "HDA Intel PCH: HDMI 0"], 2),
    "capture-camlink": (["Cam Link 4K: Cam Link 4K"], ["Cam Link 4K: USB Audio"], [], 0),
    "virtual-loopback": (["OBS Virtual Camera"], ["Loopback: Loopback PCM"], ["Loopback: Loopback PCM"], 2),
}


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_each_hardware_setup(bed: BedClient, fixture: str) -> None:
    bed.send(f"load {fixture}")
    doc, code = devices_json(bed)
    cameras, microphones, speakers, expected_code = EXPECTED[fixture]
    assert (names(doc, "cameras"), names(doc, "microphones"), names(doc, "speakers")) == (
        cameras, microphones, speakers)
    assert code == expected_code
    for device in doc["cameras"] + doc["microphones"] + doc["speakers"]:
        assert device["in_use"] is False, device


def test_webcam_identity_and_metadata_node_is_not_a_camera(bed: BedClient) -> None:
    bed.send("load webcam-c920")
    doc, _ = devices_json(bed)
    (camera,) = doc["cameras"]
    assert camera == {
        "id": "usb-046d:082d-A1B2C3D4/capture0", "name": "HD Pro Webcam C920", "node": "/dev/video0",
        "bus": "usb", "vendor_id": "046d", "product_id": "082d", "vendor": "Logitech, Inc.",
        "model": "HD Pro Webcam C920", "serial": "A1B2C3D4", "virtual": False, "in_use": False,
        "in_use_signal": "usb-streaming",  # its streaming interface is at the idle setting 0
    }
    (mic,) = doc["microphones"]
    assert (mic["node"], mic["card"], mic["device"], mic["id"]) == (
        "/dev/snd/pcmC1D0c", 1, 0, "usb-046d:082d-A1B2C3D4/pcm0c")


def test_onboard_audio_is_pci_and_loopbacks_are_virtual(bed: BedClient) -> None:
    bed.send("load hda-intel")
    bed.send("load virtual-loopback")
    doc, _ = devices_json(bed)
    hdmi = next(d for d in doc["speakers"] if d["name"].endswith("HDMI 0"))
    assert (hdmi["bus"], hdmi["vendor_id"], hdmi["product_id"], hdmi["serial"], hdmi["virtual"]) == (
        "pci", "8086", "a348", None, False)
    assert hdmi["id"] == "pci-0000:00:1f.3/pcm3p"
    loop_cam = doc["cameras"][0]
    assert (loop_cam["bus"], loop_cam["virtual"], loop_cam["vendor_id"]) == ("virtual", True, None)
    assert all(d["virtual"] for d in doc["microphones"] if d["name"].startswith("Loopback"))


def test_virtual_devices_count_only_when_policy_says_so(bed: BedClient, tmp_path: Path) -> None:
    bed.send("load virtual-loopback")
    done = run_agent("devices", env=bed.env())
    assert done.returncode == 2
    assert "no camera: 0 of 1 required; 1 virtual camera not counted" in done.stdout
    config = tmp_path / "agent.toml"
    config.write_text("[policy]\ncount_virtual = true\n")
    assert run_agent("--config", str(config), "devices", env=bed.env()).returncode == 0


def test_whole_room_with_a_meeting_running(bed: BedClient, tmp_path: Path) -> None:
    for fixture in ALL:
        bed.send(f"load {fixture}")
    bed.send("proc meeting")
    doc, code = devices_json(bed)
    assert sum(len(doc[k]) for k in ("cameras", "microphones", "speakers")) == 12
    in_use = sorted((d["node"], d["in_use"]) for k in doc for d in doc[k] if d["in_use"])
    assert in_use == [("/dev/snd/pcmC2D0c", True), ("/dev/snd/pcmC2D0p", True)]  # HDMI is only prepared
    assert code == 0
    human = run_agent("devices", env=bed.env())
    lines = human.stdout.splitlines()
    jabra_mic = next(line for line in lines if "/dev/snd/pcmC2D0c" in line)
    assert jabra_mic.split()[0] == "microphone" and "0b0e:0422" in jabra_mic and jabra_mic.endswith("in use")
    assert any(line.startswith("camera") and line.endswith("virtual") for line in lines)
    assert lines[-1] == "policy: all required devices present"


def test_policy_minimums_name_what_is_missing(bed: BedClient, tmp_path: Path) -> None:
    bed.send("load webcam-c920")
    config = tmp_path / "agent.toml"
    config.write_text("[policy]\nmin_cameras = 2\nmin_speakers = 1\n")
    done = run_agent("--config", str(config), "devices", "--json", env=bed.env())
    assert done.returncode == 2
    diagnose = run_agent("--config", str(config), "diagnose", "--json", "--no-bandwidth", env=bed.env())
    checks = {c["name"]: c for c in json.loads(diagnose.stdout)["checks"]}
    assert checks["devices.cameras"]["summary"].startswith("missing camera: 1 of 2 required")
    assert (checks["devices.cameras"]["observed"], checks["devices.cameras"]["threshold"]) == (1, 2)
    assert checks["devices.speakers"]["summary"] == "no speaker: 0 of 1 required"
    assert checks["devices.microphones"]["status"] == "ok"


def test_ids_survive_replugging(bed: BedClient) -> None:
    bed.send("load hda-intel")
    bed.send("plug webcam-c920")
    first, _ = devices_json(bed)
    bed.send("unplug webcam-c920")
    gone, _ = devices_json(bed)
    assert gone["cameras"] == [] and len(gone["microphones"]) == 1
    bed.send("plug webcam-c920")
    again, _ = devices_json(bed)
    assert again == first


def _holder(bed: BedClient, node: str) -> subprocess.Popen[str]:
    code = f"import sys, time\nf = open({node!r}, 'rb')\nprint('open', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=bed.env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    return proc


def test_camera_in_use_from_open_handles(bed: BedClient) -> None:
    bed.send("load webcam-c920")
    bed.send("load capture-camlink")
    holder = _holder(bed, "/dev/video0")
    try:
        doc, _ = devices_json(bed)
        assert [(d["node"], d["in_use"]) for d in doc["cameras"]] == [("/dev/video0", True), ("/dev/video2", False)]
    finally:
        holder.kill()
        holder.communicate()
    doc, _ = devices_json(bed)
    assert [d["in_use"] for d in doc["cameras"]] == [False, False]


def test_sysfs_fallback_without_udev(bed: BedClient) -> None:
    for fixture in ALL:
        bed.send(f"load {fixture}")
    # No preload library: the agent reads the testbed's plain sysfs tree as a container would.
    done = run_agent("devices", "--json", "--root", str(bed.root))
    doc = json.loads(done.stdout)
    validate_devices(doc)
    assert done.returncode == 1, done.stdout  # everything required is there, but read without udev
    assert "not through udev" in done.stderr
    assert [d["node"] for d in doc["cameras"]] == ["/dev/video0", "/dev/video2", "/dev/video10"]
    c920 = doc["cameras"][0]
    assert (c920["id"], c920["vendor_id"], c920["serial"]) == ("usb-046d:082d-A1B2C3D4/capture0", "046d", "A1B2C3D4")
    assert len(doc["microphones"]) == 5 and len(doc["speakers"]) == 4
    human = run_agent("devices", "--root", str(bed.root))
    assert "WARN  devices.cameras" in human.stdout


class Lines:
    """Lines of a stream, read on a thread so tests can wait with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[tuple[float, str]] = queue.Queue()
        self.done = threading.Event()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put((time.monotonic(), line.rstrip("\n")))
        self.done.set()

    def get(self, timeout: float) -> tuple[float, str]:
        return self.queue.get(timeout=timeout)

    def quiet_for(self, seconds: float) -> bool:
        try:
            self.queue.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


def _start(bed: BedClient, *args: str) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(list(args), cwd=REPO, env=bed.env(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None and proc.stdout is not None
    said = []
    while not said or not ("ready" in said[-1] or "watching" in said[-1]):
        line = proc.stderr.readline()
        assert line, f"{args} ended before it was ready: {''.join(said)}"
        said.append(line)
    return proc, Lines(proc.stdout)


def _stop(proc: subprocess.Popen[str], lines: Lines, sig: int | None) -> int:
    """End a watching process (a signal, or end of its stdin) and close its pipes."""
    assert proc.stdin is not None and proc.stderr is not None and proc.stdout is not None
    if sig is None:
        proc.stdin.close()
    else:
        proc.send_signal(sig)
    code = proc.wait(timeout=10)
    lines.done.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        stream.close()
    return code


def test_watcher_reports_each_plug_once_within_a_second(bed: BedClient) -> None:
    bed.send("load hda-intel")
    probe, lines = _start(bed, sys.executable, str(REPO / "tests/watch_probe.py"), "0.3")
    try:
        for action, event in (("plug", "added"), ("unplug", "removed"), ("plug", "added")):
            sent = time.monotonic()
            bed.send(f"{action} webcam-c920")
            arrived, line = lines.get(timeout=5)
            assert arrived - sent < 1.0, f"{action} seen after {arrived - sent:.2f} s"
            events = json.loads(line)["events"]
            assert sorted((e["event"], e["kind"]) for e in events) == [(event, "camera"), (event, "microphone")]
            assert lines.quiet_for(0.8), "the same change was reported twice"
        # Two devices plugged in one burst: one callback with both.
        bed.send("plug capture-camlink")
        bed.send("plug speakerphone-jabra")
        _, line = lines.get(timeout=5)
        kinds = sorted(e["kind"] for e in json.loads(line)["events"])
        assert kinds == ["camera", "microphone", "microphone", "speaker"]
        assert lines.quiet_for(0.8)
    finally:
        code = _stop(probe, lines, None)
    assert code == 0


def test_devices_watch_json_prints_one_line_per_change(bed: BedClient) -> None:
    watch, lines = _start(bed, sys.executable, "-m", "agent", "devices", "--watch", "--json")
    try:
        sent = time.monotonic()
        bed.send("plug speakerphone-jabra")
        got = [lines.get(timeout=5), lines.get(timeout=5)]
        assert got[-1][0] - sent < 1.0
        events = sorted((json.loads(line)["event"], json.loads(line)["kind"]) for _, line in got)
        assert events == [("added", "microphone"), ("added", "speaker")]
        device = json.loads(got[0][1])["device"]
        validate_devices({"cameras": [], "microphones": [device], "speakers": []})
        assert lines.quiet_for(0.8)
        bed.send("unplug speakerphone-jabra")
        got = [lines.get(timeout=5), lines.get(timeout=5)]
        assert {json.loads(line)["event"] for _, line in got} == {"removed"}
        assert lines.quiet_for(0.8)
    finally:
        code = _stop(watch, lines, signal.SIGTERM)
    assert code == 0


def test_devices_watch_human_lines(bed: BedClient) -> None:
    bed.send("load hda-intel")
    watch, lines = _start(bed, sys.executable, "-m", "agent", "devices", "--watch")
    try:
        present = [lines.get(timeout=5)[1] for _ in range(3)]
        assert all(line.startswith("present") for line in present)
        bed.send("plug webcam-c920")
        added = sorted(lines.get(timeout=5)[1].split(None, 1)[1] for _ in range(2))
        assert added[0].startswith("added    camera      HD Pro Webcam C920")
        assert "/dev/video0" in added[0] and "046d:082d" in added[0]
    finally:
        code = _stop(watch, lines, signal.SIGINT)
    assert code == 0


def test_watch_without_udev_polls_sysfs(bed: BedClient) -> None:
    env = {k: v for k, v in bed.env().items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR")}
    proc = subprocess.Popen([sys.executable, "-m", "agent", "devices", "--watch", "--json", "--root", str(bed.root)],
                            cwd=REPO, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None and proc.stdout is not None
    while "watching" not in (line := proc.stderr.readline()):
        assert line, "devices --watch ended early"
    lines = Lines(proc.stdout)
    try:
        bed.send("load webcam-c920")  # no uevent at all: only a rescan can see it
        got = sorted(json.loads(lines.get(timeout=10)[1])["kind"] for _ in range(2))
        assert got == ["camera", "microphone"]
    finally:
        code = _stop(proc, lines, signal.SIGTERM)
    assert code == 0
