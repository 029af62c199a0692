"""Pure device rules on recorded data: classification, identity, /proc/asound parsing, diffs, policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.checks.devices import assess_devices
from agent.devices import Device, Inventory, classify, diff, parse_asound_status
from agent.devices.classify import (
    Ancestor, RawNode, build_device, hex4, parse_asound_cards, parse_pcm_info, pcm_numbers,
)
from agent.devices.proc import alsa_in_use, asound_cards, open_nodes, pcm_name
from agent.result import Status
from tests.conftest import REPO

ASOUND = REPO / "tests/fixtures/proc-asound"


@pytest.mark.parametrize(
    ("properties", "kind"),
    [
        ({"SUBSYSTEM": "video4linux", "DEVNAME": "/dev/video0", "ID_V4L_CAPABILITIES": ":capture:"}, "camera"),
        ({"SUBSYSTEM": "video4linux", "DEVNAME": "/dev/video1", "ID_V4L_CAPABILITIES": ":"}, None),
        ({"SUBSYSTEM": "video4linux", "DEVNAME": "/dev/video9", "ID_V4L_CAPABILITIES": ":video_output:"}, None),
        ({"SUBSYSTEM": "video4linux", "DEVNAME": "/dev/v4l-subdev0", "ID_V4L_CAPABILITIES": ":capture:"}, None),
        ({"SUBSYSTEM": "sound", "DEVNAME": "/dev/snd/pcmC1D0c"}, "microphone"),
        ({"SUBSYSTEM": "sound", "DEVNAME": "/dev/snd/pcmC0D3p"}, "speaker"),
        ({"SUBSYSTEM": "sound", "DEVNAME": "/dev/snd/controlC0"}, None),
        ({"SUBSYSTEM": "sound", "DEVNAME": "/dev/snd/seq"}, None),
        ({"SUBSYSTEM": "input", "DEVNAME": "/dev/input/event3"}, None),
    ],
)
def test_classify_udev_properties(properties: dict[str, str], kind: str | None) -> None:
    assert classify(properties) == kind


def test_classify_without_udev_uses_the_node_index() -> None:
    props = {"SUBSYSTEM": "video4linux", "DEVNAME": "/dev/video1"}
    assert classify(props, {"index": "0"}, from_udev=False) == "camera"
    assert classify(props, {"index": "1"}, from_udev=False) is None


def test_pcm_numbers_and_hex() -> None:
    assert pcm_numbers("/dev/snd/pcmC12D3p") == (12, 3, "p")
    assert pcm_numbers("snd/pcmC1D0c") == (1, 0, "c")
    assert pcm_numbers("/dev/snd/controlC1") is None
    assert (hex4("0x8086"), hex4("046D"), hex4("0x10de0"), hex4(None)) == ("8086", "046d", None, None)


def _usb(serial: str | None) -> Ancestor:
    attrs = {"idVendor": "046d", "idProduct": "0825", "product": "Webcam C270", "manufacturer": "Logitech"}
    if serial:
        attrs["serial"] = serial
    return Ancestor("1-4", "usb", "usb_device", "usb", {"ID_PATH": "pci-0000:00:14.0-usb-0:4"}, attrs)


def _camera(serial: str | None, id_path: str = "pci-0000:00:14.0-usb-0:4:1.0") -> RawNode:
    return RawNode(
        devpath="/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4:1.0/video4linux/video0",
        subsystem="video4linux",
        properties={"SUBSYSTEM": "video4linux", "DEVNAME": "/dev/video0",
                    "ID_V4L_CAPABILITIES": ":capture:", "ID_PATH": id_path},
        attributes={"name": "UVC Camera (046d:0825)", "index": "0"},
        ancestors=(Ancestor("1-4:1.0", "usb", "usb_interface", "uvcvideo"), _usb(serial)),
    )


def test_stable_id_is_vendor_product_serial_else_port_path() -> None:
    with_serial = build_device(_camera("2A2B3C4D"))
    assert with_serial is not None
    assert with_serial.id == "usb-046d:0825-2A2B3C4D/capture0"
    assert (with_serial.vendor, with_serial.model, with_serial.bus) == ("Logitech", "Webcam C270", "usb")
    # Same camera, other port: the id does not move.
    assert build_device(_camera("2A2B3C4D", "pci-0000:00:14.0-usb-0:1:1.0")).id == with_serial.id
    without = build_device(_camera(None))
    assert without is not None and without.serial is None
    assert without.id == "pci-0000:00:14.0-usb-0:4:1.0/capture0"


def test_loopback_sound_card_is_virtual() -> None:
    node = RawNode(
        devpath="/devices/platform/snd_aloop.0/sound/card4/pcmC4D1p", subsystem="sound",
        properties={"SUBSYSTEM": "sound", "DEVNAME": "/dev/snd/pcmC4D1p"}, attributes={},
        ancestors=(Ancestor("card4", "sound", attributes={"id": "Loopback"}),
                   Ancestor("snd_aloop.0", "platform", driver="snd_aloop")),
    )
    device = build_device(node)
    assert device is not None
    assert (device.kind, device.virtual, device.bus, device.card, device.device) == ("speaker", True, "platform", 4, 1)
    assert device.name == "Loopback: device 1"  # no /proc/asound names given
    assert build_device(node, {4: "Loopback"}, {(4, 1, "p"): "Loopback PCM"}).name == "Loopback: Loopback PCM"


@pytest.mark.parametrize(
    ("text", "state", "pid", "in_use"),
    [
        ("closed\n", "CLOSED", None, False),
        ("state: RUNNING\nowner_pid   : 4242\ntrigger_time: 1.0\n", "RUNNING", 4242, True),
        ("state: PREPARED\nowner_pid   : 977\n", "PREPARED", 977, False),
        ("state: DRAINING\nowner_pid   : 5\n", "DRAINING", 5, True),
        ("state: RUNNING\n", "RUNNING", None, False),
    ],
)
def test_parse_asound_status(text: str, state: str, pid: int | None, in_use: bool) -> None:
    status = parse_asound_status(text)
    assert (status.state, status.owner_pid, status.in_use) == (state, pid, in_use)


def test_parse_cards_and_pcm_info_from_fixture() -> None:
    proc = ASOUND / "meeting/proc"
    cards = parse_asound_cards((proc / "asound/cards").read_text())
    assert cards == {0: "HDA Intel PCH", 1: "HD Pro Webcam C920", 2: "Jabra SPEAK 510 USB",
                     3: "Cam Link 4K", 4: "Loopback"}
    assert asound_cards(proc) == cards
    assert parse_pcm_info((proc / "asound/card0/pcm3p/info").read_text()) == "HDMI 0"
    assert pcm_name(proc, 0, 0, "c") == "ALC892 Analog"
    assert pcm_name(proc, 9, 0, "c") is None


def test_alsa_in_use_from_proc_trees() -> None:
    meeting, idle = ASOUND / "meeting/proc", ASOUND / "idle/proc"
    assert alsa_in_use(meeting, 2, 0, "c") is True
    assert alsa_in_use(meeting, 2, 0, "p") is True
    assert alsa_in_use(meeting, 0, 3, "p") is False  # opened and prepared, not playing
    assert alsa_in_use(idle, 2, 0, "c") is False
    assert alsa_in_use(idle, 7, 0, "c") is None  # no such card: unknown, not "free"


def test_open_nodes_finds_a_file_held_by_another_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    from agent.devices.proc import node_key

    node = tmp_path / "dev" / "video0"  # a relocated /dev, as under --root or umockdev
    node.parent.mkdir()
    node.write_bytes(b"")
    key = node_key(node)
    assert key is not None
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({str(node)!r}); print(1, flush=True); input()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        found, _ = open_nodes(Path("/proc"), {key: "/dev/video0"})
        assert found == {"/dev/video0"}
    finally:
        holder.communicate("\n")
    found, _ = open_nodes(Path("/proc"), {key: "/dev/video0"})
    assert found == set()


def _dev(kind: str, name: str, virtual: bool = False, **kw: object) -> Device:
    return Device(kind=kind, id=f"{kind}-{name}", name=name, node="/dev/x", bus="usb", virtual=virtual, **kw)


def test_diff_reports_added_removed_changed_and_ignores_in_use() -> None:
    old = Inventory(cameras=[_dev("camera", "a"), _dev("camera", "b")])
    new = Inventory(cameras=[_dev("camera", "b", in_use=True), _dev("camera", "c")])
    assert [(e.event, e.device.name) for e in diff(old, new)] == [("removed", "a"), ("added", "c")]
    renamed = Inventory(cameras=[_dev("camera", "b")])
    renamed.cameras[0].node = "/dev/video4"
    assert [(e.event, e.kind) for e in diff(Inventory(cameras=[_dev("camera", "b")]), renamed)] == [
        ("changed", "camera")]
    assert diff(old, old) == []


def test_inventory_json_and_meeting_detection() -> None:
    inv = Inventory(microphones=[_dev("microphone", "m", card=1, device=0)], speakers=[_dev("speaker", "s", in_use=True)])
    doc = inv.to_json()
    assert set(doc) == {"cameras", "microphones", "speakers", "displays"}
    assert doc["microphones"][0]["card"] == 1 and "card" not in doc["speakers"][0] and "kind" not in doc["speakers"][0]
    assert inv.any_in_use() is False  # a speaker playing is no meeting
    inv.microphones[0].in_use = True
    assert inv.any_in_use() is True


def test_policy_assessment() -> None:
    inv = Inventory(cameras=[_dev("camera", "OBS", virtual=True)])
    fail = assess_devices("camera", inv, 1, count_virtual=False)
    assert fail.status is Status.FAIL
    assert fail.summary == "no camera: 0 of 1 required; 1 virtual camera not counted (policy.count_virtual = false)"
    assert (fail.observed, fail.threshold, fail.unit) == (0, 1, "count")
    assert assess_devices("camera", inv, 1, count_virtual=True).status is Status.OK
    two = assess_devices("camera", Inventory(cameras=[_dev("camera", "C920", in_use=True)]), 2, False)
    assert two.summary == "missing camera: 1 of 2 required (C920 (in use))"
    none_needed = assess_devices("speaker", Inventory(), 0, False)
    assert (none_needed.status, none_needed.summary) == (Status.OK, "no speaker (none required)")
    degraded = assess_devices("camera", Inventory(cameras=[_dev("camera", "C920")], source="sysfs",
                                                  warnings=["udev not available"]), 1, False)
    assert degraded.status is Status.WARN and degraded.summary.endswith("udev not available")


def test_three_checks_share_one_scan_and_say_when_udev_is_missing(tmp_path: Path) -> None:
    from agent.checks import CheckContext, run_checks, select
    from agent.config import AgentConfig
    from agent.paths import Paths

    ctx = CheckContext(AgentConfig(), Paths.under(tmp_path))  # an empty tree: no /sys at all
    results = run_checks(select("devices"), ctx)
    assert [r.name for r in results] == ["devices.cameras", "devices.microphones", "devices.speakers"]
    inventory = ctx.memo("devices", lambda: pytest.fail("scanned twice"))
    assert inventory.source == "sysfs" and inventory.all() == []
    assert [r.status for r in results] == [Status.FAIL, Status.FAIL, Status.WARN]
    assert results[2].details["source"] == "sysfs" and "not through udev" in results[2].summary
