"""Display, frame and level analysis on recorded data (tests/fixtures/av): pure functions only."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.av.audio import judge_level, samples_s16le
from agent.av.display import decode_edid, parse_connector, parse_eld, read_connectors, read_elds
from agent.av.frames import judge_frames, split_frames, yuyv_luma
from agent.checks.av_display import assess_displays
from agent.result import Status
from tests.conftest import REPO

AV = REPO / "tests" / "fixtures" / "av"
W, H = 160, 120


def edid_blob() -> bytes:
    return bytes.fromhex((AV / "samsung-syncmaster.edid.hex").read_text())


def test_edid_of_a_real_monitor_names_maker_model_and_serial() -> None:
    edid = decode_edid(edid_blob())
    assert edid is not None
    assert (edid.manufacturer, edid.vendor, edid.product_code) == ("SAM", "Samsung", 0x00E5)
    assert (edid.name, edid.serial, edid.year) == ("SyncMaster", "HSHXB00159", 2004)
    assert edid.label == "Samsung SyncMaster"


def test_edid_with_a_bad_checksum_or_header_is_not_decoded() -> None:
    blob = bytearray(edid_blob())
    blob[20] ^= 1
    assert decode_edid(bytes(blob)) is None
    assert decode_edid(b"\x00" * 128) is None
    assert decode_edid(edid_blob()[:100]) is None


def test_connector_and_eld_parsers() -> None:
    connector = parse_connector("card0-HDMI-A-1", "connected\n", "enabled\n", edid_blob())
    assert connector is not None and connector.connected and connector.enabled
    assert connector.text() == "Samsung SyncMaster on HDMI-A-1"
    assert parse_connector("card0", None, None, None) is None
    assert parse_connector("version", "x", None, None) is None
    eld = parse_eld(0, "eld#0.0", "monitor_present\t\t1\neld_valid\t\t1\nmonitor_name\t\tQM55R\n")
    assert eld.monitor_present and eld.monitor_name == "QM55R"
    assert not parse_eld(0, "eld#0.1", "monitor_present\t\t0\n").monitor_present


def test_display_connected_from_drm_tree() -> None:
    root = AV / "drm-connected"
    connectors = read_connectors(root / "sys")
    assert connectors is not None and [c.name for c in connectors] == ["DP-1", "HDMI-A-1", "eDP-1"]
    result = assess_displays(connectors, read_elds(root / "proc"), 1)
    # The ELD names the same monitor as the EDID: one display, not two.
    assert result.status is Status.OK and result.observed == 1
    assert result.summary == "Samsung SyncMaster on HDMI-A-1"
    assert result.code == "display.connected" and result.params["count"] == 1
    hdmi = next(c for c in result.details["connectors"] if c["connector"] == "HDMI-A-1")
    assert hdmi["serial"] == "HSHXB00159" and hdmi["vendor"] == "Samsung"


def test_display_unplugged_fails_when_the_room_needs_one() -> None:
    root = AV / "drm-disconnected"
    result = assess_displays(read_connectors(root / "sys"), read_elds(root / "proc"), 1)
    assert result.status is Status.FAIL and result.code == "display.none"
    assert "no display connected (3 connectors, none connected)" in result.summary
    relaxed = assess_displays(read_connectors(root / "sys"), read_elds(root / "proc"), 0)
    assert relaxed.status is Status.OK and relaxed.summary == "no display (none required)"


def test_no_drm_at_all_counts_the_monitor_the_hdmi_audio_sees() -> None:
    root = AV / "no-drm"
    assert read_connectors(root / "sys") is None
    result = assess_displays(None, read_elds(root / "proc"), 1)
    assert result.status is Status.OK and result.summary == "QM55R on HDMI/DP audio card 0"
    bare = assess_displays(None, [], 1)
    assert bare.status is Status.FAIL and "no DRM display driver" in bare.summary
    assert assess_displays(None, [], 2).code == "display.none"


def yuyv_frames(name: str) -> list[bytes]:
    return [yuyv_luma(f) for f in split_frames((AV / name).read_bytes(), W * 2, H)]


def test_yuyv_frames_normal_black_frozen() -> None:
    normal = judge_frames(yuyv_frames("normal-pair.yuyv"), 1 / 15)
    assert normal.code == "camera.ok" and normal.frames == 2 and normal.mean > 60 and normal.changed > 0.2
    black = judge_frames(yuyv_frames("black-pair.yuyv"), 1 / 15)
    assert black.code == "camera.black" and black.mean < 28
    frozen = judge_frames(yuyv_frames("frozen-pair.yuyv"), 1 / 15)
    assert frozen.code == "camera.frozen" and frozen.changed == 0
    assert judge_frames([], 1.5).code == "camera.no_frames"


def test_mjpeg_frames_decoded_by_ffmpeg_to_grey() -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (apt install ffmpeg)")
    grey = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "mjpeg", "-i",
                           str(AV / "normal-pair.mjpeg"), "-pix_fmt", "gray", "-f", "rawvideo", "-"],
                          capture_output=True, check=True, timeout=30).stdout
    frames = split_frames(grey, W, H)
    assert len(frames) == 2
    assert judge_frames(frames, 1 / 15).code == "camera.ok"
    # The same JPEG twice is a frozen camera, JPEG noise or not.
    assert judge_frames([frames[0], frames[0]], 1 / 15).code == "camera.frozen"


def level(name: str):
    return judge_level(samples_s16le((AV / name).read_bytes()))


def test_pcm_room_tone_silence_clipping() -> None:
    tone = level("room-tone.s16")
    assert tone.code == "microphone.ok" and tone.samples == 12000
    assert -60 < tone.rms_dbfs < -25 and tone.rms_dbfs < tone.peak_dbfs < 0
    silence = level("silence.s16")
    assert silence.code == "microphone.silence" and silence.peak_dbfs == -120.0
    clipped = level("clipped.s16")
    assert clipped.code == "microphone.clipping" and clipped.peak_dbfs == 0.0 and clipped.clipped_share > 0.1
    assert judge_level(samples_s16le(b"")).code == "microphone.no_samples"
