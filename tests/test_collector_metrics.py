"""/metrics per room (figures, call quality, check status) under promtool, and the shipped alert rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from collector import quality
from tests.sample import heartbeat
from tests.collector_helpers import running_collector

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: apt install prometheus")
RULES = Path(__file__).resolve().parent.parent / "packaging" / "prometheus"


def promtool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL or "promtool", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_room_figures_quality_and_checks(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("m-1", "m-2", "m-3")) as c:
        body = heartbeat("m-1", 1, status="fail", failing="probe.loss")
        body["network"].update({"rtt_avg_ms": 40.0, "jitter_ms": 5.0, "loss_pct": 2.0, "dns_ms": 12.0})
        r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens['m-1']}"})
        assert r.status_code == 200, r.text
        skipped = heartbeat("m-2", 1, unit='Quận "Hai"')
        skipped["checks"][0]["status"] = "skip"
        r = httpx.post(c.heartbeat_url, json=skipped, headers={"Authorization": f"Bearer {c.tokens['m-2']}"})
        assert r.status_code == 200, r.text
        got = samples(c.get("/metrics").text)
    m1 = 'room_id="m-1",unit="UBND quận Ba Đình"'
    assert got[f"bridge_room_rtt_seconds{{{m1}}}"] == pytest.approx(0.040)
    assert got[f"bridge_room_jitter_seconds{{{m1}}}"] == pytest.approx(0.005)
    assert got[f"bridge_room_loss_ratio{{{m1}}}"] == pytest.approx(0.02)
    assert got[f"bridge_room_upload_bytes_per_second{{{m1}}}"] == pytest.approx(86.4e6 / 8)
    assert got[f"bridge_room_download_bytes_per_second{{{m1}}}"] == pytest.approx(91.0e6 / 8)
    assert got[f"bridge_room_dns_seconds{{{m1}}}"] == pytest.approx(0.012)
    # one-way 20 + 10 + 20 = 50 ms, 2 % random loss with G.711 + PLC
    expected = quality.r_factor(50.0, 2.0)
    assert got[f"bridge_room_call_r_factor{{{m1}}}"] == pytest.approx(expected, abs=1e-6)
    assert got[f"bridge_room_call_mos{{{m1}}}"] == pytest.approx(quality.mos(expected), abs=1e-6)
    assert got[f"bridge_room_video_ok{{{m1}}}"] == 0.0  # 2 % loss is above the 1 % of the profile
    assert got[f'bridge_room_check_status{{{m1},check="probe.loss"}}'] == 2
    assert got[f'bridge_room_check_status{{{m1},check="net.link"}}'] == 0
    m2 = 'room_id="m-2",unit="Quận \\"Hai\\""'
    assert f'bridge_room_check_status{{{m2},check="devices.cameras"}}' not in got  # skipped: no sample
    assert got[f'bridge_room_check_status{{{m2},check="net.link"}}'] == 0
    assert got[f"bridge_room_video_ok{{{m2}}}"] == 1.0
    # m-3 never reported: status only, no figures
    assert not [k for k in got if 'room_id="m-3"' in k and not k.startswith("bridge_room_status")]


@pytest.mark.one_store
@needs_promtool
def test_metrics_pass_promtool_check_metrics(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("p-1", "p-2")) as c:
        r = httpx.post(c.heartbeat_url, json=heartbeat("p-1", 1),
                       headers={"Authorization": f"Bearer {c.tokens['p-1']}"})
        assert r.status_code == 200, r.text
        text = c.get("/metrics").text
    assert "bridge_room_call_mos{" in text and "bridge_room_check_status{" in text
    done = promtool("check", "metrics", stdin=text)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr


@needs_promtool
def test_alert_rules_check_and_unit_tests() -> None:
    done = promtool("check", "rules", "bridge-room.rules.yml", cwd=RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    done = promtool("test", "rules", "bridge-room.rules.test.yml", cwd=RULES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_dashboard_uses_only_exported_families() -> None:
    import json
    import re

    from collector.web import metrics

    dashboard = json.loads((RULES / "grafana-dashboard.json").read_text())
    exported = {name for name, *_ in metrics.FIGURES} | {
        "bridge_room_status", "bridge_room_check_status", "bridge_room_call_r_factor", "bridge_room_call_mos",
        "bridge_room_video_ok", "bridge_room_last_seen_timestamp_seconds", "bridge_rooms"}
    source = Path(metrics.__file__).read_text()
    assert all(name in source for name in exported)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    used = {m for e in exprs for m in re.findall(r"\bbridge_[a-z_]+", e)}
    assert used and used <= exported, used - exported
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    rules = (RULES / "bridge-room.rules.yml").read_text()
    assert {m for m in re.findall(r"\bbridge_[a-z_]+", rules)} <= exported
