"""Compliance by time: share of the period compliant, fault episodes and MTTR on a crafted history."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

from collector.ingest import to_heartbeat
from collector.report import compliance, report_json, report_rooms_csv, timeline
from tests.sample import heartbeat
from collector.store import Store
from tests.collector_helpers import run_collector, running_collector

DAY = 86400.0


def enrol(db: Path, *rooms: str) -> None:
    for room_id in rooms:
        done = run_collector("--db", str(db), "room", "add", room_id)
        assert done.returncode == 0, done.stderr


def write_history(store: Store, room_id: str, unit: str, history: list[tuple[float, str]]) -> None:
    """Heartbeats (received_at, status) with a 60 s interval, as the collector would have stored them."""
    for seq, (at, status) in enumerate(history, start=1):
        doc = heartbeat(room_id, seq, status=status, unit=unit, interval_s=60,
                        failing="mcu.tcp" if status == "fail" else None)
        store.write_heartbeats([to_heartbeat(doc, json.dumps(doc).encode(), at)])  # type: ignore[list-item]


@pytest.fixture()
def crafted(tmp_path: Path) -> tuple[Store, float]:
    db = tmp_path / "collector.db"
    enrol(db, "r-a", "r-b", "r-c", "r-d")
    store = Store(db)
    now = 1_800_000_000.0
    since = now - DAY
    # r-a: ok before the period; fail 600 s, later fail 300 s; ok at the end
    write_history(store, "r-a", "Unit A", [(since - 1000, "ok"), (since + 1000, "fail"), (since + 1600, "ok"),
                                           (since + 5000, "fail"), (since + 5300, "ok"), (now - 30, "ok")])
    # r-b: enrolled half-way, ok since
    write_history(store, "r-b", "Unit A", [(since + DAY / 2, "ok"), (now - 30, "ok")])
    # r-c: failing when the period began (200 s into it), a collector gap, then failing to the end
    write_history(store, "r-c", "Unit B", [(since - 500, "fail"), (since + 200, "ok"), (since + 20000, "fail"),
                                           (now - 30, "fail")])
    store.record_gap(since + 10000, since + 12000, "restart")
    # r-d: enrolled, never heard
    yield store, now
    store.close()


def test_hand_computed_shares_episodes_and_mttr(crafted: tuple[Store, float]) -> None:
    store, now = crafted
    report = compliance(store, 1, now, 3.0)
    units = {u.unit: u for u in report.units}
    rooms = {r.room_id: r for u in report.units for r in u.room_reports}
    a, b, c, d = (rooms[k].time for k in ("r-a", "r-b", "r-c", "r-d"))
    # the gap [10000, 12000] and the offline threshold after it (3 × 60 s) count neither way, for every
    # room heard then: r-a and r-c; r-b was first heard after it
    excluded = 2000 + 180
    assert (a.counted_s, a.compliant_s, a.episodes, a.repaired, a.mttr_s) == (DAY - excluded, DAY - excluded - 900,
                                                                              2, 2, 450.0)
    assert a.share == pytest.approx(83320 / 84220)
    assert (b.counted_s, b.share, b.episodes, b.mttr_s) == (DAY / 2, 1.0, 0, None)
    assert c.counted_s == DAY - excluded
    assert c.compliant_s == DAY - excluded - 200 - (DAY - 20000)
    assert (c.episodes, c.repaired, c.mttr_s) == (2, 1, 200.0)  # the one at the start ended; the last goes on
    assert (d.counted_s, d.share, d.episodes) == (0.0, None, 0)
    unit_a = units["Unit A"].time
    assert unit_a.share == pytest.approx((83320 + 43200) / (84220 + 43200))
    assert (unit_a.episodes, unit_a.mttr_s) == (2, 450.0)
    total = report.totals.time
    assert total.episodes == 4 and total.mttr_s == pytest.approx(1100 / 3)
    assert total.share == pytest.approx((83320 + 43200 + 17620) / (84220 + 43200 + 84220))
    # still listed: the rooms compliant throughout (r-b; r-a had faults, r-d was never heard)
    assert [r.room_id for r in units["Unit A"].compliant_throughout] == ["r-b"]
    assert units["Unit B"].compliant_throughout == []
    body = report_json(report)
    json_a = next(u for u in body["units"] if u["unit"] == "Unit A")
    assert json_a["fault_episodes"] == 2 and json_a["mttr_s"] == 450.0
    assert json_a["compliant_throughout"] == ["r-b"]
    assert {r["room_id"] for r in json_a["rooms_detail"]} == {"r-a", "r-b"}
    assert body["totals"]["fault_episodes"] == 4
    rows = list(csv.reader(io.StringIO(report_rooms_csv(report).removeprefix("\ufeff"))))
    assert rows[0][:7] == ["unit", "room_id", "name", "status", "share_compliant_pct", "fault_episodes",
                           "mttr_minutes"]
    row_a = next(r for r in rows if r[1] == "r-a")
    assert row_a[4:7] == ["98.93", "2", "7.5"]


def test_timeline_pure_cases() -> None:
    # a transition exactly at the start, overlapping exclusions, an episode spanning a gap
    t = timeline(None, [(0.0, "fail"), (50.0, "offline"), (100.0, "ok")], 0.0, 200.0, [(20.0, 40.0), (30.0, 60.0)])
    assert (t.counted_s, t.compliant_s, t.episodes, t.repaired, t.repair_s) == (160.0, 100.0, 1, 1, 60.0)
    # nothing known about the room: nothing counted
    assert timeline(None, [], 0.0, 100.0, []).counted_s == 0.0
    # warn is compliant; events before the period are clamped
    t = timeline("warn", [(-10.0, "ok")], 0.0, 10.0, [])
    assert (t.share, t.episodes) == (1.0, 0)


def test_days_limited_to_retention_api_page_and_csv(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("k-1",), extra_args=("--retention-days", "7")) as c:
        r = httpx.post(c.heartbeat_url, json=heartbeat("k-1", 1), headers={"Authorization": f"Bearer {c.tokens['k-1']}"})
        assert r.status_code == 200, r.text
        r = c.get("/api/v1/report", params={"days": 8})
        assert r.status_code == 400
        assert "at most 7" in r.json()["error"] and "--retention-days" in r.json()["error"]
        assert c.get("/api/v1/report", params={"days": 3650}).status_code == 400
        ok = c.get("/api/v1/report", params={"days": 7}).json()
        assert ok["days"] == 7 and ok["units"][0]["compliant_throughout"] == ["k-1"]
        assert ok["units"][0]["rooms_detail"][0]["call_quality"]["mos"] > 4.3
        page = c.get("/report", params={"days": 30, "lang": "en"})
        assert page.status_code == 200
        assert "covers 7 days instead of 30" in page.text and 'id="report-rooms"' in page.text
        vi = c.get("/report", params={"days": 30}).text
        assert "báo cáo này tính 7 ngày thay vì 30 ngày" in vi and "Điểm cầu đạt suốt kỳ" in vi
        rooms_csv = c.get("/api/v1/report", params={"days": 7, "format": "csv", "by": "room"})
        assert rooms_csv.status_code == 200 and "compliance-rooms-7d.csv" in rooms_csv.headers["content-disposition"]
        assert rooms_csv.text.removeprefix("\ufeff").splitlines()[1].split(",")[1] == "k-1"
        room_page = c.get("/rooms/k-1", params={"lang": "en"}).text
        assert 'id="call-quality"' in room_page and "HD video profile" in room_page and "Within" in room_page


def test_report_and_room_page_in_a_real_browser(tmp_path: Path) -> None:
    from tests.browser import Browser

    with running_collector(tmp_path, rooms=("s-1", "s-2")) as c, Browser(tmp_path / "profile") as browser:
        for room_id, status in (("s-1", "ok"), ("s-2", "fail")):
            body = heartbeat(room_id, 1, status=status, failing="probe.loss" if status == "fail" else None)
            if status == "fail":
                body["network"].update({"rtt_avg_ms": 380.0, "jitter_ms": 45.0, "loss_pct": 4.0})
            r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens[room_id]}"})
            assert r.status_code == 200, r.text
        c.add_user("operator", "mật-khẩu-điều-hành", "operator")
        browser.open(f"{c.url}/report")
        browser.submit_login("operator", "mật-khẩu-điều-hành")
        dom = browser.open(f"{c.url}/report?days=7")
        assert 'id="report-rooms"' in dom and "Tỉ lệ thời gian đạt" in dom and "Không đạt" in dom
        rows = browser.evaluate("document.querySelectorAll('#report-rooms tr[data-room]').length")
        assert rows == 2
        browser.screenshot(tmp_path / "report-vi.png")
        dom = browser.open(f"{c.url}/rooms/s-2?lang=en")
        assert 'id="call-quality"' in dom and "Outside" in dom and "One-way latency" in dom
        browser.screenshot(tmp_path / "room-en.png")
        assert (tmp_path / "report-vi.png").stat().st_size > 10_000
