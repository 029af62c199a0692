"""Configuration: every broken file is refused with exit 78, naming the key and value."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from agent.config import ProbeTarget, AgentConfig, load_config, parse_config
from agent.errors import ConfigError
from tests.conftest import REPO, run_agent

VALID_BASE = """
[room]
id = "hn-test-1"

[central]
url = "https://collector.example.vn/api/v1/heartbeat"
token_file = "{token}"
"""

# (case id, section, the one bad line set in that section of a valid file (None: raw text
# at the top of the file), text the error must contain)
BROKEN = [
    ("unknown-key", "policy", "max_rtt = 50", "policy.max_rtt: unknown key; did you mean 'max_rtt_ms'?"),
    ("unknown-section", "polcy", "min_cameras = 1", "polcy: unknown section; did you mean 'policy'?"),
    ("rtt-negative", "policy", "max_rtt_ms = -5", "policy.max_rtt_ms = -5: expected a number > 0 ms"),
    ("rtt-string", "policy", 'max_rtt_ms = "fast"', "policy.max_rtt_ms = 'fast': expected a number"),
    ("loss-over-100", "policy", "max_loss_pct = 150", "policy.max_loss_pct = 150: expected a number from 0 to 100"),
    ("cameras-bool", "policy", "min_cameras = true", "policy.min_cameras = true: expected an integer"),
    ("cameras-float", "policy", "min_cameras = 1.5", "policy.min_cameras = 1.5: expected an integer"),
    ("require-ipv6-string", "policy", 'require_ipv6 = "yes"', "policy.require_ipv6 = 'yes': expected true or false"),
    ("interval-zero", "central", "interval_s = 0", "central.interval_s = 0: expected a number from 1 to 86400 seconds"),
    ("interval-over-a-day", "central", "interval_s = 86401", "central.interval_s = 86401: expected a number from 1 to 86400"),
    ("splay-negative", "central", "splay_s = -1", "central.splay_s = -1: expected a number from 0 to 86400 seconds"),
    ("room-name-too-long", "room", 'name = "' + "n" * 201 + '"', "room.name = '" + "n" * 201 + "': expected at most 200 characters (it has 201)"),
    ("timeout-negative", "central", "timeout_s = -1", "central.timeout_s = -1: expected a number > 0 seconds"),
    ("url-ftp", "central", 'url = "ftp://x.example/hb"', "central.url = 'ftp://x.example/hb': expected an http:// or https:// URL"),
    ("url-no-host", "central", 'url = "https://"', "central.url = 'https://': expected an http:// or https:// URL"),
    ("room-id-upper", "room", 'id = "Room 1"', "room.id = 'Room 1': expected a room id"),
    ("room-id-too-long", "room", 'id = "' + "a" * 65 + '"', "room.id = '" + "a" * 65 + "': expected a room id"),
    ("mcu-ipv4", "mcu", 'host = "10.0.0.1"', "mcu.host = '10.0.0.1': expected a DNS name or an IPv6 address"),
    ("mcu-bad-name", "mcu", 'host = "mcu_bad!"', "mcu.host = 'mcu_bad!': expected a DNS name or an IPv6 address"),
    ("ports-out-of-range", "mcu", "tcp_ports = [443, 70000]", "mcu.tcp_ports = [443, 70000]: expected a list of TCP port numbers"),
    ("ports-not-list", "mcu", "tcp_ports = 443", "mcu.tcp_ports = 443: expected a list of integers"),
    ("ports-empty", "mcu", "tcp_ports = []", "mcu.tcp_ports = []: expected a non-empty list"),
    ("sip-not-uri", "mcu", 'sip_uri = "mcu.example.vn"', "mcu.sip_uri = 'mcu.example.vn': expected a SIP URI"),
    ("sip-transport", "mcu", 'sip_uri = "sip:mcu.example.vn;transport=sctp"', "expected a SIP URI whose transport is udp or tcp"),
    ("probe-mode", "probe", 'mode = "speedtest"', "probe.mode = 'speedtest': expected one of \"http\", \"iperf3\""),
    ("probe-port-zero", "probe", "stamp_port = 0", "probe.stamp_port = 0: expected a port number from 1 to 65535"),
    ("probe-streams", "probe", "streams = 100", "probe.streams = 100: expected a number from 1 to 32 streams"),
    ("probe-duration", "probe", "duration_s = 0.5", "probe.duration_s = 0.5: expected a number from 1 to 60 seconds"),
    ("log-level", "agent", 'log_level = "verbose"', "agent.log_level = 'verbose': expected one of \"debug\", \"info\""),
    ("state-dir-empty", "agent", 'state_dir = ""', "agent.state_dir = '': expected a file or directory path"),
    ("section-not-table", None, "policy = 3", "policy = 3: expected a table [policy]"),
    ("ca-missing", "central", 'ca_file = "/nonexistent/ca.pem"', "central.ca_file = '/nonexistent/ca.pem': file does not exist"),
    ("cert-without-key", "central", 'client_cert = "{token}"', "central.client_key: client_cert and client_key go together"),
    ("toml-syntax", None, "[policy\nmin_cameras = 1", "TOML syntax error"),
]


def _write(tmp_path: Path, section: str | None, line: str) -> Path:
    """A valid file with ``line`` set in ``section`` (replacing the key if the base has it)."""
    token = tmp_path / "token"
    token.write_text("tok\n")
    line = line.format(token=token)
    sections: dict[str, list[str]] = {
        "room": ['id = "hn-test-1"'],
        "central": ['url = "https://collector.example.vn/api/v1/heartbeat"', f'token_file = "{token}"'],
    }
    raw = ""
    if section is None:
        raw = line + "\n"
    else:
        key = line.split("=")[0].strip()
        kept = [entry for entry in sections.get(section, []) if entry.split("=")[0].strip() != key]
        sections[section] = [*kept, line]
    text = raw + "".join(f"[{name}]\n" + "\n".join(body) + "\n" for name, body in sections.items())
    config = tmp_path / "agent.toml"
    config.write_text(text)
    return config


def test_at_least_twenty_broken_cases() -> None:
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("case_id,section,line,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_config_check_refuses_broken_file(
    tmp_path: Path, case_id: str, section: str | None, line: str, expected: str
) -> None:
    config = _write(tmp_path, section, line)
    result = run_agent("config", "check", "--config", str(config))
    assert result.returncode == 78, result.stderr
    assert str(config) in result.stderr
    assert expected in result.stderr, result.stderr
    assert result.stdout == ""


def test_valid_file_passes_config_check(enrolled_config: Path) -> None:
    result = run_agent("config", "check", "--config", str(enrolled_config))
    assert result.returncode == 0, result.stderr
    assert "configuration OK for room hn-test-1" in result.stdout
    # Which target it will measure, and where that came from.
    assert "measured against " in result.stdout and "(from central.url)" in result.stdout


def test_require_ipv6_false_is_reported_not_silently_ignored(enrolled_config: Path) -> None:
    enrolled_config.write_text(enrolled_config.read_text() + "\n[policy]\nrequire_ipv6 = false\n")
    result = run_agent("config", "check", "--config", str(enrolled_config))
    assert result.returncode == 0, result.stderr
    assert "note: policy.require_ipv6 = false has no effect" in result.stdout


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = '[policy]\nmax_rtt_ms = -1\nmin_cameras = "two"\n[mcu]\nhots = "x"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "f.toml")
    keys = [p.key for p in caught.value.problems]
    assert keys == ["policy.max_rtt_ms", "policy.min_cameras", "mcu.hots"]
    assert "did you mean 'host'?" in str(caught.value)


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[room]\nid = "ok"\nname = \n')
    result = run_agent("diagnose", "--config", str(config))
    assert result.returncode == 78
    assert "TOML syntax error" in result.stderr
    assert "line 3" in result.stderr and "column" in result.stderr


def test_token_file_missing_empty_and_directory(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    token = tmp_path / "token"
    config.write_text(VALID_BASE.format(token=token))
    missing = run_agent("config", "check", "--config", str(config))
    assert missing.returncode == 78
    assert "central.token_file: token file does not exist" in missing.stderr

    token.write_text("\n")
    empty = run_agent("config", "check", "--config", str(config))
    assert empty.returncode == 78 and "token file is empty" in empty.stderr

    token.unlink()
    token.mkdir()
    directory = run_agent("config", "check", "--config", str(config))
    assert directory.returncode == 78 and "is a directory" in directory.stderr


def test_token_never_printed(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("two words\n")
    config = tmp_path / "agent.toml"
    config.write_text(VALID_BASE.format(token=token))
    result = run_agent("config", "check", "--config", str(config))
    assert result.returncode == 78
    assert "one token on one line" in result.stderr
    assert "two words" not in result.stderr + result.stdout


def _drop_to_nobody() -> list[str]:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the agent as an unprivileged user")
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def test_unreadable_token_and_config_as_unprivileged_user() -> None:
    prefix = _drop_to_nobody()
    # pytest's tmp_path sits below a 0700 directory; the unprivileged user needs a way in.
    tmp_path = Path(tempfile.mkdtemp(prefix="bridge-agent-test-"))
    tmp_path.chmod(0o755)
    try:
        _check_unreadable(prefix, tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _check_unreadable(prefix: list[str], tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok\n")
    token.chmod(0o600)
    config = tmp_path / "agent.toml"
    config.write_text(VALID_BASE.format(token=token))
    config.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k != "BRIDGE_AGENT_CONFIG"}
    env["PYTHONPATH"] = str(REPO)
    cmd = [*prefix, os.environ.get("PYTHON_FOR_TESTS", "/usr/bin/python3"), "-m", "agent", "config", "check", "--config", str(config)]
    token_denied = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
    assert token_denied.returncode == 78, token_denied.stderr
    assert "central.token_file: permission denied" in token_denied.stderr

    config.chmod(0o600)
    config_denied = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
    assert config_denied.returncode == 78
    assert f"{config}: permission denied" in config_denied.stderr


def test_named_config_must_exist_but_default_may_be_absent(tmp_path: Path) -> None:
    named = run_agent("diagnose", "--config", str(tmp_path / "nope.toml"))
    assert named.returncode == 78
    assert "nope.toml: file does not exist" in named.stderr
    via_env = run_agent("diagnose", env={"BRIDGE_AGENT_CONFIG": str(tmp_path / "nope.toml")})
    assert via_env.returncode == 78
    if not Path("/etc/bridge-agent/agent.toml").exists():
        default = run_agent("diagnose", "--json")
        assert default.returncode in (0, 1, 2)
        assert "using built-in defaults" in default.stderr


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = tmp_path / "sub" / "agent.toml"
    config.parent.mkdir()
    config.write_text('[agent]\nstate_dir = "../state"\n[central]\ntoken_file = "token"\n')
    loaded = load_config(config, explicit=True)
    assert loaded.agent.state_dir == tmp_path / "state"
    assert loaded.central.token_file == tmp_path / "sub" / "token"
    assert loaded.central.interval_s == 60
    assert loaded.probe.mode == "http"
    assert loaded.mcu.tcp_ports == (443,)
    assert loaded.policy.max_loss_pct == 1.0


def test_probe_target_defaults_to_the_collector_not_the_mcu() -> None:
    # The MCU runs no responder: measuring it would fail every room out of the box.
    config = parse_config('[mcu]\nhost = "mcu.example.vn"\n[central]\nurl = "https://c.example.vn/api/v1/heartbeat"\n')
    # On the collector's host, probe-serve's port: serve no longer answers the probe itself.
    assert config.probe_target == ProbeTarget("c.example.vn", 8080, "https", "central.url")
    plain = parse_config('[mcu]\nhost = "m.vn"\n[central]\nurl = "http://[2001:db8::5]:8000/api/v1/heartbeat"\n'
                         "allow_insecure_http = true\n")
    assert plain.probe_target == ProbeTarget("2001:db8::5", 8080, "http", "central.url")
    own = parse_config('[mcu]\nhost = "a.vn"\n[probe]\nhost = "b.vn"\n')
    assert own.probe_target == ProbeTarget("b.vn", 8080, "https", "probe.host")
    assert parse_config('[probe]\nhost = "b.vn"\nhttp_port = 9000\n').probe_target.http_port == 9000
    assert parse_config('[mcu]\nhost = "mcu.example.vn"\n').probe_target is None
    # The room's path not configured yet: nothing to measure.
    assert parse_config('[central]\nurl = "https://c.example.vn/api/v1/heartbeat"\n').probe_target is None
    assert AgentConfig().probe_host is None


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = REPO / "config" / "agent.toml"
    parse_config(example.read_text(), str(example))  # all commented out: must still parse
    uncommented = "\n".join(
        line[1:] if line.startswith("#") and "=" in line and not line.startswith("# ") else line
        for line in example.read_text().splitlines()
    )
    config = parse_config(uncommented, str(example))
    assert config.room.id == "hn-hoankiem-ubnd-p1"
    from agent.config import SECTIONS
    import dataclasses

    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue  # not a key of its own (central.more_urls: the rest of a central.url list)
            assert f"#{f.name} = " in example.read_text(), f"{section}.{f.name} is not documented in config/agent.toml"


@pytest.mark.parametrize("command", [["run"], ["config", "check"], ["diagnose"]])
def test_plain_http_to_another_host_is_refused_naming_central_url(tmp_path: Path, command: list[str]) -> None:
    # 192.0.2.10 (TEST-NET-1) is only written here: the file is refused before anything is contacted.
    config = tmp_path / "agent.toml"
    (tmp_path / "token").write_text("t0k3n-secret-value\n")
    config.write_text('[room]\nid = "r-1"\n[central]\nurl = "http://192.0.2.10/api/v1/heartbeat"\n'
                      'token_file = "token"\n')
    result = run_agent(*command, "--config", str(config))
    assert result.returncode == 78, result.stderr
    assert "central.url" in result.stderr and "http://192.0.2.10" in result.stderr
    assert "https://" in result.stderr and "central.allow_insecure_http" in result.stderr
    assert "t0k3n" not in result.stderr


@pytest.mark.parametrize("url", ["http://[::1]:8443/api/v1/heartbeat", "http://127.0.0.1:8443/x",
                                 "http://localhost:8443/x", "https://192.0.2.10/x"])
def test_plain_http_to_this_pc_and_https_anywhere_are_accepted(url: str) -> None:
    assert parse_config(f'[central]\nurl = "{url}"\n').central.url == url


def test_allow_insecure_http_is_the_explicit_exception() -> None:
    text = '[central]\nurl = "http://192.0.2.10/x"\n[mcu]\nhost = "mcu.example.vn"\n[probe]\ntls = false\n'
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    assert {p.key for p in refused.value.problems} == {"central.url", "probe.tls"}
    allowed = parse_config(text.replace("[mcu]", "allow_insecure_http = true\n[mcu]"))
    assert allowed.central.allow_insecure_http and not allowed.probe.tls
    # Plain probe transfers to a responder on this PC need no exception; TLS is the default.
    assert not parse_config('[probe]\nhost = "::1"\ntls = false\n').probe.tls
    assert parse_config('[mcu]\nhost = "mcu.example.vn"\n').probe.tls


@pytest.mark.parametrize(("value", "key", "words"), [
    ('[]', "central.url", "expected a heartbeat URL or a list of them"),
    ('["https://a.example.vn/api/v1/heartbeat", 3]', "central.url[2]", "= 3: expected"),
    ('["https://a.example.vn/x", "ftp://b.example.vn/x"]', "central.url[2]", "an http:// or https:// URL"),
    ('["https://a.example.vn/x", "https://a.example.vn/x"]', "central.url[2]", "listed twice"),
    ('["https://a.example.vn/x", "http://b.example.vn/x"]', "central.url", "plain http:// to b.example.vn"),
])
def test_central_url_list_problems_name_the_key_and_exit_78(tmp_path: Path, value: str, key: str, words: str) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'[room]\nid = "r-1"\n[central]\nurl = {value}\ntoken_file = "{tmp_path / "token"}"\n')
    (tmp_path / "token").write_text("t0k3n\n")
    done = run_agent("--config", str(config), "config", "check")
    assert done.returncode == 78, done.stderr
    assert key in done.stderr and words in done.stderr, done.stderr


def test_central_url_list_is_every_collector_in_order() -> None:
    config = parse_config('[central]\nurl = ["https://a.example.vn/x", "https://b.example.vn/x"]\n')
    assert config.central.url == "https://a.example.vn/x"
    assert config.central.urls == ("https://a.example.vn/x", "https://b.example.vn/x")
    with pytest.raises(ConfigError, match="central.more_urls: unknown key"):
        parse_config('[central]\nmore_urls = ["https://b.example.vn/x"]\n')
