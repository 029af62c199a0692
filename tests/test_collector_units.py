"""Pure parts of the collector, fed plain values: schema validation, status, logging redaction."""

from __future__ import annotations

import json

import jsonschema
import pytest

from collector.ingest import SCHEMA_PATH, Rejection, Validator, compile_fast, parse_heartbeat
from collector.logs import redact
from tests.sample import heartbeat
from collector.status import duration_text, effective_status, failing_checks

FAST_SCHEMA = json.loads(SCHEMA_PATH.read_text())


@pytest.mark.parametrize("field, value", [
    ("schema_version", True), ("schema_version", 1.0), ("seq", True), ("interval_s", False), ("seq", 1.0),
    ("status", "OK"), ("room_id", "Phòng 1"), ("sent_at", "yesterday"),
])
def test_fast_path_and_jsonschema_agree_on_the_traps(field: str, value: object) -> None:
    # Booleans are not numbers and 1.0 is not 1 to jsonschema; the fast path must agree.
    doc = heartbeat("room-1", 1)
    doc[field] = value
    assert compile_fast(FAST_SCHEMA)(doc) == jsonschema.Draft202012Validator(FAST_SCHEMA).is_valid(doc)
    assert compile_fast(FAST_SCHEMA)(heartbeat("room-1", 1))


def test_validator_reports_paths_and_accepts_the_sample() -> None:
    validator = Validator()
    assert isinstance(parse_heartbeat(json.dumps(heartbeat("r", 1)).encode(), validator), dict)
    bad = heartbeat("r", 1)
    bad["devices"]["microphones"][0]["vendor_id"] = "XYZ"
    rejection = parse_heartbeat(json.dumps(bad).encode(), validator)
    assert isinstance(rejection, Rejection)
    assert (rejection.status, rejection.path) == (422, "devices.microphones[0].vendor_id")
    assert parse_heartbeat(b'{"seq": Infinity}', validator).status == 415  # type: ignore[union-attr]
    assert parse_heartbeat(b"[" * 100_000, validator).status in (415, 422)  # type: ignore[union-attr]


def test_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)


def test_effective_status() -> None:
    assert effective_status("ok", 100.0, 60, now=279.0, factor=3) == "ok"
    assert effective_status("ok", 100.0, 60, now=281.0, factor=3) == "offline"
    assert effective_status("fail", 100.0, 60, now=200.0, factor=3) == "fail"
    assert effective_status(None, None, None, now=0, factor=3) == "offline"


def test_failing_checks_fail_before_warn() -> None:
    checks = [{"name": "a", "status": "warn", "summary": "A"}, {"name": "b", "status": "ok", "summary": "B"},
              {"name": "c", "status": "fail", "summary": "C"}]
    assert [c.name for c in failing_checks(checks)] == ["c", "a"]


def test_duration_text() -> None:
    assert [duration_text(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m 5s", "1h 1m", "1d 1h"]


def test_redact_removes_credentials() -> None:
    line = "illegal header line: bytearray(b'Authorization: Bearer s3cr3t-XYZ') Basic dXNlcjpw token=abc"
    out = redact(line)
    assert "s3cr3t" not in out and "dXNlcjpw" not in out and "abc" not in out
    assert "Bearer [redacted]" in out
