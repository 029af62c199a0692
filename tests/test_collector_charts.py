"""The dashboard's pictures: SVG geometry on plain values, then the room charts and the city tiles in Chromium.

Screenshots at 1366×768 are kept in build/ (charts-overview-vi.png, charts-room-en.png, ...) for people to look at.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from collector.history import Point
from collector.ingest import to_heartbeat
from tests.sample import heartbeat
from collector.store import Store
from collector.web import charts
from collector.web.i18n import LABELS
from tests.browser import Browser
from tests.collector_helpers import collector_db, running_collector

BUILD = Path(__file__).resolve().parent.parent / "build"
BASE = 1_800_000_000.0  # 2027-01-15 08:00 UTC = 15:00 in Hanoi


def _p(at: float, avg: float, lo: float | None = None, hi: float | None = None) -> Point:
    return Point(at, avg if lo is None else lo, avg, avg if hi is None else hi, 1)


# --- pure geometry -------------------------------------------------------------------------------

def test_scale_and_nice_max() -> None:
    x = charts.Scale(100.0, 200.0, 0.0, 500.0)
    assert (x(100), x(150), x(200)) == (0.0, 250.0, 500.0)
    y = charts.Scale(0.0, 50.0, 180.0, 10.0)  # a y axis grows upwards
    assert (y(0), y(25), y(50)) == (180.0, 95.0, 10.0)
    assert charts.Scale(1.0, 1.0, 7.0, 9.0)(5.0) == 7.0  # an empty domain does not divide by zero
    assert [charts.nice_max(v) for v in (0, 0.7, 1, 1.2, 3, 4.2, 7, 11, 260)] == [1, 1, 1, 2, 5, 5, 10, 20, 500]
    assert charts.value_ticks(20, 4) == [0, 5, 10, 15, 20]


def test_segments_polyline_and_area() -> None:
    pts = [_p(0, 1), _p(60, 2), _p(120, 3), _p(1000, 4), _p(1060, 5)]
    parts = charts.segments(pts, 180)
    assert [[p.at for p in s] for s in parts] == [[0, 60, 120], [1000, 1060]]  # no line across the silence
    x = charts.Scale(0, 1200, 0, 1200)
    y = charts.Scale(0, 10, 100, 0)
    assert charts.polyline(parts[0], x, y) == "0.0,90.0 60.0,80.0 120.0,70.0"
    area = charts.area_path([_p(0, 5, 2, 8), _p(60, 5, 4, 6)], x, y)
    assert area == "M0.0,20.0 L60.0,40.0 L60.0,60.0 L0.0,80.0 Z"  # along the max, back along the min
    assert charts.area_path([], x, y) == ""


def test_time_ticks_are_hanoi_time() -> None:
    x = charts.plot_x(BASE, BASE + 86400)
    ticks = charts.time_ticks(BASE, BASE + 86400, x)
    # 24 h -> every 3 h on Hanoi's clock: 15:00 is BASE itself, then 18:00, 21:00, 00:00 ...
    assert [t.label for t in ticks][:4] == ["15:00", "18:00", "21:00", "00:00"]
    assert ticks[0].pos == x(BASE) and len(ticks) <= 9
    wx = charts.plot_x(BASE, BASE + 7 * 86400)
    week = charts.time_ticks(BASE, BASE + 7 * 86400, wx)
    assert week[0].label == "16/01" and all(re.fullmatch(r"\d\d/\d\d", t.label) for t in week)
    assert week[0].pos == wx(BASE + 9 * 3600)  # Hanoi midnight is 17:00 UTC, 9 h after BASE


def test_status_spans_and_band() -> None:
    step = 300  # each point holds at most 300 s
    pts = [_p(BASE, 0, hi=0), _p(BASE + 300, 0, hi=2), _p(BASE + 600, 0, hi=1),  # ok, fail, warn
           _p(BASE + 1800, 0, hi=0)]  # nothing heard 900..1800: offline
    spans = charts.status_spans(pts, step, BASE, BASE + 2400)
    assert spans == [(BASE, BASE + 300, "ok"), (BASE + 300, BASE + 600, "fail"), (BASE + 600, BASE + 900, "warn"),
                     (BASE + 900, BASE + 1800, "offline"), (BASE + 1800, BASE + 2100, "ok"),
                     (BASE + 2100, BASE + 2400, "offline")]
    # The collector's own gap is cut out, not blamed on the room.
    cut = charts.status_spans(pts, step, BASE, BASE + 2400, gaps=[(BASE + 1000, BASE + 1700)])
    assert (BASE + 900, BASE + 1000, "offline") in cut and (BASE + 1700, BASE + 1800, "offline") in cut
    assert not any(a < BASE + 1700 and b > BASE + 1000 for a, b, _ in cut)
    # Neighbouring ok steps merge into one rect.
    assert charts.status_spans([_p(BASE, 0, hi=0), _p(BASE + 300, 0, hi=0)], step, BASE, BASE + 600) \
        == [(BASE, BASE + 600, "ok")]
    x = charts.Scale(BASE, BASE + 2400, 0, 2400)
    band = charts.status_band(spans, x)
    assert [(r.x, r.width, r.status) for r in band][:2] == [(0.0, 300.0, "ok"), (300.0, 300.0, "fail")]
    assert band[1].colour == charts.STATUS_COLOURS["fail"]
    tiny = charts.status_band([(BASE, BASE + 0.1, "fail")], x)
    assert tiny[0].width == 1.0  # a short fault stays visible


def test_build_chart() -> None:
    series = {"rtt_avg_ms": [_p(BASE, 10, 8, 12), _p(BASE + 300, 40, 30, 60), _p(BASE + 5000, 20)],
              "jitter_ms": []}
    c = charts.build_chart("latency", "ms", series, {"rtt_avg_ms": 100.0}, BASE, BASE + 6000, 300)
    assert c.y_max == 200  # the threshold is in the picture too
    assert [len(line.polylines) for line in c.lines] == [2, 0]  # the 4700 s silence splits the line
    assert len(c.lines[0].area) == 1  # a lone point has no area
    (metric, value, y), = c.thresholds
    assert (metric, value) == ("rtt_avg_ms", 100.0) and c.top < y < c.bottom
    assert abs(y - (c.bottom + c.top) / 2) < 1e-6
    assert [t.label for t in c.y_ticks] == ["0", "50", "100", "150", "200"]
    assert not c.empty
    assert charts.build_chart("loss", "%", {"loss_pct": []}, {}, BASE, BASE + 60, 60).empty


# --- a real collector with rooms and history ---------------------------------------------------

def _write(store: Store, room: str, seq: int, at: float, **kw: Any) -> None:
    figures = kw.pop("figures", {})
    doc = heartbeat(room, seq, **kw)
    doc["network"].update(figures)
    hb = to_heartbeat(doc, json.dumps(doc).encode(), at)
    store.write_heartbeats([hb])  # type: ignore[list-item]


def _room_with_history(db: Any, now: float) -> None:
    """r-hist: a heartbeat every 5 minutes for 24 h; a fault from -10 h to -9 h; silent from -6 h to -4 h."""
    store = Store(db)
    store.add_room("r-hist")
    seq = 0
    for k in range(288, 0, -1):
        at = now - k * 300 + 30
        age_h = (now - at) / 3600
        if 4 < age_h < 6:
            continue
        seq += 1
        failing = 9 < age_h < 10
        _write(store, "r-hist", seq, at, unit="UBND quận Ba Đình", name="Phòng họp lịch sử",
               interval_s=300, status="fail" if failing else "ok", failing="probe.rtt" if failing else None,
               figures={"rtt_avg_ms": 150.0 if failing else 10.0 + (k % 5), "jitter_ms": 1.0 + (k % 3),
                        "loss_pct": 0.0 if not failing else 2.5, "upload_mbps": 80.0, "download_mbps": 90.0})
    store.close()


def _sized(b: Browser) -> None:
    b.call("Emulation.setDeviceMetricsOverride", session=True, width=1366, height=768, deviceScaleFactor=1,
           mobile=False)


@pytest.mark.one_store
def test_room_page_charts(tmp_path: Path) -> None:
    now = time.time()
    _room_with_history(collector_db(tmp_path), now)
    with running_collector(tmp_path, rooms=()) as c, Browser(tmp_path / "profile") as b:
        c.add_user("viewer", "mật-khẩu-xem-1234", "viewer")
        _sized(b)
        b.open(f"{c.url}/")
        b.submit_login("viewer", "mật-khẩu-xem-1234")
        for lang in ("vi", "en"):
            t = LABELS[lang]
            dom = b.open(f"{c.url}/rooms/r-hist?lang={lang}&range=24h")
            b.screenshot(BUILD / f"charts-room-{lang}.png")
            assert t["chart_latency"] in dom and t["status_timeline"] in dom and t["source_raw"] in dom
            # The 2-hour silence splits every line in two; each chart draws its thresholds dashed.
            for metric in ("rtt_avg_ms", "jitter_ms", "loss_pct", "upload_mbps", "download_mbps"):
                assert b.evaluate(f"document.querySelectorAll('polyline.series-{metric}').length") == 2, metric
                assert b.evaluate(f"document.querySelectorAll('line.threshold-{metric}').length") == 1, metric
            assert b.evaluate("document.querySelector('line.threshold').getAttribute('stroke-dasharray')") == "6 4"
            assert b.evaluate("document.querySelectorAll('path.range-area').length") >= 10
            band = b.evaluate("[...document.querySelectorAll('#status-band rect')].map(r => r.getAttribute('class'))")
            assert {"band-ok", "band-fail", "band-offline"} <= set(band)
            assert band.count("band-fail") == 1 and band[-1] == "band-ok"
            # The charts are readable: the SVG is laid out at a useful size in the 1366 px window.
            width = b.evaluate("document.getElementById('chart-latency').getBoundingClientRect().width")
            assert 600 <= width <= 1366
        # 7 d reads the 5-minute rollups, 30 d the hourly ones, as the series API would.
        week = c.get("/rooms/r-hist", params={"range": "7d", "lang": "en"}).text
        assert LABELS["en"]["source_5m"] in week and 'id="range-7d"' in week
        month = c.get("/rooms/r-hist", params={"range": "30d", "lang": "en"}).text
        assert LABELS["en"]["source_60m"] in month
        assert month.count('class="series series-rtt_avg_ms"') >= 1
        assert c.get("/rooms/r-hist", params={"range": "1y"}).status_code == 200  # unknown range: 24 h


UNITS = [f"UBND phường {n:02d}" for n in range(1, 31)]


@pytest.mark.one_store
def test_overview_city_tiles_1000_rooms(tmp_path: Path) -> None:
    now = time.time()
    store = Store(collector_db(tmp_path))
    batch = []
    statuses: dict[str, str] = {}
    for i in range(1000):
        room = f"p-{i:04d}"
        unit = UNITS[i % len(UNITS)]
        store.add_room(room, unit=unit)
        if i % 97 == 5:
            statuses[room] = "offline"  # enrolled, never heard
            continue
        status = "fail" if i % 50 == 3 else "warn" if i % 40 == 7 else "ok"
        statuses[room] = status
        doc = heartbeat(room, 1, unit=unit, status=status, failing="probe.loss" if status != "ok" else None)
        batch.append(to_heartbeat(doc, json.dumps(doc).encode(), now - 10))
    store.write_heartbeats(batch)  # type: ignore[arg-type]
    store.close()
    with running_collector(tmp_path, rooms=()) as c, Browser(tmp_path / "profile") as b:
        c.add_user("viewer", "mật-khẩu-xem-1234", "viewer")
        _sized(b)
        b.open(f"{c.url}/")
        b.submit_login("viewer", "mật-khẩu-xem-1234")
        for lang in ("vi", "en"):
            dom = b.open(f"{c.url}/?lang={lang}")
            b.screenshot(BUILD / f"charts-overview-{lang}.png")
            assert LABELS[lang]["city_picture"] in dom
            assert len(re.findall(r'class="tile ', dom)) == 1000  # tile count == rooms
            got = {room: status for status, room in re.findall(r'class="tile s-([a-z]+)" href="/rooms/([^"?]+)', dom)}
            assert got == statuses
            # All 1,000 tiles are on the first screen at 1366×768.
            inside = b.evaluate("[...document.querySelectorAll('a.tile')].filter(e => {"
                                " const r = e.getBoundingClientRect();"
                                " return r.top >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth"
                                " && r.width > 0; }).length")
            assert inside == 1000, inside
            assert b.evaluate("window.innerWidth") == 1366 and b.evaluate("window.innerHeight") == 768
            # Worst units first: the first unit shown has a failing (or offline) room.
            order = b.evaluate("[...document.querySelectorAll('#city .unit-label')].map(e => e.dataset.unit)")
            assert len(order) == len(UNITS)
            first_unit_rooms = [r for r, s in statuses.items() if UNITS[int(r[2:]) % len(UNITS)] == order[0]]
            assert any(statuses[r] in ("fail", "offline") for r in first_unit_rooms)
            # Each tile links to its room and says which room it is.
            first = b.evaluate("(() => { const a = document.querySelector('a.tile'); return [a.getAttribute('href'),"
                               " a.getAttribute('title')]; })()")
            assert first[0].startswith("/rooms/p-") and first[0].endswith(f"lang={lang}")
            assert order[0] in first[1] and LABELS[lang][statuses[first[0][7:13]]] in first[1]
        # Print: the tiles keep their colours and the filter form is not printed.
        b.call("Emulation.setEmulatedMedia", session=True, media="print")
        assert b.evaluate("getComputedStyle(document.querySelector('main > form')).display") == "none"
        assert b.evaluate("getComputedStyle(document.querySelector('a.tile')).printColorAdjust") == "exact"


def test_city_tiles_markup_is_escaped() -> None:
    from types import SimpleNamespace
    rooms = [SimpleNamespace(room_id="a<1", name='Phòng "A"', status="fail", failing=[{"summary": "x & y"}]),
             SimpleNamespace(room_id="b-2", name=None, status="ok", failing=[])]
    html = str(charts.city_tiles([("Quận <1>", rooms)], LABELS["vi"], "vi"))
    assert html.count('class="tile ') == 2 and html.count('class="unit-label"') == 1
    assert 'href="/rooms/a&lt;1?lang=vi"' in html and "Phòng &quot;A&quot;" in html and "(x &amp; y)" in html
    assert f'href="/rooms/b-2?lang=vi" title="b-2 — Quận &lt;1&gt;: {LABELS["vi"]["ok"]}"' in html
