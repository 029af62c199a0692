"""Check results worded in the page's language from the agent's code and params.

The catalogue must know every code an agent can send: the codes are collected from the
agent's sources (string literals passed as a result code), so a new check without a
sentence fails here. A real collector then shows a room failing several checks: in
headless Chromium the Vietnamese room page and overview carry none of the agent's English
sentences, and ``?lang=en`` shows them.
"""

from __future__ import annotations

import ast
import csv
import io
import re
from pathlib import Path

import httpx
import pytest

from agent.checks import REGISTRY
from collector.history import METRICS
from collector.meetings import rollcall_csv
from tests.sample import heartbeat
from collector.status import duration_text, failing_checks
from collector.web.messages import CATALOGUE, CSV_HEADERS, check_text, csv_header, figure_name, sentence
from tests.browser import Browser
from tests.collector_helpers import running_collector

REPO = Path(__file__).resolve().parent.parent
CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
# Dotted literals in the agent that are not result codes: config keys and memo keys.
NOT_CODES = {"mcu.sip_uri", "av.ffmpeg", "av.inputs", "net.progress", "net.stamp", "net.stamp.history"}
# Codes the agent builds with f-strings: the ``against_minimum`` stems, the temperature levels,
# the AV devices' "in use" and "nothing to read".
BUILT_CODES = {"host.disk.ok", "host.disk.too_low", "host.memory.ok", "host.memory.too_low",
               "host.temperature.ok", "host.temperature.hot", "host.temperature.critical",
               "camera.in_use_unknown", "microphone.in_use_unknown",
               "camera.none_to_read", "microphone.none_to_read"}


