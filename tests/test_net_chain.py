"""The network chain end to end: ``bridge-agent netcheck`` inside a network namespace.

A room namespace and a control-centre namespace joined by a veth pair carry
real packets; the responder, sipp and iperf3 run in the control centre.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from agent.net.figures import network_figures
from agent.result import CheckResult, Status
from tests.netns import ROOM_IF, Link, built_link

pytestmark = pytest.mark.root

HTTP_PORT = 8080
STAMP_PORT = 8862
MCU = "mcu.example.vn"
# The chain without the bandwidth checks, in report order.
CHAIN = (
    "net.link", "net.ipv6_address", "net.ipv6_route", "net.dns_aaaa",
    "mcu.tcp", "mcu.sip", "mcu.icmp", "probe.rtt", "probe.jitter", "probe.loss",
)  # fmt: skip


@pytest.fixture(scope="module")
def link() -> Iterator[Link]:
    """A healthy IPv6-only path with the responder running in the control centre."""
    with built_link(responder=(HTTP_PORT, STAMP_PORT)) as built:
        yield built


@pytest.fixture(autouse=True)
def default_hosts(request: pytest.FixtureRequest) -> None:
    """Every test starts with the MCU's name mapped to its IPv6 address."""
    if "link" in request.fixturenames:
        current: Link = request.getfixturevalue("link")
        current.hosts(f"{current.centre_address} {MCU}\n")


def write_config(tmp_path: Path, mcu: str = "", extra: str = "", probe: str = "") -> Path:
    """The responder is the collector of central.url (the default), on that URL's port."""
    path = tmp_path / "agent.toml"
    mcu_section = f'[mcu]\nhost = "{mcu}"\ntcp_ports = [{HTTP_PORT}]\n' if mcu else "[mcu]\n"
    path.write_text(
        # The test network carries the token in clear: the responder runs with --insecure-http.
        f'[central]\nurl = "http://[{Link().centre_address}]:{HTTP_PORT}/api/v1/heartbeat"\n'
        "allow_insecure_http = true\n"
        + mcu_section
        + extra
        + f"\n[probe]\nstamp_port = {STAMP_PORT}\nduration_s = 2\n{probe}"
    )
    return path


def netcheck(current: Link, config: Path, *extra: str, **kw) -> tuple[int, dict[str, dict]]:
    proc = current.agent(
        "netcheck", "--json", "--no-bandwidth", "--config", str(config), *extra, **kw
    )
    assert proc.returncode in (0, 1, 2), proc.stderr
    document = json.loads(proc.stdout)
    return proc.returncode, {check["name"]: check for check in document["checks"]}


def test_healthy_ipv6_only_path(link: Link, tmp_path: Path) -> None:
    code, checks = netcheck(link, write_config(tmp_path, MCU))
    assert tuple(checks) == CHAIN
    statuses = {name: check["status"] for name, check in checks.items()}
    assert statuses == {**dict.fromkeys(checks, "ok"), "mcu.sip": "skip"}, checks
    assert code == 0
    assert checks["net.link"]["details"]["up"] == [ROOM_IF]
    assert checks["net.ipv6_address"]["observed"] == [link.room_address]
    route = checks["net.ipv6_route"]
    assert route["summary"] == f"to {link.centre_address} via {ROOM_IF} from {link.room_address}"
    assert checks["net.dns_aaaa"]["unit"] == "ms" and checks["net.dns_aaaa"]["observed"] >= 0
    assert f"TCP {HTTP_PORT} to {link.centre_address}: connected" in checks["mcu.tcp"]["summary"]
    assert checks["probe.loss"]["observed"] == 0
    assert checks["probe.rtt"]["details"]["received"] == 100
    assert 0 < checks["probe.rtt"]["observed"] < 50

    # The heartbeat's network object comes from these results and fits the schema.
    results = [
        CheckResult(
            c["name"],
            Status(c["status"]),
            c["summary"],
            c["observed"],
            c["threshold"],
            c["unit"],
            c.get("details", {}),
        )
        for c in checks.values()
    ]
    figures = network_figures(results)
    assert figures["ipv6_addresses"] == [link.room_address]
    assert figures["source_address"] == link.room_address and figures["interface"] == ROOM_IF
    assert (
        figures["loss_pct"] == 0
        and figures["rtt_min_ms"] <= figures["rtt_avg_ms"] <= figures["rtt_p95_ms"]
    )
    assert figures["upload_mbps"] is None and figures["download_mbps"] is None
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(
        (Path(__file__).parent.parent / "collector/schema/heartbeat-v1.schema.json").read_text()
    )
    jsonschema.validate(figures, schema["properties"]["network"])


