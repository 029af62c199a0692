"""History: per-heartbeat figures, their rollups (a hand-computed example) and the series API."""

from __future__ import annotations

import json
import time
from pathlib import Path

from collector.ingest import to_heartbeat
from tests.sample import heartbeat
from collector.store import Store
from tests.collector_helpers import collector_db, running_collector


def _store_with(path: Path, room: str, figures: list[tuple[float, float | None]]) -> None:
    """Heartbeats of ``room`` received at the given times with the given rtt_avg_ms."""
    store = Store(path)
    store.add_room(room)
    for seq, (at, rtt) in enumerate(figures, start=1):
        doc = heartbeat(room, seq)
        doc["network"]["rtt_avg_ms"] = rtt
        hb = to_heartbeat(doc, json.dumps(doc).encode(), at)
        store.write_heartbeats([hb])  # type: ignore[list-item]
        store.write_heartbeats([hb])  # type: ignore[list-item]  # a replay: must not count twice
    store.close()


def test_rollup_hand_computed(tmp_path: Path) -> None:
    base = 1_800_000_000.0  # a multiple of 3600
    _store_with(tmp_path / "c.db", "r-1", [(base + 10, 10.0), (base + 70, 30.0), (base + 200, None),
                                           (base + 310, 50.0)])
    store = Store(tmp_path / "c.db")
    first = store.rollup("r-1", 300, base)
    # 10 and 30 (the None is not measured): n 2, min 10, max 30, sum 40 -> avg 20
    assert (first["rtt_avg_ms_n"], first["rtt_avg_ms_min"], first["rtt_avg_ms_max"], first["rtt_avg_ms_sum"]) \
        == (2, 10.0, 30.0, 40.0)
    assert first["status_n"] == 3  # every heartbeat has a status
    second = store.rollup("r-1", 300, base + 300)
    assert (second["rtt_avg_ms_n"], second["rtt_avg_ms_sum"]) == (1, 50.0)
    hour = store.rollup("r-1", 3600, base)
    assert (hour["rtt_avg_ms_n"], hour["rtt_avg_ms_min"], hour["rtt_avg_ms_max"], hour["rtt_avg_ms_sum"]) \
        == (3, 10.0, 50.0, 90.0)
    store.close()


def test_series_api(tmp_path: Path) -> None:
    now = time.time()
    base = (now - 7200) // 3600 * 3600
    _store_with(collector_db(tmp_path), "old-1", [(base + 10, 10.0), (base + 70, 30.0), (base + 310, 50.0)])
    with running_collector(tmp_path) as c:
        raw = c.get("/api/v1/rooms/old-1/series", params={"metric": "rtt_avg_ms", "from": base, "to": base + 3600,
                                                           "step": 60}).json()
        assert raw["source"] == "raw" and [p["avg"] for p in raw["points"]] == [10.0, 30.0, 50.0]
        five = c.get("/api/v1/rooms/old-1/series", params={"metric": "rtt_avg_ms", "from": base,
                                                            "to": base + 3600, "step": 300}).json()
        assert five["source"] == "5m"
        assert [(p["min"], p["avg"], p["max"], p["count"]) for p in five["points"]] == [(10, 20, 30, 2), (50, 50, 50, 1)]
        hour = c.get("/api/v1/rooms/old-1/series", params={"metric": "rtt_avg_ms", "from": base,
                                                            "to": base + 3600, "step": 3600}).json()
        assert hour["source"] == "60m" and hour["points"][0]["avg"] == 30
        for bad in ({"metric": "nope"}, {"metric": "rtt_avg_ms", "from": "yesterday"},
                    {"metric": "rtt_avg_ms", "step": "-5"}, {"metric": "rtt_avg_ms", "step": "1", "from": "0"},
                    {"metric": "rtt_avg_ms", "from": str(base + 10), "to": str(base)}):
            r = c.get("/api/v1/rooms/old-1/series", params=bad)
            assert r.status_code == 400 and r.json()["error"], bad
        assert c.get("/api/v1/rooms/nobody/series", params={"metric": "loss_pct"}).status_code == 404
