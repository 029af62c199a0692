"""Bandwidth scheduling: retries with backoff, deferral that turns into a warning, carried results' age."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.daemon import heartbeat
from agent.daemon.schedule import (
    IN_USE,
    BandwidthTimer,
    carried,
    deferred_too_long,
    not_measured_since_link_failed,
)
from agent.result import CheckResult, Status

SCHEMA = Path(__file__).resolve().parent.parent / "collector/schema/heartbeat-v1.schema.json"
T0 = 1_764_650_000.0  # 2025-12-02T04:33:20Z


def test_failed_test_is_retried_after_retry_s_doubling_up_to_every_s() -> None:
    timer = BandwidthTimer(21600, random.Random(1), retry_s=900)
    waits = [timer.failed(0.0) for _ in range(7)]
    assert waits == [900, 1800, 3600, 7200, 14400, 21600, 21600]
    assert timer.due(21600.0) and not timer.due(21599.0)
    timer.done(0.0)
    assert timer.failures == 0 and timer.failed(0.0) == 900  # a success resets the backoff


def test_deferral_counts_from_the_first_put_off() -> None:
    timer = BandwidthTimer(21600, random.Random(1))
    assert timer.deferred(100.0) == 0
    assert timer.deferred(4000.0) == 3900
    timer.done(5000.0)
    assert timer.deferred(6000.0) == 0


def measured(status: Status = Status.OK, at: float = T0) -> CheckResult:
    return CheckResult("probe.upload", status, "upload 41.2 Mbit/s to http://[2001:db8::5]:443",
                       observed=41.2, threshold=4.0, unit="Mbit/s", measured_at=at)


def test_carried_result_keeps_its_measurement_time_and_counts_its_age() -> None:
    kept = carried(measured(), T0 + 3600)
    assert kept.measured_at == T0 and kept.age_s == 3600 and kept.status is Status.OK
    assert carried(measured(), T0 - 5).age_s == 0  # the clock stepped back: never younger than 0
    doc = kept.to_json()
    assert doc["measured_at"] == "2025-12-02T04:33:20Z" and doc["age_s"] == 3600


def test_link_failure_turns_carried_results_into_skip() -> None:
    skipped = not_measured_since_link_failed(measured(), T0 + 600, T0 + 900)
    assert skipped.status is Status.SKIP
    assert skipped.summary == "skipped: not measured since the link failed at 2025-12-02T04:43:20Z"
    assert skipped.observed is None and skipped.details["last_observed"] == 41.2
    assert skipped.measured_at == T0 and skipped.age_s == 900


def test_deferred_too_long_is_a_warning_saying_since_when_and_why() -> None:
    warn = deferred_too_long("probe.download", IN_USE, 26 * 3600, T0 + 26 * 3600, measured())
    assert warn.status is Status.WARN
    assert warn.summary == (
        "bandwidth test deferred since 2025-12-02T04:33:20Z (26.0 h): room in use;"
        " last measured 2025-12-02T04:33:20Z"
    )
    never = deferred_too_long("probe.download", IN_USE, 90000, T0, None)
    assert never.summary.endswith("never measured since the agent started")


def test_heartbeat_carries_measured_at_and_age_and_fits_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    config = parse_config('[room]\nid = "room-1"\n')
    results = [measured(), CheckResult("probe.rtt", Status.OK, "RTT 12 ms")]
    doc = heartbeat.build(config, 1, results, None, None, {}, heartbeat.SpoolFigures(0, 0), now=T0 + 125.25)
    upload, rtt = doc["checks"]
    assert upload["measured_at"] == "2025-12-02T04:33:20Z" and upload["age_s"] == 125.2
    assert "measured_at" not in rtt and "age_s" not in rtt
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(doc, schema)
