"""Every bound the heartbeat schema puts on a value from the configuration is enforced by config.

The bounds are read from collector/schema/heartbeat-v1.schema.json itself: a schema change
that ``bridge-agent config check`` does not follow fails here, before rooms start sending
heartbeats the collector refuses (422, which sets them aside for good).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent.config import parse_config
from agent.daemon import heartbeat
from agent.errors import ConfigError
from tests.conftest import REPO, run_agent

SCHEMA = json.loads((REPO / "collector/schema/heartbeat-v1.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

# Heartbeat fields whose value comes straight from the configuration file, and its key.
# Every property of the schema's ``room`` object is ``room.<name>`` (checked below).
FROM_CONFIG: dict[str, str] = {
    "room_id": "room.id",
    "interval_s": "central.interval_s",
    **{f"room.{name}": f"room.{name}" for name in SCHEMA["properties"]["room"]["properties"]},
}
# Keywords this test knows how to hold config to; any other bound on these fields fails the test.
HANDLED = {"maxLength", "minimum", "maximum", "pattern"}
NOT_BOUNDS = {"type", "description"}


def _node(path: str) -> dict[str, Any]:
    node = SCHEMA
    for part in path.split("."):
        node = node["properties"][part]
    return node


def _bounds() -> list[tuple[str, str, str, Any]]:
    """(heartbeat field, config key, keyword, limit) for every bound of a config-fed field."""
    found = []
    for field, key in FROM_CONFIG.items():
        for keyword, limit in _node(field).items():
            if keyword not in NOT_BOUNDS:
                found.append((field, key, keyword, limit))
    return found


BOUNDS = _bounds()


def _toml(key: str, value: Any, **more: Any) -> str:
    """A valid file with ``key`` set to ``value`` (JSON literals are valid TOML for these)."""
    values = {"room.id": "hn-1", "central.url": "https://c.example.vn/api/v1/heartbeat", **more, key: value}
    sections: dict[str, list[str]] = {}
    for dotted, v in values.items():
        section, name = dotted.split(".")
        sections.setdefault(section, []).append(f"{name} = {json.dumps(v)}")
    return "".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items())


def _accepted(key: str, value: Any) -> bool:
    try:
        config = parse_config(_toml(key, value))
    except ConfigError as err:
        assert all(p.key == key for p in err.problems), err
        return False
    doc = heartbeat.build(config, 1, [], None, {}, {"hostname": "h"}, heartbeat.SpoolFigures(0, 0),
                          agent_instance="0" * 32)
    # What config accepts, the collector accepts.
    errors = [e.message for e in VALIDATOR.iter_errors(doc)]
    assert not errors, (key, value, errors)
    return True


def test_the_bounds_were_found_and_are_all_understood() -> None:
    keywords = {(field, keyword) for field, _, keyword, _ in BOUNDS}
    assert {("room_id", "pattern"), ("interval_s", "maximum"), ("room.name", "maxLength")} <= keywords
    unknown = [(field, keyword) for field, _, keyword, _ in BOUNDS if keyword not in HANDLED]
    assert not unknown, f"schema bounds this test (and maybe config) does not enforce yet: {unknown}"


def test_every_room_field_of_the_schema_is_a_config_key() -> None:
    config_fields = {k for k in parse_config("").room_json() if k != "id"}
    assert set(SCHEMA["properties"]["room"]["properties"]) == config_fields


def _over_and_at(keyword: str, limit: Any) -> tuple[Any, Any]:
    """A value just beyond the bound and one exactly at it."""
    if keyword == "maxLength":
        return "é" * (limit + 1), "é" * limit  # characters, not bytes, as JSON Schema counts
    if keyword == "maximum":
        return limit + 0.5, limit
    if keyword == "minimum":
        return limit - 0.5, limit
    raise AssertionError(keyword)


@pytest.mark.parametrize(("field", "key", "keyword", "limit"), [b for b in BOUNDS if b[2] != "pattern"],
                         ids=[f"{b[0]}-{b[2]}" for b in BOUNDS if b[2] != "pattern"])
def test_config_enforces_each_schema_bound(tmp_path: Path, field: str, key: str, keyword: str, limit: Any) -> None:
    over, at = _over_and_at(keyword, limit)
    assert _accepted(key, at), f"{key} = {at!r} is within the schema's {keyword} {limit} but config refuses it"
    assert not _accepted(key, over), f"{key} = {over!r} breaks the schema's {keyword} {limit} but config takes it"
    # As a technician sees it: exit 78 naming the key.
    token = tmp_path / "token"
    token.write_text("tok\n")
    config = tmp_path / "agent.toml"
    config.write_text(_toml(key, over, **{"central.token_file": str(token)}))
    result = run_agent("config", "check", "--config", str(config))
    assert result.returncode == 78, (result.returncode, result.stderr)
    assert f"{config}: {key} = " in result.stderr, result.stderr


@pytest.mark.parametrize(("field", "key", "pattern"), [(b[0], b[1], b[3]) for b in BOUNDS if b[2] == "pattern"])
def test_config_accepts_only_what_the_schema_pattern_accepts(field: str, key: str, pattern: str) -> None:
    rng = random.Random(20261202)
    alphabet = "abz09._-A /é:"
    candidates = ["a", "0", "a" * 64, "a" * 65, "-a", ".a", "A1", "a b", "a.b_c-d", "", "a\n", "é"]
    candidates += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 70))) for _ in range(1500)]
    accepted = 0
    for value in candidates:
        config_ok = _accepted(key, value)  # asserts the heartbeat validates whenever config takes it
        # Python's "$" also matches before a final newline; config is stricter there, which is fine.
        if "\n" not in value:
            assert config_ok == bool(re.search(pattern, value)), (key, value)
        accepted += config_ok
    assert accepted >= 10  # not a test that passes because config refuses everything


# -- the room profile: [[equipment]] entries travel in the heartbeat's equipment object --

DECLARED = SCHEMA["$defs"]["declared"]["properties"]
# Properties of a declared entry that the agent computes, not the configuration.
COMPUTED = {"state", "device_id", "device_name"}
EQUIPMENT_HANDLED = {"maxLength", "pattern", "enum"}
BASE_ENTRY = {"role": "camera", "usb": "046d:082d"}


def _equipment_toml(entries: list[dict[str, Any]]) -> str:
    head = '[room]\nid = "hn-1"\n[central]\nurl = "https://c.example.vn/api/v1/heartbeat"\n'
    return head + "".join("[[equipment]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in e.items())
                          for e in entries)


def _equipment_accepted(entries: list[dict[str, Any]]) -> bool:
    from agent.devices.equipment import equipment_json
    from agent.devices.model import Inventory

    try:
        config = parse_config(_equipment_toml(entries))
    except ConfigError as err:
        assert all(p.key.startswith("equipment") for p in err.problems), err
        return False
    doc = heartbeat.build(config, 1, [], None, {}, {"hostname": "h"}, heartbeat.SpoolFigures(0, 0),
                          agent_instance="0" * 32, equipment=equipment_json(config, Inventory()))
    errors = [e.message for e in VALIDATOR.iter_errors(doc)]
    assert not errors, (entries, errors)
    return True


def test_every_configured_property_of_a_declared_entry_is_a_config_key() -> None:
    import dataclasses

    from agent.config import EquipmentEntry

    assert set(DECLARED) - COMPUTED == {f.name for f in dataclasses.fields(EquipmentEntry)}
    unknown = [(name, kw) for name, node in DECLARED.items() if name not in COMPUTED
               for kw in node if kw not in NOT_BOUNDS | EQUIPMENT_HANDLED]
    assert not unknown, f"equipment bounds this test (and maybe config) does not enforce yet: {unknown}"


@pytest.mark.parametrize("name", sorted(set(DECLARED) - COMPUTED))
def test_config_enforces_each_bound_of_a_declared_entry(name: str) -> None:
    node = DECLARED[name]
    if "maxLength" in node:
        limit = node["maxLength"]
        base = dict(BASE_ENTRY) if name not in ("bus", "name") else {"role": "camera"}  # patterns: no usb
        if name == "connector":
            base = {"role": "display"}  # a display's connector is its match; displays have no usb
        assert _equipment_accepted([{**base, name: "é" * limit}]), f"{name} at maxLength {limit} refused"
        assert not _equipment_accepted([{**base, name: "é" * (limit + 1)}]), f"{name} over maxLength taken"
    if "enum" in node:
        for value in node["enum"]:
            # A display is matched by name, serial or connector: never by usb.
            entry = {"role": "display", "name": "Samsung*"} if value == "display" else {**BASE_ENTRY, name: value}
            assert _equipment_accepted([entry])
        assert not _equipment_accepted([{**BASE_ENTRY, name: "projector"}])
    if "pattern" in node:
        for value in ("046d:082d", "046D:082D", "046d082d", "46d:82d", "046d:082d\n", "x46d:082d", "0b0e:0422 "):
            config_ok = _equipment_accepted([{**BASE_ENTRY, name: value}])  # validates whenever taken
            assert config_ok == bool(re.search(node["pattern"], value.lower())) or "\n" in value, value


def test_config_enforces_the_number_of_declared_entries() -> None:
    limit = SCHEMA["properties"]["equipment"]["properties"]["declared"]["maxItems"]
    assert _equipment_accepted([BASE_ENTRY] * limit)
    assert not _equipment_accepted([BASE_ENTRY] * (limit + 1))
