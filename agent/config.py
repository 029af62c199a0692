"""The agent's one typed configuration: loaded, validated and defaulted in one place.

Every section is a frozen dataclass whose fields carry their own validation
(``_spec``). ``load_config`` reports every problem at once, each naming the
file, the dotted key, the bad value and what was expected, so a technician can
fix a file in one pass. Relative paths in a file are taken relative to the
file's own directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Debian 12 has 3.11
    import tomli as tomllib

from agent.errors import ConfigError, ConfigProblem

DEFAULT_CONFIG_PATH = Path("/etc/bridge-agent/agent.toml")
DEFAULT_TOKEN_PATH = Path("/etc/bridge-agent/token")
DEFAULT_EQUIPMENT_NAME = "equipment.toml"  # beside the configuration file
CONFIG_ENV = "BRIDGE_AGENT_CONFIG"

Validator = Callable[[Any], "str | None"]


def _spec(default: Any, expected: str = "", check: Validator | None = None, **kw: Any) -> Any:
    """A dataclass field with a human description of valid values and an optional check.

    ``check`` returns None when the value is fine, else what was expected.
    """
    metadata = {"expected": expected, "check": check}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata, **kw)
    return field(default=default, metadata=metadata, **kw)


def _at_least(low: float, what: str = "") -> Validator:
    def check(value: Any) -> str | None:
        return None if value >= low else f"a number ≥ {low:g}{what}"

    return check


def _between(low: float, high: float, what: str = "") -> Validator:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"a number from {low:g} to {high:g}{what}"

    return check


def _greater_than(low: float, what: str = "") -> Validator:
    def check(value: Any) -> str | None:
        return None if value > low else f"a number > {low:g}{what}"

    return check


def _at_most_chars(high: int) -> Validator:
    def check(value: Any) -> str | None:
        return None if len(value) <= high else f"at most {high} characters (it has {len(value)})"

    return check


# Bounds the heartbeat schema (collector/schema/heartbeat-v1.schema.json) sets on values that
# come from this file: a file ``config check`` accepts never makes heartbeats the collector refuses.
# tests/test_config_schema.py reads the schema and holds these to it.
ROOM_TEXT_MAX = 200
INTERVAL_MAX_S = 86400
EQUIPMENT_MAX = 32  # [[equipment]] entries
URLS_MAX = 8  # central.url as a list: collectors in front of one database
EQUIPMENT_TEXT_MAX = 200  # label, model, name and bus patterns
EQUIPMENT_SERIAL_MAX = 64
USB_ID_RE = re.compile(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}")

ROOM_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?"
)


def _check_room_id(value: str) -> str | None:
    if ROOM_ID_RE.fullmatch(value):
        return None
    return "a room id of lowercase letters, digits, '.', '_' or '-' (1-64 characters, starting with a letter or digit)"


def is_ipv6_literal(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _check_host(value: str) -> str | None:
    if is_ipv6_literal(value):
        return None
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        return "a DNS name or an IPv6 address (the city WAN is IPv6; an IPv4 literal is not accepted)"
    if _HOSTNAME_RE.fullmatch(value):
        return None
    return "a DNS name or an IPv6 address"


def _check_url(value: str) -> str | None:
    parts = urlsplit(value)
    try:
        parts.port
    except ValueError:
        return "an http:// or https:// URL with a valid port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http:// or https:// URL, e.g. https://collector.example.vn/api/v1/heartbeat"
    return None


def _check_sip_uri(value: str) -> str | None:
    match = re.fullmatch(r"sips?:(?:[^@;]+@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(;.*)?", value)
    if not match:
        return "a SIP URI such as sip:mcu.example.vn or sip:[2001:db8::10]:5060;transport=tcp"
    params = (match.group(3) or "").lower()
    transport = re.search(r";transport=([a-z]+)", params)
    if transport and transport.group(1) not in ("udp", "tcp"):
        return "a SIP URI whose transport is udp or tcp"
    return None


def _check_ports(value: tuple[int, ...]) -> str | None:
    if not value:
        return "a non-empty list of TCP ports"
    if all(1 <= p <= 65535 for p in value):
        return None
    return "a list of TCP port numbers from 1 to 65535"


def _check_port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "a port number from 1 to 65535"


@dataclass(frozen=True)
class RoomConfig:
    id: str | None = _spec(None, check=_check_room_id)
    name: str = _spec("", "a room name", _at_most_chars(ROOM_TEXT_MAX))
    unit: str = _spec("", "the department or district the room belongs to", _at_most_chars(ROOM_TEXT_MAX))
    location: str = _spec("", "where the room is", _at_most_chars(ROOM_TEXT_MAX))
    contact: str = _spec("", "the responsible technician's name and phone", _at_most_chars(ROOM_TEXT_MAX))


@dataclass(frozen=True)
class CentralConfig:
    # One heartbeat URL, or a list of collectors sharing one database: the first is used
    # while it answers, the next ones when it does not (agent.daemon.delivery).
    url: str | None = _spec(None, check=_check_url)
    more_urls: tuple[str, ...] = field(default=(), metadata={"internal": True})  # the list's 2nd, 3rd, ...
    token_file: Path = _spec(DEFAULT_TOKEN_PATH)
    ca_file: Path | None = _spec(None)
    client_cert: Path | None = _spec(None)
    client_key: Path | None = _spec(None)
    interval_s: float = _spec(60.0, check=_between(1, INTERVAL_MAX_S, " seconds"))
    # The first cycle after start waits a random [0, min(interval_s, splay_s)) so rooms powered
    # on together do not all report in the same second; later cycles keep the beat.
    splay_s: float = _spec(30.0, check=_between(0, INTERVAL_MAX_S, " seconds"))
    timeout_s: float = _spec(10.0, check=_greater_than(0, " seconds"))
    # The room's token may cross the network in clear (http:// url, probe.tls = false).
    allow_insecure_http: bool = _spec(False)

    @property
    def urls(self) -> tuple[str, ...]:
        """Every collector URL, in order of preference (empty while central.url is unset)."""
        return (self.url, *self.more_urls) if self.url else ()


@dataclass(frozen=True)
class McuConfig:
    host: str | None = _spec(None, check=_check_host)
    tcp_ports: tuple[int, ...] = _spec((443,), check=_check_ports)
    sip_uri: str | None = _spec(None, check=_check_sip_uri)


@dataclass(frozen=True)
class ProbeConfig:
    host: str | None = _spec(None, check=_check_host)
    # Unset: 8080, where `bridge-collector probe-serve` listens, on the collector's host or its own.
    http_port: int | None = _spec(None, check=_check_port)
    stamp_port: int = _spec(862, check=_check_port)
    stamp_packets: int = _spec(100, check=_between(2, 10000, " packets"))
    stamp_interval_ms: float = _spec(20.0, check=_between(1, 1000, " ms"))
    mode: Literal["http", "iperf3"] = _spec("http")
    duration_s: float = _spec(5.0, check=_between(1, 60, " seconds"))
    streams: int = _spec(4, check=_between(1, 32, " streams"))
    every_s: float = _spec(21600.0, check=_at_least(60, " seconds"))
    # HTTP bandwidth transfers over TLS (trusting central.ca_file); they carry the room's token.
    tls: bool = _spec(True)
    # A failed bandwidth test is tried again after retry_s, doubling up to every_s.
    retry_s: float = _spec(900.0, check=_at_least(1, " seconds"))
    # A test deferred (room in use) longer than this is reported as a warning.
    max_defer_s: float = _spec(86400.0, check=_at_least(0, " seconds"))
    # The camera, microphone and display checks (they capture ~1.5 s from each idle device)
    # run at most this often, never while the room is in use.
    av_every_s: float = _spec(21600.0, check=_at_least(60, " seconds"))


@dataclass(frozen=True)
class PolicyConfig:
    min_cameras: int = _spec(1, check=_at_least(0))
    min_microphones: int = _spec(1, check=_at_least(0))
    min_speakers: int = _spec(0, check=_at_least(0))
    # Connected front-of-room displays (DRM connectors, HDMI/DP audio ELD) the room needs.
    min_displays: int = _spec(1, check=_at_least(0))
    count_virtual: bool = _spec(False)
    # Onboard (PCI/platform) audio inputs and outputs exist whether or not anything is plugged in.
    count_onboard_audio: bool = _spec(False)
    require_ipv6: bool = _spec(True)
    max_rtt_ms: float = _spec(100.0, check=_greater_than(0, " ms"))
    max_jitter_ms: float = _spec(30.0, check=_greater_than(0, " ms"))
    max_loss_pct: float = _spec(1.0, check=_between(0, 100, " %"))
    # STAMP figures are judged over the last window_packets packets; a failing figure
    # is ok again only below hysteresis × its limit.
    window_packets: int = _spec(1000, check=_at_least(1, " packets"))
    hysteresis: float = _spec(0.8, check=_between(0, 1))
    min_upload_mbps: float = _spec(4.0, check=_at_least(0, " Mbit/s"))
    min_download_mbps: float = _spec(4.0, check=_at_least(0, " Mbit/s"))
    min_free_disk_pct: float = _spec(10.0, check=_between(0, 100, " %"))
    min_available_memory_pct: float = _spec(5.0, check=_between(0, 100, " %"))
    require_clock_sync: bool = _spec(True)


@dataclass(frozen=True)
class AgentSection:
    state_dir: Path = _spec(Path("/var/lib/bridge-agent"))
    runtime_dir: Path = _spec(Path("/run/bridge-agent"))
    log_level: Literal["debug", "info", "warning", "error"] = _spec("info")
    spool_max_heartbeats: int = _spec(10000, check=_at_least(1, " heartbeats"))
    spool_max_mb: float = _spec(50.0, check=_greater_than(0, " MB"))
    # The room profile ([[equipment]] entries); None: equipment.toml beside this file.
    equipment_file: Path | None = _spec(None)


def _check_usb_id(value: str) -> str | None:
    return None if USB_ID_RE.fullmatch(value) else 'vendor:product in hex as lsusb shows it, e.g. "0b0e:0422"'


@dataclass(frozen=True)
class EquipmentEntry:
    """One ``[[equipment]]`` entry: a device the room must have, matched by USB id or by patterns."""

    role: Literal["camera", "microphone", "speaker", "display"] | None = _spec(None)
    usb: str | None = _spec(None, check=_check_usb_id)
    serial: str | None = _spec(None, "the device's USB serial number, or a display's EDID serial",
                               _at_most_chars(EQUIPMENT_SERIAL_MAX))
    bus: str | None = _spec(None, 'a pattern such as "usb" or "pci"', _at_most_chars(EQUIPMENT_TEXT_MAX))
    name: str | None = _spec(None, 'a name pattern such as "Jabra SPEAK 510*"', _at_most_chars(EQUIPMENT_TEXT_MAX))
    # Displays only: the DRM connector pattern the monitor must be on, e.g. "HDMI-A-*".
    connector: str | None = _spec(None, 'a display\'s DRM connector pattern such as "HDMI-A-1"',
                                  _at_most_chars(EQUIPMENT_TEXT_MAX))
    model: str | None = _spec(None, "the model's name, for messages", _at_most_chars(EQUIPMENT_TEXT_MAX))
    label: str = _spec("", 'where it is, e.g. "speakerphone on the table"', _at_most_chars(EQUIPMENT_TEXT_MAX))

    def entry_problems(self) -> list[tuple[str, str]]:
        """(key, message) for what the fields cannot say alone: a role and exactly one kind of match."""
        problems = []
        if self.role is None:
            problems.append(("role", 'is required: "camera", "microphone", "speaker" or "display"'))
        if self.role == "display":
            # A monitor has no USB id: its EDID name and serial and the connector identify it.
            if self.usb is not None:
                problems.append(("usb", "a display is matched by name, serial or connector, not by usb"))
            if self.name is None and self.serial is None and self.connector is None:
                problems.append(("name", "a match is required: name, serial or connector"))
            return problems
        if self.connector is not None:
            problems.append(("connector", 'goes with role = "display"'))
        if self.usb is None and self.bus is None and self.name is None:
            problems.append(("usb", 'a match is required: usb = "vendor:product", or bus / name patterns'))
        if self.usb is not None and (self.bus is not None or self.name is not None):
            problems.append(("usb", "match by usb or by bus / name patterns, not both"))
        if self.serial is not None and self.usb is None:
            problems.append(("serial", "goes with usb = \"vendor:product\""))
        return problems


PROBE_SERVE_PORT = 8080  # ``bridge-collector probe-serve``'s default --listen port


@dataclass(frozen=True)
class ProbeTarget:
    host: str
    http_port: int
    scheme: str  # "http" or "https"
    source: str  # the key it came from: "probe.host" or "central.url"

    def describe(self, stamp_port: int) -> str:
        return f"{self.host} (from {self.source}): STAMP UDP {stamp_port}, bandwidth {self.scheme} port {self.http_port}"


@dataclass(frozen=True)
class AgentConfig:
    room: RoomConfig = field(default_factory=RoomConfig)
    central: CentralConfig = field(default_factory=CentralConfig)
    mcu: McuConfig = field(default_factory=McuConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    agent: AgentSection = field(default_factory=AgentSection)
    # The room profile: what the room must have; empty when none is declared.
    equipment: tuple[EquipmentEntry, ...] = ()
    # Where the configuration came from; None means built-in defaults.
    source: Path | None = None

    @property
    def equipment_path(self) -> Path:
        """The room profile's file: ``agent.equipment_file``, else equipment.toml beside the config."""
        if self.agent.equipment_file is not None:
            return self.agent.equipment_file
        return (self.source.parent if self.source else DEFAULT_CONFIG_PATH.parent) / DEFAULT_EQUIPMENT_NAME

    @property
    def probe_target(self) -> ProbeTarget | None:
        """The test responder: ``probe.host``, else the collector of ``central.url``.

        Never the MCU: it runs no responder, so measuring it would fail every room. None while
        the room's path is not configured (no ``probe.host`` and no ``mcu.host``): its network
        stages skip with "mcu.host not configured".
        """
        scheme = "https" if self.probe.tls else "http"
        if self.probe.host:
            return ProbeTarget(self.probe.host, self.probe.http_port or PROBE_SERVE_PORT, scheme, "probe.host")
        if not self.central.url or not self.mcu.host:
            return None
        parts = urlsplit(self.central.url)
        if not parts.hostname:
            return None
        # The collector's host runs the responder as its own process (probe-serve), on its own port.
        port = self.probe.http_port or PROBE_SERVE_PORT
        # It speaks TLS there when the collector does (the package gives both the same certificate).
        return ProbeTarget(parts.hostname, port, scheme if parts.scheme == "https" else "http", "central.url")

    @property
    def probe_host(self) -> str | None:
        target = self.probe_target
        return target.host if target else None

    def room_json(self) -> dict[str, Any]:
        return {
            "id": self.room.id,
            "name": self.room.name,
            "unit": self.room.unit,
            "location": self.room.location,
            "contact": self.room.contact,
        }


