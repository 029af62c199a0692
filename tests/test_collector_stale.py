"""Skip is not ok, and an old ok is not ok either: stale results count as warn at the collector."""

from __future__ import annotations

from pathlib import Path

import httpx

from agent.result import CheckResult, Status
from collector.ingest import Validator
from tests.sample import heartbeat
from collector.status import judged_status, stale_checks
from tests.collector_helpers import running_collector


def _carried(status: str, age_s: float, max_age_s: float | None) -> dict:
    check = {"name": "probe.upload", "status": status, "summary": "upload 86.4 Mbit/s", "observed": 86.4,
             "threshold": 4, "unit": "Mbit/s", "measured_at": "2026-12-01T00:00:00Z", "age_s": age_s}
    if max_age_s is not None:
        check["max_age_s"] = max_age_s
    return check


def test_stale_only_beyond_the_declared_age() -> None:
    assert stale_checks([_carried("ok", 100, 200)]) == []
    assert stale_checks([_carried("ok", 300, None)]) == []  # no declared age: the agent's own verdict
    (stale,) = stale_checks([_carried("skip", 150_000, 108_000)])
    assert stale.status == "warn" and "not measured since 2026-12-01T00:00:00Z (1d 17h ago)" in stale.summary
    assert stale_checks([_carried("fail", 150_000, 108_000)]) == []  # a fail stays a fail
    assert judged_status("ok", [_carried("ok", 150_000, 108_000)])[0] == "warn"
    assert judged_status("fail", [_carried("ok", 150_000, 108_000)])[0] == "fail"


def test_the_agent_declares_the_age_of_a_carried_result() -> None:
    result = CheckResult("probe.upload", Status.OK, "upload 86.4 Mbit/s", measured_at=1.0, age_s=5.0,
                         max_age_s=108_000)
    doc = heartbeat("room-1", 1)
    doc["checks"][11] = result.to_json()
    assert doc["checks"][11]["max_age_s"] == 108_000
    assert Validator().problem(doc) is None


def test_a_room_whose_bandwidth_figure_is_stale_is_warn_not_ok(tmp_path: Path) -> None:
    with running_collector(tmp_path) as c:
        doc = heartbeat("room-1", 1)
        doc["checks"] = [ch for ch in doc["checks"] if ch["name"] != "probe.upload"]
        doc["checks"].append(_carried("ok", 150_000, 108_000))
        r = httpx.post(c.heartbeat_url, json=doc, headers={"Authorization": f"Bearer {c.tokens['room-1']}"},
                       timeout=30)
        assert r.status_code == 200, r.text
        room = c.get(f"/api/v1/rooms/room-1", timeout=30).json()
        assert room["status"] == "warn"
        assert any(f["name"] == "probe.upload" and "not measured since" in f["summary"] for f in room["failing_checks"])