def agent_codes() -> set[str]:
    """Every dotted string literal in agent/checks and agent/av that is not a check name or a key."""
    names = {check.name for check in REGISTRY}
    found: set[str] = set()
    for path in [*(REPO / "agent" / "checks").glob("*.py"), *(REPO / "agent" / "av").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
                found.add(node.value)
    return (found - names - NOT_CODES) | BUILT_CODES


def test_every_agent_code_has_a_vietnamese_and_an_english_sentence() -> None:
    codes = agent_codes()
    assert {"bandwidth.too_slow", "mcu.tcp.unreachable", "camera.frozen", "check.skipped.no_mcu"} <= codes
    missing = sorted(codes - set(CATALOGUE))
    assert not missing, f"codes without a sentence in collector/web/messages.py: {missing}"
    for code, (vi, en) in CATALOGUE.items():
        assert vi and en and vi != en, code


def test_params_are_substituted_with_units_and_the_decimal_comma() -> None:
    params = {"direction": "upload", "mbps": 3.2, "minimum": 4, "where": "https://probe.hanoi.gov.vn"}
    english = "upload too slow: upload 3.2 Mbit/s to https://probe.hanoi.gov.vn, need at least 4 Mbit/s"
    vi = sentence("bandwidth.too_slow", params, english, "vi")
    assert vi == "Băng thông tải lên quá thấp: 3,2 Mbit/s tới https://probe.hanoi.gov.vn, cần tối thiểu 4 Mbit/s"
    # English keeps what the agent said; without a summary the English sentence is built.
    assert sentence("bandwidth.too_slow", params, english, "en") == english
    assert sentence("bandwidth.too_slow", params, "", "en").startswith("upload too slow: 3.2 Mbit/s")
    assert check_text({"code": "host.disk.too_low", "summary": "disk",
                       "params": {"observed": 9.9, "minimum": 10, "free_gb": 1.0}}, "vi") == \
        "Ổ đĩa sắp đầy: còn trống 9,9% (1 GB), cần tối thiểu 10%"


def test_unknown_code_or_missing_params_keep_the_agents_summary() -> None:
    assert sentence("future.check.code", {"x": 1}, "something new", "vi") == "something new"
    assert sentence(None, None, "an old agent", "vi") == "an old agent"
    assert sentence("bandwidth.too_slow", {"direction": "upload"}, "upload too slow", "vi") == "upload too slow"


def test_durations_figures_and_csv_headers_in_both_languages() -> None:
    three_days = 3 * 86400 + 4 * 3600 + 59
    assert duration_text(three_days) == "3d 4h" and duration_text(three_days, "vi") == "3 ngày 4 giờ"
    assert duration_text(125, "vi") == "2 phút 5 giây" and duration_text(7, "vi") == "7 giây"
    assert figure_name("rtt_avg_ms", "vi") == "Độ trễ trung bình (ms)"
    assert figure_name("rtt_avg_ms", "en") == "RTT average (ms)" and figure_name("new_key", "vi") == "new_key"
    assert csv_header("compliant_last_{days}_days", "vi", days=30) == "Đạt chuẩn suốt 30 ngày qua"
    assert csv_header("compliant_last_{days}_days", "en", days=30) == "compliant_last_30_days"
    for key in METRICS:  # every figure the history keeps has a name in both languages
        assert figure_name(key, "vi") != key and figure_name(key, "en") != key, key


def test_rollcall_csv_words_failing_checks_in_the_language_asked() -> None:
    failing = [{"name": "probe.upload", "status": "fail", "summary": FAILURES["probe.upload"][1],
                "code": "bandwidth.too_slow", "params": FAILURES["probe.upload"][3]}]
    rows = [{"room_id": "dd-1", "unit": "UBND quận Đống Đa", "name": "Phòng họp", "state": "not_ready",
             "failing": failing}]
    meeting = {"id": 1, "title": "Giao ban", "start_at": 0.0}
    assert FAILURES["probe.upload"][1] in rollcall_csv(meeting, rows, {})
    vi = rollcall_csv(meeting, rows, {}, lambda c: check_text(c, "vi"))
    assert "Băng thông tải lên quá thấp: 3,2 Mbit/s" in vi and FAILURES["probe.upload"][1] not in vi


def test_stale_and_failing_checks_keep_code_and_params() -> None:
    checks = [{"name": "probe.upload", "status": "fail", "summary": "upload too slow",
               "code": "bandwidth.too_slow", "params": {"direction": "upload", "mbps": 1.0}}]
    (failing,) = failing_checks(checks)
    assert failing.code == "bandwidth.too_slow" and failing.params["mbps"] == 1.0


# A room failing several ways, as the agent words it; the sample heartbeat carries the rest.
FAILURES = {
    "probe.upload": ("fail", "upload too slow: upload 3.2 Mbit/s to https://probe.example, need at least 10 Mbit/s",
                     "bandwidth.too_slow",
                     {"direction": "upload", "mbps": 3.2, "minimum": 10, "where": "https://probe.example"}),
    "mcu.tcp": ("fail", "[2001:db8::10]:5061 timed out after 3000 ms", "mcu.tcp.unreachable",
                {"failed": "[2001:db8::10]:5061", "error": "timed out", "failed_addresses": 1, "addresses": 1}),
    "probe.jitter": ("warn", "jitter too high: 41.0 ms to probe.example, limit 30 ms", "probe.jitter.too_high",
                     {"value": 41.0, "limit": 30, "where": "probe.example", "decided_by": "window"}),
    "host.clock": ("warn", "clock not synchronised: no NTP client is disciplining it (check chrony or "
                           "systemd-timesyncd)", "host.clock.unsynchronised", {}),
}


def failing_room(room_id: str) -> dict:
    doc = heartbeat(room_id, 1, status="fail", unit="UBND quận Đống Đa", name="Phòng họp Đống Đa")
    for check in doc["checks"]:
        if check["name"] in FAILURES:
            check["status"], check["summary"], check["code"], check["params"] = FAILURES[check["name"]]
    return doc


@pytest.mark.one_store
def test_room_page_and_overview_in_vietnamese_in_chromium(tmp_path: Path) -> None:
    english = [summary for _, summary, _, _ in FAILURES.values()]
    with running_collector(tmp_path, rooms=("dd-1",)) as c, Browser(tmp_path / "profile") as browser:
        r = httpx.post(c.heartbeat_url, json=failing_room("dd-1"),
                       headers={"Authorization": f"Bearer {c.tokens['dd-1']}"})
        assert r.status_code == 200, r.text
        c.add_user("operator", "mật-khẩu-điều-hành", "operator")
        browser.open(f"{c.url}/")
        overview = browser.submit_login("operator", "mật-khẩu-điều-hành")
        room = browser.open(f"{c.url}/rooms/dd-1")
        browser.screenshot(REPO / "build" / "messages-room-vi.png")
        for page in (overview, room):
            assert "Băng thông tải lên quá thấp: 3,2 Mbit/s" in page
            assert not [s for s in english if s in page], "English summary left on the Vietnamese page"
        assert "Không kết nối được tới MCU [2001:db8::10]:5061: timed out" in room
        assert "Đồng hồ chưa được đồng bộ" in room
        assert ">Độ trễ trung bình (ms)</th>" in room  # the network figures by name, the key in the tooltip
        room_en = browser.open(f"{c.url}/rooms/dd-1?lang=en")
        overview_en = browser.open(f"{c.url}/?lang=en")
        assert all(s in room_en for s in english)
        assert english[0] in overview_en and "Băng thông" not in room_en + overview_en


def test_report_csv_headers_follow_the_language(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("dd-1",)) as c:
        httpx.post(c.heartbeat_url, json=failing_room("dd-1"), headers={"Authorization": f"Bearer {c.tokens['dd-1']}"})
        for by in ("", "&by=room"):
            vi = c.get(f"/api/v1/report?days=7&format=csv&lang=vi{by}")
            en = c.get(f"/api/v1/report?days=7&format=csv{by}")
            assert vi.status_code == en.status_code == 200
            vi_head = next(csv.reader(io.StringIO(vi.text.lstrip("\ufeff"))))
            en_head = next(csv.reader(io.StringIO(en.text.lstrip("\ufeff"))))
            assert len(vi_head) == len(en_head) and "unit" == en_head[0] and vi_head[0] == CSV_HEADERS["unit"]
            assert not set(vi_head) & set(en_head)
        page = c.get("/report?days=7").text
        assert "format=csv&amp;lang=vi" in page