SECTIONS: dict[str, type] = {
    "room": RoomConfig,
    "central": CentralConfig,
    "mcu": McuConfig,
    "probe": ProbeConfig,
    "policy": PolicyConfig,
    "agent": AgentSection,
}


# --- value conversion -------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, expected: str) -> None:
        self.expected = expected


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return str(value)


def _convert(value: Any, annotation: Any, base_dir: Path | None) -> Any:
    """Convert a TOML value to the field's type, or raise _Invalid naming the expected type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], base_dir)
    if origin is Literal:
        if value in args:
            return value
        raise _Invalid("one of " + ", ".join(f'"{a}"' for a in args))
    if origin is tuple:
        if not isinstance(value, list):
            raise _Invalid("a list of integers, e.g. [443, 5061]")
        items = []
        for item in value:
            if not isinstance(item, int) or isinstance(item, bool):
                raise _Invalid("a list of integers, e.g. [443, 5061]")
            items.append(item)
        return tuple(items)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _Invalid("true or false")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Invalid("an integer")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Invalid("a number")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _Invalid("a string in quotes")
    if annotation is Path:
        if not isinstance(value, str) or not value:
            raise _Invalid("a file or directory path in quotes")
        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = Path(os.path.normpath(base_dir / path))
        return path
    raise TypeError(f"unsupported config type {annotation!r}")  # programming error


def _build_section(
    name: str, cls: type, table: Any, file: str, base_dir: Path | None, problems: list[ConfigProblem]
) -> Any:
    if not isinstance(table, dict):
        problems.append(ConfigProblem(file, name, f"= {_describe(table)}: expected a table [{name}]"))
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        dotted = f"{name}.{key}"
        if key not in fields or fields[key].metadata.get("internal"):
            public = [f for f, spec in fields.items() if not spec.metadata.get("internal")]
            problems.append(ConfigProblem(file, dotted, "unknown key" + _suggest(key, public)))
            continue
        meta = fields[key].metadata
        try:
            value = _convert(raw, hints[key], base_dir)
        except _Invalid as bad:
            expected = meta.get("expected") or bad.expected
            if expected != bad.expected:
                expected = f"{bad.expected} ({expected})"
            problems.append(ConfigProblem(file, dotted, f"= {_describe(raw)}: expected {expected}"))
            continue
        check = meta.get("check")
        complaint = check(value) if check else None
        if complaint:
            problems.append(ConfigProblem(file, dotted, f"= {_describe(raw)}: expected {complaint}"))
            continue
        values[key] = value
    return cls(**values)


def _suggest(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def parse_config(text: str, file: str = "<config>", base_dir: Path | None = None) -> AgentConfig:
    """Validate TOML text into an AgentConfig; raise ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([ConfigProblem(file, "", f"TOML syntax error: {err}")]) from None
    problems: list[ConfigProblem] = []
    sections: dict[str, Any] = {}
    equipment = parse_equipment_entries(data.pop("equipment", []), file, problems)
    for name, table in data.items():
        if name not in SECTIONS:
            problems.append(
                ConfigProblem(file, name, "unknown section" + _suggest(name, list(SECTIONS)))
            )
            continue
        if name == "central" and isinstance(table, dict) and isinstance(table.get("url"), list):
            table = dict(table)
            urls = _url_list(table.pop("url"), file, problems)
            built = _build_section(name, SECTIONS[name], table, file, base_dir, problems)
            sections[name] = dataclasses.replace(built, url=urls[0], more_urls=urls[1:]) if urls else built
            continue
        sections[name] = _build_section(name, SECTIONS[name], table, file, base_dir, problems)
    if problems:
        raise ConfigError(problems)
    config = AgentConfig(**sections, equipment=equipment, source=Path(file) if file != "<config>" else None)
    problems = cleartext_problems(config, file)
    if problems:
        raise ConfigError(problems)
    return config


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address literal (``::1``, ``127.0.0.1``); a DNS name is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cleartext_problems(config: AgentConfig, file: str) -> list[ConfigProblem]:
    """Where the room's token would leave this PC unencrypted without ``central.allow_insecure_http``."""
    if config.central.allow_insecure_http:
        return []
    problems = []
    for url in config.central.urls:
        host = urlsplit(url).hostname
        if urlsplit(url).scheme == "http" and host and not is_loopback_host(host):
            problems.append(ConfigProblem(
                file, "central.url",
                f"= {url!r}: plain http:// to {host} would send the room's token in clear; use https:// "
                "(with central.ca_file for the city CA), or set central.allow_insecure_http = true"))
    probe_host = config.probe_host
    if not config.probe.tls and config.probe.mode == "http" and probe_host and not is_loopback_host(probe_host):
        problems.append(ConfigProblem(
            file, "probe.tls",
            f"= false: the bandwidth test would send the room's token to {probe_host} in clear; "
            "remove probe.tls, or set central.allow_insecure_http = true"))
    return problems


