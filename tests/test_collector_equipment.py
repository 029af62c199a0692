"""The room page's "Declared equipment" table, from a heartbeat with an equipment object."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.sample import heartbeat
from collector.web.i18n import LABELS
from tests.collector_helpers import running_collector

EQUIPMENT = {
    "declared": [
        {"role": "camera", "label": "camera above the screen", "usb": "046d:0866", "model": "Logitech MeetUp",
         "state": "present", "device_id": "usb-046d:0866", "device_name": "Logitech MeetUp"},
        {"role": "microphone", "label": "loa họp trên bàn", "usb": "0b0e:0422", "model": "Jabra SPEAK 510 USB",
         "state": "missing", "device_id": None, "device_name": None},
    ],
    "undeclared": [
        {"role": "camera", "device_id": "usb-0fd9:0066-x/capture0", "name": "Cam Link 4K: Cam Link 4K",
         "node": "/dev/video2", "usb": "0fd9:0066"},
    ],
}


def test_room_page_lists_present_missing_and_undeclared(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("bd-eq", "bd-plain")) as c:
        for room, extra in (("bd-eq", {"equipment": EQUIPMENT}), ("bd-plain", {})):
            body = {**heartbeat(room, 1, status="fail", failing="devices.microphones"), **extra}
            r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens[room]}"})
            assert r.status_code == 200, r.text
        for lang in ("vi", "en"):
            t = LABELS[lang]
            page = c.get(f"/rooms/bd-eq", params={"lang": lang}).text
            assert f"<h2>{t['equipment']}</h2>" in page
            table = re.search(r'<table id="equipment">(.*?)</table>', page, re.S)
            assert table is not None
            rows = re.findall(r'<tr class="eq-([a-z]+)">(.*?)</tr>', table[1], re.S)
            assert [state for state, _ in rows] == ["present", "missing", "undeclared"]
            assert t["equipment_missing"] in rows[1][1] and "Jabra SPEAK 510 USB" in rows[1][1]
            assert "loa họp trên bàn" in rows[1][1] and t["microphone"] in rows[1][1]
            assert "0fd9:0066" in rows[2][1] and t["equipment_undeclared"] in rows[2][1]
        plain = c.get(f"/rooms/bd-plain").text
        assert 'id="equipment"' not in plain  # no profile: no table


SYNCMASTER = {"id": "edid-SAM:00e5-HSHXB00159", "name": "Samsung SyncMaster", "node": "card0-HDMI-A-1",
              "bus": "drm", "vendor_id": None, "product_id": None, "vendor": "Samsung", "model": "SyncMaster",
              "serial": "HSHXB00159", "virtual": False, "in_use": False, "in_use_signal": None,
              "connector": "HDMI-A-1"}
DISPLAYS = {
    "declared": [
        {"role": "display", "label": "màn hình đầu phòng", "name": "Samsung SyncMaster", "serial": "HSHXB00159",
         "connector": "HDMI-A-*", "state": "present", "device_id": SYNCMASTER["id"],
         "device_name": "Samsung SyncMaster"},
    ],
    "undeclared": [
        {"role": "display", "device_id": "drm-card0-DP-1", "name": "display without EDID", "node": "card0-DP-1",
         "usb": None},
    ],
}


def test_room_page_shows_displays_and_their_declaration(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("bd-disp", "bd-old")) as c:
        base = heartbeat("bd-disp", 1, status="warn", failing="display.connected")
        body = {**base, "devices": {**base["devices"], "displays": [SYNCMASTER]}, "equipment": DISPLAYS}
        r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens['bd-disp']}"})
        assert r.status_code == 200, r.text
        # An agent from before displays sends none: still accepted, no displays row.
        old = heartbeat("bd-old", 1)
        assert "displays" not in old["devices"]
        r = httpx.post(c.heartbeat_url, json=old, headers={"Authorization": f"Bearer {c.tokens['bd-old']}"})
        assert r.status_code == 200, r.text
        for lang in ("vi", "en"):
            t = LABELS[lang]
            page = c.get("/rooms/bd-disp", params={"lang": lang}).text
            row = re.search(r'<tr id="devices-displays">(.*?)</tr>', page, re.S)
            assert row is not None and t["displays"] in row[1]
            assert "Samsung SyncMaster" in row[1] and "HDMI-A-1" in row[1] and "HSHXB00159" in row[1]
            table = re.search(r'<table id="equipment">(.*?)</table>', page, re.S)
            assert table is not None
            rows = re.findall(r'<tr class="eq-([a-z]+)">(.*?)</tr>', table[1], re.S)
            assert [state for state, _ in rows] == ["present", "undeclared"]
            assert t["display"] in rows[0][1] and f"{t['serial']} HSHXB00159" in rows[0][1]
            assert "màn hình đầu phòng" in rows[0][1] and "display without EDID" in rows[1][1]
        assert 'id="devices-displays"' not in c.get("/rooms/bd-old").text
        assert 'id="devices-cameras"' in c.get("/rooms/bd-old").text
        # The heartbeat schema still refuses what no agent sends.
        bad = {**body, "devices": {**body["devices"], "displays": [{**SYNCMASTER, "bus": "hdmi"}]}}
        r = httpx.post(c.heartbeat_url, json=bad, headers={"Authorization": f"Bearer {c.tokens['bd-disp']}"})
        assert r.status_code == 422, r.text
