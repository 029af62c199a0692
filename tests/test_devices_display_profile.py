"""Displays in the room profile: DRM connectors in the inventory, declared, missing and drift.

The recorded DRM trees of tests/fixtures/av/ (a real Samsung SyncMaster EDID on
HDMI-A-1) are read through the agent's own scan and checks, as a real
``bridge-agent`` process with ``--root``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent.config import EquipmentEntry, parse_config
from agent.devices import scan
from agent.devices.equipment import Counting, match, profile_from, render
from agent.errors import ConfigError
from agent.paths import Paths
from tests.conftest import REPO, run_agent

AV = REPO / "tests/fixtures/av"
SCHEMA = json.loads((REPO / "collector/schema/heartbeat-v1.schema.json").read_text())
SYNCMASTER = ('[[equipment]]\nrole = "display"\nname = "Samsung SyncMaster"\nserial = "HSHXB00159"\n'
              'connector = "HDMI-A-*"\nlabel = "front of the room"\n')


def _validate(part: str, doc: Any) -> None:
    jsonschema.Draft202012Validator({**SCHEMA["properties"][part], "$defs": SCHEMA["$defs"]}).validate(doc)


def _tree(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(AV / name, root)
    return root


def _display_check(root: Path, tmp_path: Path, profile: str, policy: str = "") -> dict[str, Any]:
    config = tmp_path / "agent.toml"
    config.write_text(policy)
    (tmp_path / "equipment.toml").write_text(profile)
    done = run_agent("--config", str(config), "--root", str(root), "diagnose", "--json", "--no-bandwidth")
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    return checks["display.connected"]


def test_connected_monitor_is_a_display_device_named_by_its_edid() -> None:
    inv = scan(Paths.under(AV / "drm-connected"))
    [display] = inv.displays
    assert (display.name, display.serial, display.connector, display.node, display.bus) == (
        "Samsung SyncMaster", "HSHXB00159", "HDMI-A-1", "card0-HDMI-A-1", "drm")
    assert display.id == "edid-SAM:00e5-HSHXB00159"  # the monitor, not the port it is on
    assert inv.busy() is not True  # a monitor never makes the room look busy
    _validate("devices", inv.to_json())
    assert scan(Paths.under(AV / "drm-disconnected")).displays == []
    assert scan(Paths.under(AV / "no-drm")).displays == []
    # An older agent's devices object (no displays) stays valid.
    _validate("devices", {k: v for k, v in inv.to_json().items() if k != "displays"})


def test_display_entries_parse_and_refuse_usb_and_stray_connector() -> None:
    [entry] = parse_config(SYNCMASTER).equipment
    assert entry == EquipmentEntry(role="display", name="Samsung SyncMaster", serial="HSHXB00159",
                                   connector="HDMI-A-*", label="front of the room")
    for toml, key in (('role = "display"\nusb = "046d:082d"', "equipment[1].usb"),
                      ('role = "display"\nlabel = "x"', "equipment[1].name"),
                      ('role = "camera"\nusb = "046d:082d"\nconnector = "HDMI-A-1"', "equipment[1].connector")):
        with pytest.raises(ConfigError) as err:
            parse_config("[[equipment]]\n" + toml + "\n")
        assert key in str(err.value)


def test_profile_from_the_attached_display_reads_back_and_matches() -> None:
    inv = scan(Paths.under(AV / "drm-connected"))
    entries = profile_from(inv, Counting())
    assert entries == (EquipmentEntry(role="display", name="Samsung SyncMaster", model="Samsung SyncMaster"),)
    text = render(entries, "room profile")
    assert parse_config(text).equipment == entries
    report = match(entries, inv, Counting())
    assert [p.device.id if p.device else None for p in report.pairings] == ["edid-SAM:00e5-HSHXB00159"]
    _validate("equipment", report.to_json())


def test_declared_display_present_then_unplugged_fails_like_a_missing_camera(tmp_path: Path) -> None:
    ok = _display_check(_tree(tmp_path, "drm-connected"), tmp_path, SYNCMASTER)
    assert ok["status"] == "ok" and ok["code"] == "display.connected", ok
    assert ok["details"]["equipment"]["declared"][0]["state"] == "present"

    # Dev config needs no display at all: the declaration alone makes it required.
    gone = _display_check(_tree(tmp_path, "drm-disconnected"), tmp_path, SYNCMASTER, "[policy]\nmin_displays = 0\n")
    assert gone["status"] == "fail" and gone["code"] == "display.declared_missing", gone
    assert gone["summary"].startswith("missing: 'Samsung SyncMaster' serial HSHXB00159 on HDMI-A-*,"
                                      " declared 'front of the room'; no display connected"), gone["summary"]


def test_another_monitor_in_place_of_the_declared_one_fails_and_names_both(tmp_path: Path) -> None:
    other = SYNCMASTER.replace("HSHXB00159", "HSHXB99999")
    result = _display_check(_tree(tmp_path, "drm-connected"), tmp_path, other)
    assert result["status"] == "fail" and result["code"] == "display.declared_missing"
    assert "serial HSHXB99999" in result["summary"]
    assert ("undeclared display: Samsung SyncMaster on HDMI-A-1, not in the room profile"
            in result["summary"]), result["summary"]


def test_a_second_display_appearing_is_drift(tmp_path: Path) -> None:
    root = _tree(tmp_path, "drm-connected")
    (root / "sys/class/drm/card0-DP-1/status").write_text("connected\n")  # a projector without EDID
    result = _display_check(root, tmp_path, SYNCMASTER)
    assert result["status"] == "warn" and result["code"] == "display.undeclared", result
    assert result["summary"] == ("a display without EDID on DP-1, Samsung SyncMaster on HDMI-A-1; undeclared"
                                 " display: display without EDID on DP-1, not in the room profile")
    assert result["params"]["count"] == 2


def test_profile_show_pairs_the_declared_display(tmp_path: Path) -> None:
    root = _tree(tmp_path, "drm-connected")
    config = tmp_path / "agent.toml"
    config.write_text("")
    (tmp_path / "equipment.toml").write_text(SYNCMASTER)
    shown = run_agent("--config", str(config), "--root", str(root), "profile", "show", "--json")
    assert shown.returncode == 2, shown.stderr  # the tree has no camera: devices.cameras fails
    doc = json.loads(shown.stdout)
    assert doc["status"] == "fail"
    assert [(d["role"], d["state"], d["connector"]) for d in doc["declared"]] == [("display", "present", "HDMI-A-*")]
    _validate("equipment", {k: doc[k] for k in ("declared", "undeclared")})


def test_heartbeat_with_a_declared_display_is_schema_valid(tmp_path: Path) -> None:
    from agent.checks.av_display import check_display_connected
    from agent.checks.base import CheckContext
    from agent.daemon import heartbeat
    from agent.devices.equipment import equipment_json

    config = parse_config('[room]\nid = "r-1"\n' + SYNCMASTER)
    paths = Paths.under(AV / "drm-connected")
    inv = scan(paths)
    result = check_display_connected(CheckContext(config=config, paths=paths))
    doc = heartbeat.build(config, 1, [result], inv.to_json(), {}, {"hostname": "h"}, heartbeat.SpoolFigures(0, 0),
                          agent_instance="0" * 32, equipment=equipment_json(config, inv))
    errors = [e.message for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc)]
    assert not errors, errors
    assert doc["devices"]["displays"][0]["connector"] == "HDMI-A-1"
    assert doc["equipment"]["declared"][0]["role"] == "display"
    assert doc["checks"][0]["code"] == "display.connected"