def _url_list(raw: list[Any], file: str, problems: list[ConfigProblem]) -> tuple[str, ...]:
    """``central.url = ["https://a/...", "https://b/..."]``: each checked; () after a problem."""
    expected = "a heartbeat URL or a list of them (collectors sharing one database), e.g. [\"https://a.example.vn/api/v1/heartbeat\", \"https://b.example.vn/api/v1/heartbeat\"]"
    if not raw:
        problems.append(ConfigProblem(file, "central.url", f"= []: expected {expected}"))
        return ()
    if len(raw) > URLS_MAX:
        problems.append(ConfigProblem(file, "central.url", f"{len(raw)} URLs: at most {URLS_MAX} are allowed"))
        return ()
    urls: list[str] = []
    for number, item in enumerate(raw, 1):
        complaint = _check_url(item) if isinstance(item, str) else expected
        if complaint:
            problems.append(ConfigProblem(file, f"central.url[{number}]", f"= {_describe(item)}: expected {complaint}"))
        elif item in urls:
            problems.append(ConfigProblem(file, f"central.url[{number}]", f"= {item!r}: listed twice"))
        else:
            urls.append(item)
    return tuple(urls) if len(urls) == len(raw) else ()


def parse_equipment_entries(raw: Any, file: str, problems: list[ConfigProblem]) -> tuple[EquipmentEntry, ...]:
    """``[[equipment]]`` entries; problems name them ``equipment[N]``, counted from 1."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        problems.append(ConfigProblem(file, "equipment", "expected [[equipment]] entries (an array of tables)"))
        return ()
    if len(raw) > EQUIPMENT_MAX:
        problems.append(ConfigProblem(file, "equipment", f"{len(raw)} entries: at most {EQUIPMENT_MAX} are allowed"))
        return ()
    entries = []
    for number, table in enumerate(raw, 1):
        name = f"equipment[{number}]"
        before = len(problems)
        entry = _build_section(name, EquipmentEntry, table, file, None, problems)
        if len(problems) == before:
            problems += [ConfigProblem(file, f"{name}.{key}", message) for key, message in entry.entry_problems()]
        if entry.usb is not None:
            entry = dataclasses.replace(entry, usb=entry.usb.lower())
        entries.append(entry)
    return tuple(entries)


def parse_equipment(text: str, file: str) -> tuple[EquipmentEntry, ...]:
    """An equipment file: only ``[[equipment]]`` entries; ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([ConfigProblem(file, "", f"TOML syntax error: {err}")]) from None
    problems: list[ConfigProblem] = []
    entries = parse_equipment_entries(data.pop("equipment", []), file, problems)
    problems += [ConfigProblem(file, key, "unknown key: an equipment file holds only [[equipment]] entries")
                 for key in data]
    if problems:
        raise ConfigError(problems)
    return entries


