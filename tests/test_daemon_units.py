"""Pure pieces of the service: heartbeat against the schema, scheduling, logfmt, STATUS line."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import jsonschema
import pytest

from agent.checks import select
from agent.commands.status import print_human
from agent.checks.base import Check
from agent.config import parse_config
from agent.daemon import heartbeat, logfmt
from agent.daemon.seqstore import new_instance
from agent.daemon.schedule import IN_USE, BandwidthTimer, first_cycle_delay, plan_cycle
from agent.daemon.state import status_line
from agent.paths import Paths
from agent.result import CheckResult, Status

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "collector/schema/heartbeat-v1.schema.json").read_text())
CONFIG = parse_config('[room]\nid = "hn-1"\nname = "Phòng 1"\n[central]\nurl = "https://c.example.vn/api/v1/heartbeat"\n')


def _validate(doc: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


def test_heartbeat_matches_schema() -> None:
    results = [
        CheckResult("config", Status.OK, "fine"),
        CheckResult("host.disk", Status.WARN, "x" * 5000, observed=5.0, threshold=10.0, unit="%", details={"a": 1}),
        CheckResult("probe.upload", Status.SKIP, "skipped: deferred: room in use"),
    ]
    doc = heartbeat.build(CONFIG, 7, results, None, {"rtt_ms": 3.2, "ipv6_addresses": ["2001:db8::1"]},
                          heartbeat.HostFacts(Paths()).now(), heartbeat.SpoolFigures(3, 2), now=0.0)
    _validate(doc)
    assert doc["status"] == "warn" and doc["seq"] == 7 and doc["room_id"] == "hn-1"
    assert doc["spool"] == {"depth": 3, "dropped": 2}
    assert doc["sent_at"] == "1970-01-01T00:00:00.000Z"
    assert len(doc["checks"][1]["summary"]) == 1000
    assert json.loads(heartbeat.encode(doc)) == doc


def test_heartbeat_with_every_registered_check_matches_schema() -> None:
    results = [CheckResult(c.name, Status.FAIL, "broken", observed=1, threshold=2, unit="count") for c in select()]
    doc = heartbeat.build(CONFIG, 1, results, dict(heartbeat.EMPTY_DEVICES), {}, {"hostname": "h"},
                          heartbeat.SpoolFigures(0, 0))
    _validate(doc)
    assert doc["status"] == "fail"


def test_heartbeat_carries_the_agent_instance() -> None:
    instance = new_instance()
    doc = heartbeat.build(CONFIG, 1, [], None, {}, {"hostname": "h"}, heartbeat.SpoolFigures(0, 0),
                          agent_instance=instance)
    _validate(doc)
    assert doc["agent_instance"] == instance
    with pytest.raises(jsonschema.ValidationError):
        _validate({**doc, "agent_instance": instance.upper()})


def test_os_name_parsing() -> None:
    assert heartbeat.os_name('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == "Debian GNU/Linux 12 (bookworm)"
    assert heartbeat.os_name(None) is None


def _noop(ctx):  # pragma: no cover - never run
    raise AssertionError


CHECKS = [
    Check("devices.cameras", "devices", _noop),
    Check("net.link", "net", _noop),
    Check("probe.rtt", "probe", _noop),
    Check("probe.upload", "probe", _noop, bandwidth=True),
    Check("host.disk", "host", _noop),
]


def _names(checks: list[Check]) -> list[str]:
    return [c.name for c in checks]


def test_plan_without_bandwidth_keeps_previous() -> None:
    plan = plan_cycle(CHECKS, in_use=False, bandwidth_due=False)
    assert _names(plan.run) == ["devices.cameras", "net.link", "probe.rtt", "host.disk"]
    assert plan.keep_previous == {"probe.upload"} and not plan.skip and not plan.bandwidth_ran


def test_plan_bandwidth_due() -> None:
    plan = plan_cycle(CHECKS, in_use=False, bandwidth_due=True)
    assert "probe.upload" in _names(plan.run) and plan.bandwidth_ran


def test_plan_in_use_defers_stamp_and_bandwidth() -> None:
    plan = plan_cycle(CHECKS, in_use=True, bandwidth_due=True)
    assert plan.skip == {"probe.rtt": IN_USE, "probe.upload": IN_USE}
    assert not plan.bandwidth_ran  # stays due, runs after the meeting
    plan = plan_cycle(CHECKS, in_use=True, bandwidth_due=False)
    assert plan.skip == {"probe.rtt": IN_USE}


def test_first_cycle_phase_is_spread_over_min_interval_and_splay() -> None:
    rng = random.Random(7)
    long = [first_cycle_delay(300, 30, rng) for _ in range(2000)]
    assert all(0 <= d < 30 for d in long)
    assert min(long) < 1 and max(long) > 29  # the whole window, not a lump
    assert sum(d < 1 for d in long) < 2000 / 30 * 2  # not two in three rooms in the first second
    short = [first_cycle_delay(2, 30, rng) for _ in range(500)]
    assert all(0 <= d < 2 for d in short) and max(short) > 1.8
    assert first_cycle_delay(60, 0, rng) == 0.0  # splay_s = 0: at once


def test_two_agents_with_their_own_rng_do_not_share_a_phase() -> None:
    a, b = random.Random(), random.Random()  # seeded from the OS, as each service's is
    assert first_cycle_delay(60, 30, a) != first_cycle_delay(60, 30, b)


def test_bandwidth_timer_splay() -> None:
    timer = BandwidthTimer(21600, random.Random(1))
    firsts = []
    for _ in range(200):
        timer.start(0.0)
        firsts.append(timer.due_at)
    assert 0 <= min(firsts) and max(firsts) <= 600 and max(firsts) - min(firsts) > 300
    gaps = []
    for _ in range(200):
        timer.done(1000.0)
        gaps.append(timer.due_at - 1000.0)
    assert 0.8 * 21600 <= min(gaps) and max(gaps) <= 1.2 * 21600 and max(gaps) - min(gaps) > 0.2 * 21600
    assert not timer.due(1000.0) and timer.due(1000.0 + 1.2 * 21600)


@pytest.mark.parametrize(
    ("value", "rendered"),
    [("plain", "plain"), ("two words", '"two words"'), ('a"b', '"a\\"b"'), ("", '""'), (None, '""'), (3, "3"),
     ("line\nbreak", '"line\\nbreak"')],
)
def test_logfmt_quoting(value: object, rendered: str) -> None:
    assert logfmt.quote(value) == rendered


def test_safe_url_drops_credentials_and_query() -> None:
    assert logfmt.safe_url("https://user:pw@[2001:db8::1]:8443/api/v1/heartbeat?token=x#f") == \
        "https://[2001:db8::1]:8443/api/v1/heartbeat"


def test_log_line_is_one_line_key_value(capsys: pytest.CaptureFixture[str]) -> None:
    logfmt.setup("info")
    logfmt.event(logging.getLogger("t"), "heartbeat.retry", logging.WARNING, seq=3, error="boom\nmore")
    logfmt.event(logging.getLogger("t"), "hidden", logging.DEBUG, seq=4)
    err = capsys.readouterr().err
    logging.getLogger().handlers.clear()
    assert err.count("\n") == 1
    assert 'level=warning event=heartbeat.retry seq=3 error="boom\\nmore"' in err


def test_status_line() -> None:
    line = status_line(status="fail", failing=["devices.cameras"], seq=12, depth=3, delivered_at=0.0,
                       error="ConnectError: refused", failures=4)
    assert line == ("fail (devices.cameras); seq 12; spool 3; last delivery 1970-01-01T00:00:00Z;"
                    " not delivered (4 tries): ConnectError: refused")
    assert "\n" not in line


def _status_doc(**last_error: object) -> dict:
    return {"state": "running", "room_id": "hn-1", "status": "ok", "updated_at": "t", "seq": 9,
            "agent_instance": "0123456789abcdef0123456789abcdef",
            "spool": {"depth": 0, "dropped": 0, "rejected": 2, "rejected_dir": "/var/lib/bridge-agent/spool/rejected"},
            "last_delivery": {"seq": 9, "at": "t"},
            "last_error": {"message": "HTTP 401: unknown or revoked token", "at": "t", "failures": 0,
                           "problem": "the collector refuses this room's token", "kind": "token_refused",
                           **last_error}}


def test_status_says_what_is_wrong_and_what_was(capsys: pytest.CaptureFixture[str]) -> None:
    print_human(_status_doc(failures=3))
    failing = capsys.readouterr().out
    assert "problem:         the collector refuses this room's token" in failing
    assert "agent instance:  0123456789abcdef0123456789abcdef" in failing
    assert "2 rejected (kept in /var/lib/bridge-agent/spool/rejected)" in failing
    print_human(_status_doc())  # delivered since: the advice is history
    assert "was:             the collector refuses" in capsys.readouterr().out
    print_human(_status_doc(kind="rejected", problem="the collector can never accept this heartbeat"))
    assert "problem:         the collector can never accept" in capsys.readouterr().out
