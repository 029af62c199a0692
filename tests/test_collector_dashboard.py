"""The dashboard in a real headless Chromium: rooms and statuses are in the rendered page.

Chromium signs in through the login form (tests/browser.py); the other tests read
the pages with the admin token of ``running_collector`` (``c.get``).
The screenshot is kept as build/dashboard.png (and build/dashboard-room.png) for people to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.sample import heartbeat
from collector.store import Store
from collector.web.dashboard import PAGE_SIZE
from collector.web.i18n import LABELS
from tests.browser import Browser
from tests.collector_helpers import collector_db, RunningCollector, running_collector

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"


def fill(c: RunningCollector) -> None:
    def send(room: str, body: dict) -> None:
        r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens[room]}"})
        assert r.status_code == 200, r.text

    send("bd-ok", heartbeat("bd-ok", 1, unit="UBND quận Ba Đình", name="Phòng họp A"))
    send("bd-fail", heartbeat("bd-fail", 1, unit="UBND quận Ba Đình", name="Phòng họp B", status="fail",
                              failing="devices.cameras"))
    send("hk-warn", heartbeat("hk-warn", 1, unit="UBND quận Hoàn Kiếm", name="Phòng họp C", status="warn",
                              failing="probe.jitter"))
    # hk-silent is enrolled but never reported: offline.


@pytest.mark.one_store
def test_dashboard_renders_rooms_and_statuses_in_chromium(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("bd-ok", "bd-fail", "hk-warn", "hk-silent")) as c, \
            Browser(tmp_path / "profile") as browser:
        fill(c)
        c.add_user("operator", "mật-khẩu-điều-hành", "operator")
        browser.open(f"{c.url}/")
        dom = browser.submit_login("operator", "mật-khẩu-điều-hành")
        browser.screenshot(BUILD / "dashboard.png")
        t = LABELS["vi"]
        assert t["title"] in dom
        statuses = dict(re.findall(r'data-room="([^"]+)" data-status="([a-z]+)"', dom))
        assert statuses == {"bd-ok": "ok", "bd-fail": "fail", "hk-warn": "warn", "hk-silent": "offline"}
        # Units in the order of their worst room, rooms worst first inside; hk-silent never said its unit.
        assert list(statuses) == ["hk-silent", "bd-fail", "bd-ok", "hk-warn"]
        for status, n in (("ok", 1), ("warn", 1), ("fail", 1), ("offline", 1)):
            assert re.search(rf'id="count-{status}"[^>]*>{t[status]}<b>{n}</b>', dom), status
        assert "devices.cameras out of range" in dom and "Nguyễn Văn An 0912 345 678" in dom

        room = browser.open(f"{c.url}/rooms/bd-fail?lang=en")
        browser.screenshot(BUILD / "dashboard-room.png")
        assert "Failing" in room and "Logitech MeetUp" in room and "rtt_avg_ms" in room
        assert re.search(r'<table id="events">.*Failing', room, re.S)

        report = browser.open(f"{c.url}/report?days=7")
        browser.screenshot(BUILD / "dashboard-report.png")
        assert t["compliant_period"].format(n=7) in report
        assert re.search(r"<td>UBND quận Ba Đình</td><td>2</td><td>1</td><td>1</td>\s*<td>devices.cameras \(1\)", report)


def test_filters_and_languages(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("bd-ok", "bd-fail", "hk-warn", "hk-silent")) as c:
        fill(c)
        page = c.get("/", params={"unit": "UBND quận Hoàn Kiếm"}).text
        assert re.findall(r'data-room="([^"]+)"', page) == ["hk-warn"]
        page = c.get("/", params={"status": "fail", "lang": "en"}).text
        assert re.findall(r'data-room="([^"]+)"', page) == ["bd-fail"]
        assert 'lang="en"' in page and LABELS["en"]["title"] in page
        assert c.get("/rooms/none").status_code == 404
        # Room names are escaped, not injected.
        r = httpx.post(c.heartbeat_url, json=heartbeat("bd-ok", 2, name="<script>alert(1)</script>"),
                       headers={"Authorization": f"Bearer {c.tokens['bd-ok']}"})
        assert r.status_code == 200
        page = c.get("/").text
        assert "<script>" not in page and "&lt;script&gt;" in page


def test_labels_exist_in_both_languages() -> None:
    assert LABELS["vi"].keys() == LABELS["en"].keys()


def test_large_dashboard_is_paged_worst_first(tmp_path: Path) -> None:
    store = Store(collector_db(tmp_path))
    for i in range(1203):
        store.add_room(f"r-{i:04d}", unit=f"Unit {i % 7}")
    store.close()
    with running_collector(tmp_path, rooms=("bad",)) as c:
        r = httpx.post(c.heartbeat_url, json=heartbeat("bad", 1, status="fail", failing="net.link", unit="Unit Z"),
                       headers={"Authorization": f"Bearer {c.tokens['bad']}"})
        assert r.status_code == 200
        first = c.get("/").text
        assert re.search(r'id="count-offline"[^>]*>[^<]*<b>1203</b>', first)
        pages = [re.findall(r'data-room="([^"]+)"', c.get("/", params={"page": n}).text)
                 for n in range(1, -(-1204 // PAGE_SIZE) + 1)]
        assert [len(p) for p in pages[:-1]] == [PAGE_SIZE] * (len(pages) - 1) and 0 < len(pages[-1]) <= PAGE_SIZE
        every = [r for p in pages for r in p]
        assert len(every) == len(set(every)) == 1204  # each room on exactly one page
        # The failing room sorts after the never-seen (offline) ones but is on a page all the same.
        assert "bad" in every
        assert c.get("/", params={"page": 99}).status_code == 200
