"""The room profile and the in-use signals, on plain values: config entries, matching, verdicts, the plan.

The umockdev tests (tests/test_devices_profile_umockdev.py) run the same rules over recorded device trees.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.checks import select
from agent.checks.devices import assess_devices
from agent.config import EquipmentEntry, load_config, parse_config, parse_equipment
from agent.daemon.schedule import IN_USE, plan_cycle
from agent.devices.equipment import Counting, match, profile_from, render
from agent.devices.model import Device, Inventory
from agent.devices.uvc import UsbInterface, streaming
from agent.errors import ConfigError
from agent.result import Status
from tests.conftest import run_agent

JABRA = EquipmentEntry(role="microphone", usb="0b0e:0422", model="Jabra SPEAK 510 USB",
                       label="speakerphone on the table")


def _usb(kind: str, name: str, vid: str, pid: str, serial: str | None = None, **kw: object) -> Device:
    return Device(kind=kind, id=f"usb-{vid}:{pid}-{serial or name}/{kind}", name=name, node=f"/dev/{kind}",
                  bus="usb", vendor_id=vid, product_id=pid, model=name.split(":")[0], serial=serial, **kw)


def _hda(kind: str, pcm: str) -> Device:
    return Device(kind=kind, id=f"pci-0000:00:1f.3/{pcm}", name=f"HDA Intel PCH: {pcm}", node=f"/dev/snd/{pcm}",
                  bus="pci", vendor_id="8086", product_id="a348")


C920 = _usb("camera", "HD Pro Webcam C920", "046d", "082d", "A1B2C3D4")
C920_MIC = _usb("microphone", "HD Pro Webcam C920: USB Audio", "046d", "082d", "A1B2C3D4")
JABRA_MIC = _usb("microphone", "Jabra SPEAK 510 USB: USB Audio", "0b0e", "0422")
CAMLINK = _usb("camera", "Cam Link 4K: Cam Link 4K", "0fd9", "0066")
ONBOARD_MIC = _hda("microphone", "pcmC0D0c")


# -- configuration -------------------------------------------------------------


def test_equipment_entries_are_typed_and_usb_ids_lowercased() -> None:
    config = parse_config('[[equipment]]\nrole = "camera"\nusb = "046D:082D"\nlabel = "trên màn hình"\n'
                          '[[equipment]]\nrole = "speaker"\nbus = "pci"\nname = "HDA Intel*: HDMI*"\n')
    assert config.equipment == (
        EquipmentEntry(role="camera", usb="046d:082d", label="trên màn hình"),
        EquipmentEntry(role="speaker", bus="pci", name="HDA Intel*: HDMI*"),
    )


@pytest.mark.parametrize(("toml", "key", "words"), [
    ('role = "camra"\nusb = "046d:082d"', "equipment[1].role", 'one of "camera"'),
    ('role = "camera"\nusb = "046d-082d"', "equipment[1].usb", "vendor:product in hex"),
    ('role = "camera"', "equipment[1].usb", "a match is required"),
    ('usb = "046d:082d"', "equipment[1].role", "is required"),
    ('role = "camera"\nusb = "046d:082d"\nname = "C920"', "equipment[1].usb", "not both"),
    ('role = "camera"\nname = "C920"\nserial = "X"', "equipment[1].serial", "goes with usb"),
    ('role = "camera"\nusb = "046d:082d"\nlabell = "x"', "equipment[1].labell", "unknown key; did you mean 'label'"),
    ('role = "camera"\nusb = "046d:082d"\nlabel = "' + "x" * 201 + '"', "equipment[1].label", "at most 200"),
])
def test_equipment_problems_name_the_entry_and_key(toml: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("[[equipment]]\n" + toml + "\n", "agent.toml")
    assert [p.key for p in err.value.problems] == [key]
    assert words in str(err.value)


def test_at_most_32_entries() -> None:
    text = '[[equipment]]\nrole = "camera"\nusb = "046d:082d"\n' * 33
    with pytest.raises(ConfigError, match="33 entries: at most 32"):
        parse_config(text)


def test_equipment_file_beside_the_config_and_not_in_both(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[room]\nname = 'A'\n")
    assert load_config(config, explicit=True).equipment == ()  # no file: no profile
    (tmp_path / "equipment.toml").write_text('[[equipment]]\nrole = "camera"\nusb = "046d:082d"\n')
    loaded = load_config(config, explicit=True)
    assert loaded.equipment_path == tmp_path / "equipment.toml" and len(loaded.equipment) == 1
    config.write_text('[agent]\nequipment_file = "profiles/room.toml"\n')
    assert load_config(config, explicit=True).equipment_path == tmp_path / "profiles/room.toml"
    config.write_text('[[equipment]]\nrole = "camera"\nusb = "046d:0825"\n')
    with pytest.raises(ConfigError, match="keep the \\[\\[equipment\\]\\] entries in one of the two files"):
        load_config(config, explicit=True)


def test_config_check_exits_78_naming_the_equipment_file_key(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("")
    (tmp_path / "equipment.toml").write_text('[[equipment]]\nrole = "camera"\nusb = "C920"\n[room]\nid = "x"\n')
    done = run_agent("--config", str(config), "config", "check")
    assert done.returncode == 78
    assert f"{tmp_path / 'equipment.toml'}: equipment[1].usb = 'C920'" in done.stderr
    assert f"{tmp_path / 'equipment.toml'}: room: unknown key" in done.stderr


# -- matching and verdicts -----------------------------------------------------


def test_missing_declared_device_fails_by_model_and_label() -> None:
    inv = Inventory(cameras=[C920], microphones=[C920_MIC, ONBOARD_MIC])
    report = match((JABRA,), inv, Counting())
    result = assess_devices("microphone", inv, 1, False, False, report)
    assert result.status is Status.FAIL
    assert result.summary.startswith(
        "missing: Jabra SPEAK 510 USB (0b0e:0422), declared 'speakerphone on the table'; ")
    # The C920's microphone is of the declared role but not declared: drift, named too.
    assert "undeclared microphone: HD Pro Webcam C920: USB Audio (046d:082d)" in result.summary
    assert result.summary.endswith("1 onboard microphone not counted (policy.count_onboard_audio)")
    assert result.details["equipment"]["declared"][0]["state"] == "missing"


def test_declared_and_present_is_ok_and_an_undeclared_camera_warns() -> None:
    entries = profile_from(Inventory(cameras=[C920], microphones=[JABRA_MIC]), Counting())
    inv = Inventory(cameras=[C920, CAMLINK], microphones=[JABRA_MIC])
    report = match(entries, inv, Counting())
    assert assess_devices("microphone", inv, 1, False, False, report).status is Status.OK
    cameras = assess_devices("camera", inv, 1, False, False, report)
    assert cameras.status is Status.WARN
    assert cameras.summary == ("2 cameras: HD Pro Webcam C920, Cam Link 4K: Cam Link 4K; "
                               "undeclared camera: Cam Link 4K: Cam Link 4K (0fd9:0066), not in the room profile")
    # policy.min_* still applies on top of the profile.
    assert assess_devices("camera", inv, 3, False, False, report).status is Status.FAIL


def test_same_model_twice_takes_two_devices_and_serial_entries_choose_first() -> None:
    other = _usb("camera", "HD Pro Webcam C920", "046d", "082d", "FFFF0000")
    entries = (EquipmentEntry(role="camera", usb="046d:082d", label="any C920"),
               EquipmentEntry(role="camera", usb="046d:082d", serial="A1B2C3D4", label="the front one"))
    report = match(entries, Inventory(cameras=[C920, other]), Counting())
    assert [(p.entry.label, p.device and p.device.serial) for p in report.pairings] == [
        ("any C920", "FFFF0000"), ("the front one", "A1B2C3D4")]
    alone = match(entries, Inventory(cameras=[other]), Counting())
    assert alone.pairings[1].missing_text() == "missing: 046d:082d, serial A1B2C3D4, declared 'the front one'"


def test_patterns_match_bus_and_name_without_case() -> None:
    entry = EquipmentEntry(role="speaker", bus="pci", name="hda intel*: hdmi*")
    hdmi = _hda("speaker", "HDMI 0")
    report = match((entry,), Inventory(speakers=[hdmi]), Counting())
    assert report.pairings[0].device is hdmi
    # Declared onboard audio counts even without policy.count_onboard_audio.
    result = assess_devices("speaker", Inventory(speakers=[hdmi]), 1, False, False, report)
    assert (result.status, result.observed) == (Status.OK, 1)


def test_without_a_profile_onboard_audio_is_not_counted_unless_policy_says_so() -> None:
    inv = Inventory(microphones=[ONBOARD_MIC], speakers=[_hda("speaker", "pcmC0D0p"), _hda("speaker", "pcmC0D3p")])
    mic = assess_devices("microphone", inv, 1, False)
    assert mic.status is Status.FAIL
    assert mic.summary == "no microphone: 0 of 1 required; 1 onboard microphone not counted (policy.count_onboard_audio)"
    speakers = assess_devices("speaker", inv, 0, False)
    assert speakers.summary == "no speaker (none required); 2 onboard speakers not counted (policy.count_onboard_audio)"
    assert assess_devices("microphone", inv, 1, False, count_onboard_audio=True).status is Status.OK


def test_profile_renders_and_reads_back() -> None:
    weird = Device(kind="speaker", id="platform-x/pcm0p", name="Codec [HDMI] *1?", node="/dev/snd/pcmC5D0p",
                   bus="platform")
    inv = Inventory(cameras=[C920], microphones=[C920_MIC, ONBOARD_MIC], speakers=[weird])
    entries = profile_from(inv, Counting(count_onboard_audio=True))
    assert [e.role for e in entries] == ["camera", "microphone", "microphone", "speaker"]
    assert entries[0] == EquipmentEntry(role="camera", usb="046d:082d", model="HD Pro Webcam C920")
    text = render(entries, "Room profile\nline two")
    assert text.startswith("# Room profile\n# line two\n\n[[equipment]]\n")
    assert parse_equipment(text, "equipment.toml") == entries
    report = match(entries, inv, Counting(count_onboard_audio=True))
    assert all(p.device is not None for p in report.pairings) and not report.undeclared
    assert profile_from(inv, Counting()) == entries[:2]  # onboard audio is not the room's by default


# -- in use --------------------------------------------------------------------


def _vs(alt: int | None, *endpoints: str) -> UsbInterface:
    return UsbInterface("1-2:1.1", "0e", "02", alt, endpoints)


def test_uvc_streaming_from_the_alternate_setting() -> None:
    control = UsbInterface("1-2:1.0", "0e", "01", 0, ("Interrupt",))
    assert streaming([control, _vs(0)]) is False  # isochronous, idle at the zero-bandwidth setting
    assert streaming([control, _vs(11, "Isoc")]) is True
    assert streaming([control, _vs(0, "Bulk")]) is None  # bulk streams at setting 0: sysfs cannot tell
    assert streaming([control]) is None  # no streaming interface seen
    assert streaming([_vs(None)]) is None


def test_busy_is_tri_state_and_says_which_signal_decided() -> None:
    streaming_cam = _usb("camera", "HD Pro Webcam C920", "046d", "082d", in_use=True, in_use_signal="usb-streaming")
    unknown_cam = _usb("camera", "Cam Link 4K", "0fd9", "0066", in_use=None)
    idle_mic = _usb("microphone", "Jabra SPEAK 510 USB: USB Audio", "0b0e", "0422", in_use=False,
                    in_use_signal="alsa")
    meeting = Inventory(cameras=[streaming_cam, unknown_cam], microphones=[idle_mic])
    assert meeting.busy() is True
    assert meeting.in_use_reason() == "meeting in progress: camera HD Pro Webcam C920 streaming"
    maybe = Inventory(cameras=[unknown_cam], microphones=[idle_mic])
    assert maybe.busy() is None
    assert maybe.in_use_reason() == "camera Cam Link 4K: in use unknown (no permission to see other processes)"
    idle = Inventory(microphones=[idle_mic])
    assert idle.busy() is False


def test_unknown_in_use_defers_the_bandwidth_test_with_the_reason() -> None:
    maybe = Inventory(cameras=[_usb("camera", "Cam Link 4K", "0fd9", "0066", in_use=None)])
    plan = plan_cycle(select(), in_use=maybe.busy(), bandwidth_due=True, reason=maybe.in_use_reason())
    assert plan.skip["probe.upload"] == "deferred: camera Cam Link 4K: in use unknown (no permission to see other processes)"
    assert not plan.bandwidth_ran
    free = plan_cycle(select(), in_use=False, bandwidth_due=True, reason="room idle")
    assert free.bandwidth_ran and "probe.upload" not in free.skip
    assert plan_cycle(select(), in_use=True, bandwidth_due=True).skip["probe.upload"] == IN_USE