def _load_equipment(config: AgentConfig) -> AgentConfig:
    """The profile from ``config.equipment_path`` when it exists (no file: no profile)."""
    path = config.equipment_path
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return config
    except PermissionError:
        raise ConfigError([ConfigProblem(file, "", "permission denied: the agent's user cannot read it")]) from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise ConfigError([ConfigProblem(file, "", "expected a UTF-8 TOML file of [[equipment]] entries")]) from None
    entries = parse_equipment(text, file)
    if config.equipment and entries:
        raise ConfigError([ConfigProblem(
            str(config.source), "equipment",
            f"declared here and in {path}: keep the [[equipment]] entries in one of the two files")])
    return dataclasses.replace(config, equipment=config.equipment or entries)


def resolve_config_path(cli_value: str | None, environ: typing.Mapping[str, str] = os.environ) -> tuple[Path, bool]:
    """Which file to read, and whether the user named it (a named file must exist)."""
    if cli_value:
        return Path(cli_value), True
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]), True
    return DEFAULT_CONFIG_PATH, False


def load_config(path: Path, *, explicit: bool, with_equipment: bool = True) -> AgentConfig:
    """Read and validate ``path`` and its room profile. A missing default file gives built-in defaults."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not explicit:
            return _load_equipment(AgentConfig(source=None)) if with_equipment else AgentConfig(source=None)
        raise ConfigError([ConfigProblem(file, "", "file does not exist")]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigProblem(file, "", "is a directory, expected a TOML file")]) from None
    except PermissionError:
        raise ConfigError(
            [ConfigProblem(file, "", "permission denied: the agent's user cannot read it")]
        ) from None
    except UnicodeDecodeError as err:
        raise ConfigError([ConfigProblem(file, "", f"not UTF-8 text ({err.reason} at byte {err.start})")]) from None
    config = parse_config(text, file, base_dir=path.resolve().parent)
    config = dataclasses.replace(config, source=path)
    return _load_equipment(config) if with_equipment else config


def read_token(path: Path) -> str:
    """The bearer token from ``central.token_file``; ConfigError when absent or empty.

    The token itself never appears in a message.
    """
    key = "central.token_file"
    file = str(path)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(file, key, "token file does not exist; enrol the room at the collector and write its token here")]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigProblem(file, key, "is a directory, expected the token file")]) from None
    except PermissionError:
        raise ConfigError([ConfigProblem(file, key, "permission denied: the agent's user cannot read the token file")]) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigProblem(file, key, "token file is not text")]) from None
    if not token:
        raise ConfigError([ConfigProblem(file, key, "token file is empty")])
    if any(c.isspace() for c in token) or not token.isprintable():
        raise ConfigError([ConfigProblem(file, key, "token file must hold one token on one line")])
    return token


def enrolment_problems(config: AgentConfig) -> list[ConfigProblem]:
    """What ``run`` and ``config check`` need beyond a valid file: identity, endpoint, token."""
    file = str(config.source) if config.source else str(DEFAULT_CONFIG_PATH)
    problems: list[ConfigProblem] = []
    if config.source is None:
        problems.append(ConfigProblem(file, "", "file does not exist"))
    if not config.room.id:
        problems.append(ConfigProblem(file, "room.id", "is required: the room's id as enrolled at the collector"))
    if not config.central.url:
        problems.append(ConfigProblem(file, "central.url", "is required: the collector's heartbeat URL"))
    try:
        read_token(config.central.token_file)
    except ConfigError as err:
        problems.extend(err.problems)
    for key in ("ca_file", "client_cert", "client_key"):
        path = getattr(config.central, key)
        if path is not None and not path.is_file():
            problems.append(ConfigProblem(file, f"central.{key}", f"= '{path}': file does not exist"))
    if (config.central.client_cert is None) != (config.central.client_key is None):
        problems.append(ConfigProblem(file, "central.client_key", "client_cert and client_key go together: set both or neither"))
    return problems
