"""Pure parsers and assessments of the network chain, fed recorded or hand-written data."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from agent.checks.mcu_tcp import assess_tcp
from agent.checks.net_dns_aaaa import assess_resolution
from agent.checks.net_ipv6_address import assess_addresses
from agent.checks.net_link import assess_links
from agent.net.addresses import interface_of, parse_if_inet6
from agent.net.figures import FIELDS, network_figures
from agent.net.iperf3 import iperf3_command, parse_iperf3_json
from agent.net.links import parse_link
from agent.net.resolve import Resolution
from agent.net.sip import build_options, parse_sip_response, parse_sip_uri
from agent.net.tcp import TcpOutcome
from agent.result import CheckResult, Status
from tests.conftest import run_agent

FIXTURES = Path(__file__).parent / "fixtures"

# Recorded from a room PC: loopback, a global address, a ULA, link-local, and problem states.
IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
20010db8000a00000000000000000002 02 40 00 80     eth0
fd001234000000000000000000000002 02 40 00 00     eth0
fe8000000000000000fc00fffe000001 02 40 20 80     eth0
20010db8000a00000000000000000003 02 40 00 c0     eth0
20010db8000a00000000000000000004 02 40 00 20     eth0
20010db8000a00000000000000000005 03 40 00 48    wlan0
garbage line
"""


def test_parse_if_inet6_fields_and_flags() -> None:
    entries = parse_if_inet6(IF_INET6)
    assert [str(e.address) for e in entries] == [
        "::1",
        "2001:db8:a::2",
        "fd00:1234::2",
        "fe80::fc:ff:fe00:1",
        "2001:db8:a::3",
        "2001:db8:a::4",
        "2001:db8:a::5",
    ]
    kinds = [e.kind for e in entries]
    assert kinds == ["loopback", "global", "ula", "link-local", "global", "global", "global"]
    problems = {str(e.address): e.problems for e in entries}
    assert problems["2001:db8:a::2"] == []
    assert problems["2001:db8:a::3"] == ["tentative"]
    assert problems["2001:db8:a::4"] == ["deprecated"]
    assert problems["2001:db8:a::5"] == ["dadfailed", "tentative"]
    assert (
        entries[1].prefix_len == 64 and entries[1].ifindex == 2 and entries[1].interface == "eth0"
    )
    assert interface_of("2001:db8:a::5", entries) == "wlan0"
    assert interface_of("2001:db8::99", entries) is None


def test_address_assessment_lists_usable_and_explains_problems() -> None:
    entries = parse_if_inet6(IF_INET6)
    ok = assess_addresses(entries)
    assert ok.status is Status.OK
    assert ok.observed == ["2001:db8:a::2", "fd00:1234::2"]
    assert ok.summary == "2001:db8:a::2/64 on eth0, fd00:1234::2/64 on eth0"

    only_bad = [e for e in entries if e.problems or e.kind in ("link-local", "loopback")]
    bad = assess_addresses(only_bad)
    assert bad.status is Status.FAIL
    assert bad.summary == (
        "no usable global IPv6 address: 2001:db8:a::3/64 on eth0 is tentative;"
        " 2001:db8:a::4/64 on eth0 is deprecated; 2001:db8:a::5/64 on wlan0 is dadfailed and tentative"
    )
    link_local = assess_addresses([e for e in entries if e.kind == "link-local"])
    assert link_local.summary.startswith(
        "no global IPv6 address on any interface (only fe80::fc:ff:fe00:1 on eth0)"
    )
    nothing = assess_addresses(entries[:1])
    assert nothing.summary == "no IPv6 address on any interface" and nothing.status is Status.FAIL
    assert assess_addresses([]).status is Status.FAIL  # the city WAN is IPv6-only


def test_address_on_the_interface_towards_the_mcu_is_what_counts() -> None:
    entries = parse_if_inet6(IF_INET6)
    # wlan0 has only a broken address: eth0's good ones do not carry a route through wlan0.
    via_wlan = assess_addresses(entries, "wlan0")
    assert via_wlan.status is Status.FAIL
    assert via_wlan.summary == (
        "no usable global IPv6 address on wlan0, the interface towards the MCU:"
        " 2001:db8:a::5/64 on wlan0 is dadfailed and tentative;"
        " 2001:db8:a::2/64 on eth0, fd00:1234::2/64 on eth0 does not carry the meeting"
    )
    assert assess_addresses(entries, "eth0").observed == ["2001:db8:a::2", "fd00:1234::2"]
    assert assess_addresses(entries, "lo").status is Status.OK  # the MCU is this host


