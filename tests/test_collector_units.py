"""Pure parts of the collector, fed plain values: schema compiler, status, logging redaction."""

from __future__ import annotations

import json

import jsonschema
import pytest

from collector.fastschema import Unsupported, compile_schema
from collector.ingest import SCHEMA_PATH, Rejection, Validator, parse_heartbeat
from collector.logs import redact
from collector.sample import heartbeat
from collector.status import duration_text, effective_status, failing_checks

SCHEMA = {
    "type": "object",
    "properties": {
        "n": {"type": "integer", "minimum": 1},
        "flag": {"enum": [1, "a"]},
        "c": {"const": True},
        "tree": {"$ref": "#/$defs/tree"},
        "meta": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
    },
    "additionalProperties": False,
    "$defs": {"tree": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}},
}


@pytest.mark.parametrize("doc", [
    {}, {"n": 1}, {"n": 1.0}, {"n": True}, {"n": 0}, {"n": "1"}, {"flag": True}, {"flag": 1}, {"flag": 1.0},
    {"flag": "a"}, {"c": True}, {"c": 1}, {"tree": {"kids": [{"kids": [{"kids": 3}]}]}},
    {"tree": {"kids": [{"kids": []}]}}, {"meta": {"a": "x", "b": None}}, {"meta": {"a": 1}}, {"other": 1}, [],
])
def test_compiled_schema_matches_jsonschema(doc: object) -> None:
    assert compile_schema(SCHEMA)(doc) == jsonschema.Draft202012Validator(SCHEMA).is_valid(doc)


def test_unsupported_keywords_are_refused() -> None:
    with pytest.raises(Unsupported, match="oneOf"):
        compile_schema({"oneOf": [{"type": "string"}]})
    with pytest.raises(Unsupported, match=r"\$ref"):
        compile_schema({"$ref": "https://example.org/other.json"})


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