def test_aaaa_missing_is_named(link: Link, tmp_path: Path) -> None:
    link.hosts(f"192.0.2.10 {MCU}\n")
    code, checks = netcheck(link, write_config(tmp_path, MCU))
    assert code == 2
    assert checks["net.dns_aaaa"]["status"] == "fail"
    assert checks["net.dns_aaaa"]["summary"].startswith(f"{MCU} has only A records (192.0.2.10)")
    assert checks["net.ipv6_route"]["status"] == "skip"
    for name in ("mcu.tcp", "mcu.icmp", "probe.rtt", "probe.loss"):
        assert checks[name] == {
            **checks[name],
            "status": "skip",
            "summary": "skipped: net.dns_aaaa failed",
        }


def test_name_that_does_not_resolve(link: Link, tmp_path: Path) -> None:
    code, checks = netcheck(link, write_config(tmp_path, "nowhere.example.vn"))
    assert code == 2
    assert checks["net.dns_aaaa"]["summary"].startswith("nowhere.example.vn does not resolve")


def test_no_route_names_the_destination(link: Link, tmp_path: Path) -> None:
    code, checks = netcheck(link, write_config(tmp_path, "fd00:b2::10"))
    assert code == 2
    assert checks["net.ipv6_route"]["status"] == "fail"
    assert (
        checks["net.ipv6_route"]["summary"]
        == "no route to fd00:b2::10: network unreachable (no route)"
    )
    assert checks["net.dns_aaaa"]["summary"] == "skipped: net.ipv6_route failed"
    assert checks["probe.rtt"]["summary"] == "skipped: net.ipv6_route failed"


def test_closed_port_names_port_address_and_cause(link: Link, tmp_path: Path) -> None:
    config = write_config(tmp_path, link.centre_address)
    config.write_text(
        config.read_text().replace(f"tcp_ports = [{HTTP_PORT}]", f"tcp_ports = [{HTTP_PORT}, 5061]")
    )
    code, checks = netcheck(link, config)
    assert code == 2
    tcp = checks["mcu.tcp"]
    assert tcp["status"] == "fail"
    assert tcp["summary"].startswith(
        f"TCP 5061 to {link.centre_address}: connection refused after "
    )
    assert tcp["details"]["ports"][str(HTTP_PORT)]["ok"] is True
    # The MCU and probe stages are independent: STAMP still measured.
    assert checks["probe.rtt"]["status"] == "ok"
    assert checks["net.dns_aaaa"]["summary"].startswith("skipped: mcu.host")


def test_responder_down(link: Link, tmp_path: Path) -> None:
    config = write_config(tmp_path, MCU, probe="tls = false\n")
    config.write_text(
        config.read_text()
        .replace("[central]\n", f'[central]\ntoken_file = "{link.token_file}"\n')
        .replace(f"stamp_port = {STAMP_PORT}", "stamp_port = 8999\nhttp_port = 8998")
    )
    proc = link.agent("netcheck", "--json", "--config", str(config))
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert proc.returncode == 2
    assert checks["mcu.tcp"]["status"] == "ok"  # the MCU itself answers
    assert checks["probe.rtt"]["summary"] == (
        f"no STAMP reply from [{link.centre_address}]:8999 to 100 packets: responder down or UDP blocked on the way"
    )
    assert checks["probe.loss"]["observed"] == 100.0 and checks["probe.loss"]["status"] == "fail"
    assert checks["probe.jitter"]["status"] == "skip"
    for name in ("probe.upload", "probe.download"):
        assert checks[name]["status"] == "fail"
        assert checks[name]["summary"].endswith(
            f"to http://[{link.centre_address}]:8998: connection refused"
        )