def test_links() -> None:
    lo = parse_link("lo", "0x9", "1", "unknown")
    eth = parse_link("eth0", "0x1003", "1", "up")
    unplugged = parse_link("eth1", "0x1003", "0", "down")
    disabled = parse_link("eth2", "0x1002", "", "down")
    assert lo.loopback and eth.up and eth.carrier and not unplugged.carrier and not disabled.up
    assert assess_links([lo, eth, unplugged]).summary == (
        "eth0 up with carrier (route to the MCU not known: any interface counts)"
    )
    # A VPN or bridge being up proves nothing when the MCU is reached through eth1.
    vpn = parse_link("wg0", "0x1091", "1", "unknown")
    through_eth1 = assess_links([lo, vpn, unplugged], "eth1", "2001:db8::10")
    assert through_eth1.status is Status.FAIL
    assert through_eth1.summary == (
        "eth1 (the interface towards the MCU 2001:db8::10) is up, no carrier (cable unplugged?);"
        " wg0 up, but the MCU is not reached through them"
    )
    assert assess_links([lo, vpn, eth], "eth0", "2001:db8::10").status is Status.OK
    failed = assess_links([lo, unplugged, disabled])
    assert failed.status is Status.FAIL
    assert failed.summary == (
        "no network interface is up with carrier (eth1: up, no carrier (cable unplugged?); eth2: down)"
    )
    assert assess_links([lo]).summary == "no network interface besides loopback"


def test_dns_assessment_words() -> None:
    only_a = assess_resolution(
        Resolution("mcu.example.vn", a=["192.0.2.1"], ms=4.2)
    )
    assert only_a.status is Status.FAIL
    assert only_a.summary.startswith("mcu.example.vn has only A records (192.0.2.1)")
    good = assess_resolution(
        Resolution("mcu.example.vn", aaaa=["2001:db8::10"], ms=3.4)
    )
    assert good.summary == "mcu.example.vn → 2001:db8::10 in 3 ms" and good.observed == 3.4
    literal = assess_resolution(
        Resolution("2001:db8::10", aaaa=["2001:db8::10"], literal=True)
    )
    assert literal.status is Status.SKIP


def test_tcp_assessment_names_port_address_cause() -> None:
    result = assess_tcp(
        [
            TcpOutcome("2001:db8::10", 443, True, 2.0),
            TcpOutcome("2001:db8::10", 5061, False, 3.2, "connection refused"),
        ]
    )
    assert result.status is Status.FAIL
    assert result.summary == "TCP 5061 to 2001:db8::10: connection refused after 3 ms"
    assert result.observed == 3.2


def test_tcp_assessment_names_the_addresses_that_fail() -> None:
    result = assess_tcp(
        [
            TcpOutcome("2001:db8::10", 443, True, 2.0),
            TcpOutcome("2001:db8::11", 443, False, 3000.0, "timed out"),
        ],
        "mcu.example.vn",
    )
    assert result.status is Status.FAIL
    assert result.summary == (
        "TCP 443 to 2001:db8::11: timed out after 3000 ms (1 of 2 addresses of mcu.example.vn fail)"
    )
    assert result.details["failed_addresses"] == ["2001:db8::11"]
    both = assess_tcp([TcpOutcome("2001:db8::10", 443, True, 2.0), TcpOutcome("2001:db8::11", 443, True, 4.0)])
    assert both.status is Status.OK
    assert both.summary == "TCP to 2001:db8::10: connected to 443 in 2 ms; TCP to 2001:db8::11: connected to 443 in 4 ms"


@pytest.mark.parametrize(
    ("uri", "host", "port", "transport", "secure"),
    [
        ("sip:mcu.example.vn", "mcu.example.vn", 5060, "udp", False),
        ("sip:[2001:db8::10]:5070;transport=tcp", "2001:db8::10", 5070, "tcp", False),
        ("sip:conf@mcu.example.vn;transport=UDP", "mcu.example.vn", 5060, "udp", False),
        ("sips:mcu.example.vn", "mcu.example.vn", 5061, "tcp", True),
    ],
)
def test_parse_sip_uri(uri: str, host: str, port: int, transport: str, secure: bool) -> None:
    target = parse_sip_uri(uri)
    assert (target.host, target.port, target.transport, target.secure) == (
        host,
        port,
        transport,
        secure,
    )


def test_sip_options_request_and_response() -> None:
    target = parse_sip_uri("sip:[2001:db8::10]:5060")
    request = build_options(target, ("2001:db8::2", 40000), "abc@bridge-agent", "b1", "t1").decode()
    lines = request.split("\r\n")
    assert lines[0] == "OPTIONS sip:[2001:db8::10]:5060 SIP/2.0"
    assert "Via: SIP/2.0/UDP [2001:db8::2]:40000;branch=z9hG4bKb1;rport" in lines
    assert "Call-ID: abc@bridge-agent" in lines and "CSeq: 1 OPTIONS" in lines
    assert request.endswith("Content-Length: 0\r\n\r\n")
    assert parse_sip_response(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n") == (200, "OK")
    assert parse_sip_response(b"SIP/2.0 404 Not Found\r\n") == (404, "Not Found")
    assert parse_sip_response(b"HTTP/1.1 200 OK\r\n") is None
    assert parse_sip_response(b"OPTIONS sip:x SIP/2.0\r\n") is None


def test_iperf3_recorded_reports() -> None:
    good = parse_iperf3_json((FIXTURES / "iperf3" / "reverse-2streams.json").read_text())
    assert good.error is None and good.mbps == pytest.approx(18783.854, abs=0.01)
    refused = parse_iperf3_json((FIXTURES / "iperf3" / "refused.json").read_text())
    assert (
        refused.mbps is None
        and refused.error == "iperf3: unable to connect to server: Connection refused"
    )
    assert parse_iperf3_json("").error == "iperf3 printed no JSON report"
    command = iperf3_command("2001:db8::10", "download", 5, 4)
    assert command[:5] == ["iperf3", "--client", "2001:db8::10", "--port", "5201"]
    assert "--reverse" in command and "-6" in command and "--json" in command
    assert "--reverse" not in iperf3_command("2001:db8::10", "upload", 5, 4)


def test_network_figures_from_results() -> None:
    results = [
        CheckResult(
            "net.ipv6_address",
            Status.OK,
            "",
            observed=["2001:db8::2"],
            details={"usable": ["2001:db8::2"]},
        ),
        CheckResult(
            "net.ipv6_route",
            Status.OK,
            "",
            details={"source_address": "2001:db8::2", "interface": "eth0"},
        ),
        CheckResult("net.dns_aaaa", Status.OK, "", observed=3.1, unit="ms"),
        CheckResult(
            "probe.rtt",
            Status.OK,
            "",
            observed=12.0,
            details={"rtt_min_ms": 10.0, "rtt_avg_ms": 12.0, "rtt_p95_ms": 15.5},
        ),
        # observed is the window's figure; the network object carries the last session's.
        CheckResult("probe.jitter", Status.OK, "", observed=0.7, details={"jitter_ms": 0.8}),
        CheckResult("probe.loss", Status.OK, "", observed=0.3, details={"loss_pct": 0.0}),
        CheckResult("probe.upload", Status.SKIP, "skipped: net.link failed"),
    ]
    figures = network_figures(results)
    assert list(figures) == list(FIELDS)
    assert figures == {
        "ipv6_addresses": ["2001:db8::2"],
        "source_address": "2001:db8::2",
        "interface": "eth0",
        "dns_ms": 3.1,
        "rtt_min_ms": 10.0,
        "rtt_avg_ms": 12.0,
        "rtt_p95_ms": 15.5,
        "jitter_ms": 0.8,
        "loss_pct": 0.0,
        "upload_mbps": None,
        "download_mbps": None,
    }
    assert network_figures([]) == dict.fromkeys(FIELDS)


def test_ula_counts_as_routable() -> None:
    (entry,) = parse_if_inet6(f"{int(ipaddress.IPv6Address('fd00::5')):032x} 02 40 00 80 eth0\n")
    assert entry.routable and entry.kind == "ula"


@pytest.mark.parametrize(
    ("fixture", "failed", "summary"),
    [
        (
            "net-unplugged",
            "net.link",
            "no network interface is up with carrier (eth0: up, no carrier (cable unplugged?))",
        ),
        (
            "net-tentative",
            "net.ipv6_address",
            "no usable global IPv6 address: 2001:db8:a::2/64 on eth0 is tentative",
        ),
    ],
)
def test_netcheck_on_fixture_trees(tmp_path: Path, fixture: str, failed: str, summary: str) -> None:
    """``--root`` points the link and address stages at a recorded /sys and /proc."""
    config = tmp_path / "agent.toml"
    config.write_text('[mcu]\nhost = "2001:db8::10"\n')
    result = run_agent(
        "--root", str(FIXTURES / fixture), "netcheck", "--json", "--config", str(config)
    )
    assert result.returncode == 2, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks[failed]["status"] == "fail"
    assert checks[failed]["summary"] == summary
    later = list(checks)[list(checks).index(failed) + 1 :]
    assert later and all(checks[name]["summary"] == f"skipped: {failed} failed" for name in later)