def test_mcu_host_not_configured(link: Link, tmp_path: Path) -> None:
    code, checks = netcheck(link, write_config(tmp_path))
    assert checks["net.link"]["status"] == "ok" and checks["net.ipv6_address"]["status"] == "ok"
    for name in CHAIN[2:]:
        assert checks[name]["summary"] == "skipped: mcu.host not configured", name
    assert code == 0


def test_icmp_without_cap_net_raw_skips_with_reason(link: Link, tmp_path: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to drop CAP_NET_RAW")
    wrap = ("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw")
    code, checks = netcheck(link, write_config(tmp_path, MCU), wrap=wrap)
    assert checks["mcu.icmp"]["status"] == "skip"
    assert "needs CAP_NET_RAW" in checks["mcu.icmp"]["summary"]
    assert code == 0


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sip_options_against_sipp(link: Link, tmp_path: Path, transport: str) -> None:
    if shutil.which("sipp") is None:
        pytest.skip("needs sipp (Debian package sip-tester)")
    port = 5060 if transport == "udp" else 5070
    sipp = link.start(
        link.centre,
        "sipp",
        "-sn",
        "uas",
        "-aa",
        "-i",
        link.centre_address,
        "-p",
        str(port),
        "-t",
        "u1" if transport == "udp" else "t1",
        "-nostdin",
        cwd=tmp_path,
    )
    if transport == "tcp":
        link.wait_tcp(link.centre, link.centre_address, port, sipp)
    uri = f"sip:[{link.centre_address}]:{port};transport={transport}"
    try:
        code, checks = netcheck(link, write_config(tmp_path, MCU, extra=f'sip_uri = "{uri}"\n'))
    finally:
        link.stop(sipp)
    sip = checks["mcu.sip"]
    assert sip["status"] == "ok", sip
    assert sip["summary"].startswith(
        f"SIP OPTIONS over {transport.upper()} to [{link.centre_address}]:{port}: 200 OK in "
    )
    assert sip["details"]["status_code"] == 200
    assert code == 0


def test_sip_nobody_listening(link: Link, tmp_path: Path) -> None:
    uri = f"sip:[{link.centre_address}]:5080"
    code, checks = netcheck(link, write_config(tmp_path, MCU, extra=f'sip_uri = "{uri}"\n'))
    assert checks["mcu.sip"]["status"] == "fail"
    assert checks["mcu.sip"]["summary"].startswith(
        f"SIP OPTIONS over UDP to [{link.centre_address}]:5080: "
    )
    assert code == 2


def test_no_global_address(tmp_path: Path) -> None:
    with built_link(room_cidr=None) as bare:
        bare.hosts(f"{bare.centre_address} {MCU}\n")
        code, checks = netcheck(bare, write_config(tmp_path, MCU))
    assert code == 2
    assert checks["net.link"]["status"] == "ok"
    address = checks["net.ipv6_address"]
    assert address["status"] == "fail"
    assert address["summary"].startswith("no global IPv6 address on any interface (only fe80:")
    for name in ("net.ipv6_route", "net.dns_aaaa", "mcu.tcp", "probe.rtt"):
        assert checks[name]["summary"] == "skipped: net.ipv6_address failed"


def test_no_link_with_carrier(tmp_path: Path) -> None:
    with built_link() as cut:
        # The peer end down: the room's interface is up but has no carrier, like an unplugged cable.
        cut.run(cut.centre, "ip", "link", "set", "v1", "down", check=True)
        code, checks = netcheck(cut, write_config(tmp_path, MCU))
    assert code == 2
    assert (
        checks["net.link"]["summary"]
        == "no network interface is up with carrier (v0: up, no carrier (cable unplugged?))"
    )
    assert checks["net.ipv6_address"]["summary"] == "skipped: net.link failed"
    assert checks["probe.loss"]["summary"] == "skipped: net.link failed"


def test_diagnose_runs_the_chain_between_devices_and_host(link: Link, tmp_path: Path) -> None:
    proc = link.agent(
        "diagnose", "--json", "--no-bandwidth", "--config", str(write_config(tmp_path, MCU))
    )
    names = [check["name"] for check in json.loads(proc.stdout)["checks"]]
    chain = [name for name in names if name.split(".")[0] in ("net", "mcu", "probe")]
    assert tuple(chain) == CHAIN
    assert names.index("net.link") > names.index("config")
    assert names.index("probe.loss") < names.index("host.disk")
    assert "probe.upload" not in names


def _second_interface(current: Link, address: str | None = None) -> None:
    """A VPN-like interface up with carrier in the room (a veth pair inside the namespace)."""
    current.run(current.room, "ip", "link", "add", "wg0", "type", "veth", "peer", "name", "wg1", check=True)
    if address:
        current.run(current.room, "ip", "addr", "add", address, "dev", "wg0", "nodad", check=True)
    for name in ("wg0", "wg1"):
        current.run(current.room, "ip", "link", "set", name, "up", check=True)


def test_another_interface_up_does_not_stand_in_for_the_link_to_the_mcu(tmp_path: Path) -> None:
    with built_link() as cut:
        _second_interface(cut, "2001:db8:99::2/64")
        cut.run(cut.centre, "ip", "link", "set", "v1", "down", check=True)  # v0 loses carrier
        code, checks = netcheck(cut, write_config(tmp_path, cut.centre_address))
    assert code == 2
    assert checks["net.link"]["summary"] == (
        f"{ROOM_IF} (the interface towards the MCU {cut.centre_address}) is up, no carrier (cable unplugged?);"
        " wg0, wg1 up, but the MCU is not reached through them"
    )
    assert checks["net.link"]["details"]["towards_mcu"] == ROOM_IF


def test_global_address_on_another_interface_does_not_count(tmp_path: Path) -> None:
    with built_link(room_cidr=None) as bare:
        _second_interface(bare, "2001:db8:99::2/64")
        # The MCU's prefix is on-link on v0, which has only a link-local address.
        bare.run(bare.room, "ip", "-6", "route", "add", "fd00:b1::/64", "dev", ROOM_IF, check=True)
        code, checks = netcheck(bare, write_config(tmp_path, bare.centre_address))
    assert code == 2
    assert checks["net.link"]["status"] == "ok"
    address = checks["net.ipv6_address"]
    assert address["status"] == "fail"
    assert address["summary"].startswith(f"no global IPv6 address on {ROOM_IF}, the interface towards the MCU (only fe80:")
    assert address["summary"].endswith("2001:db8:99::2/64 on wg0 does not carry the meeting")


def test_every_aaaa_of_the_mcu_is_tried(link: Link, tmp_path: Path) -> None:
    # A second address at the control centre on which the MCU's port is not served.
    link.run(link.centre, "ip", "addr", "replace", "fd00:b1::3/64", "dev", "v1", "nodad", check=True)
    link.hosts(f"{link.centre_address} {MCU}\nfd00:b1::3 {MCU}\n")
    try:
        code, checks = netcheck(link, write_config(tmp_path, MCU))
    finally:
        link.run(link.centre, "ip", "addr", "del", "fd00:b1::3/64", "dev", "v1")
    tcp = checks["mcu.tcp"]
    assert code == 2 and tcp["status"] == "fail"
    assert tcp["summary"].startswith(f"TCP {HTTP_PORT} to fd00:b1::3: connection refused after ")
    assert tcp["summary"].endswith(f"(1 of 2 addresses of {MCU} fail)")
    assert tcp["details"]["failed_addresses"] == ["fd00:b1::3"]
    assert tcp["details"]["ports"][f"[{link.centre_address}]:{HTTP_PORT}"]["ok"] is True


def test_a_silent_name_server_is_given_up_after_the_timeout(link: Link, tmp_path: Path) -> None:
    import sys
    import time

    silent = link.start(link.centre, sys.executable, "-c",
                        "import socket,time\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n"
                        f"s.bind(({link.centre_address!r},53))\ntime.sleep(120)")
    resolv = link.etc / "resolv.conf"
    before = resolv.read_text()
    resolv.write_text(f"nameserver {link.centre_address}\noptions timeout:10 attempts:3\n")
    try:
        time.sleep(0.5)
        started = time.monotonic()
        code, checks = netcheck(link, write_config(tmp_path, "silent.example.vn"))
        took = time.monotonic() - started
    finally:
        resolv.write_text(before)
        link.stop(silent)
    assert code == 2
    assert checks["net.dns_aaaa"]["summary"] == (
        "silent.example.vn does not resolve: no answer from the name server within 5 s"
    )
    assert took < 15  # glibc alone would wait 30 s per family
