"""The Debian packages, built and installed the way a room's technician gets them.

``make deb`` builds bridge-room-agent and bridge-room-collector; lintian must
be silent; both units pass ``systemd-analyze verify`` with their ExecStart
present and the agent's exposure score stays at 2.3 or below. Then a clean
Debian 12 tree made by mmdebstrap from this machine's apt mirror gets the
packages through ``apt-get install ./….deb`` (dependencies resolved by apt
from Debian) and the commands run inside it. Then the tree is booted with
systemd as PID 1, so both units run for real with their whole sandbox; an
upgrade to a rebuilt higher version and a purge follow, after which nothing
may be left behind. The services are also run, faster, under the seccomp part
of their units' sandbox alone (packaging/unit-seccomp), with a control run
showing that emulation bites.

The base tree is cached as a tarball under /var/cache/bridge-room-test/,
keyed by the mirror and the package lists, with the dependencies downloaded
but not installed: apt still resolves and installs them in every run, only
without fetching them again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, require_root
from tests.daemon_helpers import NotifySocket, wait_for
from tests.debian_tree import (SUITE, SYSTEM_PATH, Booted, Chroot, as_nobody, base_tarball, launcher, ok, run,
                               sandboxed, seccomp_available, system_env)
from agent import __version__ as AGENT_VERSION
from tests.netns import netns_available

BUILD = REPO / "build"
TOOLS = ("dpkg-buildpackage", "lintian", "mmdebstrap", "systemd-analyze", "unshare")
AGENT_UNIT = "bridge-agent.service"
UNITS = (AGENT_UNIT, "bridge-collector.service", "bridge-collector-probe.service")
# 2.3: the camera and sound card allow-list of the AV checks (DeviceAllow=) is all above 2.2.
MAX_AGENT_EXPOSURE = 2.3
UPGRADE_VERSION = f"{AGENT_VERSION}+test1"  # the next release, as the upgrade test builds it

pytestmark = pytest.mark.root


@pytest.fixture(scope="module", autouse=True)
def _preconditions() -> None:
    require_root("building packages, chroots and the install test")
    missing = [tool for tool in TOOLS if shutil.which(tool, path=SYSTEM_PATH) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make test installs them through APT_TEST)")


# -- building ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Build:
    changes: Path
    agent: Path
    collector: Path


def _collect(outdir: Path, version: str) -> Build:
    arch = ok(run(["dpkg", "--print-architecture"])).strip()
    build = Build(
        changes=outdir / f"bridge-room_{version}_{arch}.changes",
        agent=outdir / f"bridge-room-agent_{version}_all.deb",
        collector=outdir / f"bridge-room-collector_{version}_all.deb",
    )
    for path in (build.changes, build.agent, build.collector):
        assert path.is_file(), f"{path} was not built"
    return build


def _source_version() -> str:
    first = (REPO / "packaging/debian/changelog").read_text().splitlines()[0]
    match = re.match(r"bridge-room \(([^)]+)\)", first)
    assert match, f"unexpected changelog head: {first}"
    return match.group(1)


@pytest.fixture(scope="module")
def built() -> Build:
    """`make deb`, exactly as documented: the .debs and .changes land in build/."""
    for stale in BUILD.glob("bridge-room*_*.*"):
        stale.unlink()
    ok(run(["make", "deb"], cwd=REPO))
    assert not (REPO / "debian").exists(), "make deb must not leave a debian/ at the top of the repository"
    return _collect(BUILD, _source_version())


@pytest.fixture(scope="module")
def upgrade_build(built: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The same tree rebuilt as a higher version, as the next release would be."""
    outdir = tmp_path_factory.mktemp("upgrade")
    tree = outdir / "bridge-room"
    shutil.copytree(BUILD / "bridge-room", tree, symlinks=True,
                    ignore=shutil.ignore_patterns(".pybuild", "debhelper-build-stamp"))
    changelog = tree / "debian/changelog"
    entry = (
        f"bridge-room ({UPGRADE_VERSION}) {SUITE}; urgency=medium\n\n"
        "  * Rebuild for the upgrade test.\n\n"
        " -- Hanoi City Meeting Network Operations <bridge-room@hanoi.example.vn>  "
        "Thu, 26 Nov 2026 00:00:00 +0000\n\n"
    )
    changelog.write_text(entry + changelog.read_text())
    ok(run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree))
    return _collect(outdir, UPGRADE_VERSION)


def test_package_version_follows_the_code() -> None:
    from agent import __version__ as agent_version
    from collector import __version__ as collector_version

    upstream = _source_version().split("+")[0].split("-")[0]
    assert upstream == agent_version == collector_version, "bump packaging/debian/changelog with the code"


def test_both_packages_build_with_private_module_dirs(built: Build) -> None:
    agent_files = ok(run(["dpkg-deb", "-c", str(built.agent)]))
    collector_files = ok(run(["dpkg-deb", "-c", str(built.collector)]))
    assert "./usr/share/bridge-room-agent/agent/cli.py" in agent_files
    assert "./usr/share/bridge-room-collector/collector/probe/stamp.py" in collector_files
    assert "./usr/share/bridge-room-collector/collector/schema/heartbeat-v1.schema.json" in collector_files
    for listing in (agent_files, collector_files):
        assert "dist-packages" not in listing, "application modules must not land in the global dist-packages"
    for path in ("./usr/bin/bridge-agent", "./lib/systemd/system/bridge-agent.service",
                 "./usr/lib/sysusers.d/bridge-room-agent.conf", "./etc/bridge-agent/agent.toml",
                 "./usr/share/man/man8/bridge-agent.8.gz", "./usr/share/man/man5/bridge-agent.toml.5.gz"):
        assert path in agent_files
    assert "./etc/bridge-agent/token" not in agent_files, "the token is never shipped"
    for path in ("./usr/bin/bridge-collector", "./lib/systemd/system/bridge-collector.service",
                 "./lib/systemd/system/bridge-collector-probe.service",
                 "./usr/share/man/man8/bridge-collector.8.gz",
                 # For the city's Prometheus and Grafana (docs/monitoring.md).
                 "./usr/share/bridge-room-collector/prometheus/bridge-room.rules.yml",
                 "./usr/share/bridge-room-collector/prometheus/bridge-room.rules.test.yml",
                 "./usr/share/bridge-room-collector/grafana/grafana-dashboard.json"):
        assert path in collector_files
    depends = ok(run(["dpkg-deb", "-f", str(built.agent), "Depends", "Recommends"]))
    for dep in ("python3-psutil", "python3-pyudev", "python3-httpx", "python3-watchdog", "iperf3", "ffmpeg"):
        assert dep in depends


def test_lintian_has_no_errors_or_warnings(built: Build) -> None:
    proc = run(["lintian", "--fail-on", "error,warning", "--display-level", ">=warning",
                 str(built.changes)], timeout=900)
    tags = [line for line in proc.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    assert proc.returncode == 0 and not tags, "\n".join(tags) or proc.stderr


def _exposure(unit_file: Path) -> float:
    proc = run(["systemd-analyze", "security", "--offline=true", str(unit_file)])
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    return float(match.group(1))


def test_agent_unit_exposure_at_most_2_3(built: Build, capsys: pytest.CaptureFixture[str]) -> None:
    debian = BUILD / "bridge-room/debian"
    scores = {
        "bridge-agent.service": _exposure(debian / "bridge-room-agent.bridge-agent.service"),
        "bridge-collector.service": _exposure(debian / "bridge-room-collector.bridge-collector.service"),
        "bridge-collector-probe.service": _exposure(debian / "bridge-room-collector.bridge-collector-probe.service"),
    }
    with capsys.disabled():
        for unit, score in scores.items():
            print(f"\nsystemd-analyze security --offline=true {unit}: exposure {score}")
    assert scores[AGENT_UNIT] <= MAX_AGENT_EXPOSURE
    assert all(score <= MAX_AGENT_EXPOSURE for score in scores.values()), scores


def test_agent_unit_keeps_its_promises(built: Build) -> None:
    unit = (REPO / "packaging/debian/bridge-room-agent.bridge-agent.service").read_text()
    settings: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    assert settings["Type"] == ["notify"]
    assert settings["User"] == ["bridge-agent"]
    assert settings["AmbientCapabilities"] == ["CAP_NET_RAW"]
    assert settings["CapabilityBoundingSet"] == ["CAP_NET_RAW"]
    assert settings["RestartPreventExitStatus"] == ["78"]
    # Pseudo devices, and cameras and sound cards for the AV checks: nothing else.
    assert settings["DevicePolicy"] == ["closed"]
    assert settings["DeviceAllow"] == ["char-video4linux rw", "char-alsa rw"]
    assert settings["SupplementaryGroups"] == ["video audio"]
    assert settings["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "MemoryDenyWriteExecute",
                "LockPersonality", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID"):
        assert settings[key] == ["yes"], key
    assert settings["ProtectSystem"] == ["strict"]
    # Hiding other users' processes would turn "camera in use: unknown" into "free".
    assert settings["ProtectProc"] == ["default"] and "ProcSubset" not in settings
    assert "WatchdogSec" in settings and "MemoryMax" in settings


# -- the agent under its unit's seccomp sandbox ------------------------------------------------

SANDBOXED_CONFIG = """\
[room]
id = "hn-sandbox-1"

[central]
url = "http://[::1]:9/api/v1/heartbeat"
token_file = "token"

[mcu]
host = "::1"
tcp_ports = [9]

[agent]
state_dir = "state"
runtime_dir = "run"
"""


@pytest.fixture(scope="module")
def unpacked(built: Build) -> Iterator[Path]:
    """Both packages unpacked where an unprivileged user can read them, with an enrolled config."""
    if not seccomp_available():
        pytest.skip("needs python3-seccomp (make test installs it through APT_TEST)")
    root = Path(tempfile.mkdtemp(prefix="bridge-room-sandbox-"))
    root.chmod(0o755)
    for deb in (built.agent, built.collector):
        ok(run(["dpkg-deb", "-x", str(deb), str(root)]))
    (root / "agent.toml").write_text(SANDBOXED_CONFIG)
    (root / "token").write_text("s3cr3t-room-token\n")
    for sub in ("state", "run", "collector"):
        (root / sub).mkdir()
        shutil.chown(root / sub, "nobody", "nogroup")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _packaged_diagnose(unit: Path, root: Path) -> list[dict]:
    proc = run(sandboxed(unit, "net_raw", *launcher(root, "bridge-room-agent", "agent"),
                         "--config", str(root / "agent.toml"), "diagnose", "--json", "--no-bandwidth"))
    assert proc.returncode in (0, 1, 2), proc.stderr
    return json.loads(proc.stdout)["checks"]


def test_agent_runs_under_its_units_seccomp_sandbox(built: Build, unpacked: Path) -> None:
    unit = REPO / "packaging/debian/bridge-room-agent.bridge-agent.service"
    checks = _packaged_diagnose(unit, unpacked)
    crashed = [c for c in checks if "crashed" in c["summary"] or "not permitted" in c["summary"]]
    assert not crashed, crashed
    by_name = {c["name"]: c for c in checks}
    assert {"host.disk", "host.memory", "host.clock"} <= set(by_name)
    if "mcu.icmp" in by_name:  # ICMPv6 echo to ::1 with CAP_NET_RAW as the only privilege
        assert by_name["mcu.icmp"]["status"] == "ok", by_name["mcu.icmp"]


def test_the_sandbox_emulation_bites(built: Build, unpacked: Path) -> None:
    """Without the unit's adjtimex exception host.clock cannot read the clock, and W^X holds."""
    unit = REPO / "packaging/debian/bridge-room-agent.bridge-agent.service"
    without = unpacked / "without-adjtimex.service"  # readable by the sandbox's user
    without.write_text("".join(line for line in unit.read_text().splitlines(keepends=True)
                               if not line.startswith("SystemCallFilter=adjtimex")))
    clock = next(c for c in _packaged_diagnose(without, unpacked) if c["name"] == "host.clock")
    assert clock["status"] == "fail" and re.search(r"crashed|not permitted|Errno 1", clock["summary"]), clock
    wx = run(sandboxed(unit, "net_raw", "/usr/bin/python3", "-c",
                       "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)"))
    assert wx.returncode != 0 and "PermissionError" in wx.stderr, wx.stderr


def _enrolled_for_sandbox(root: Path) -> str:
    return f"""\
[room]
id = "hn-pkg-1"

[central]
url = "http://[::1]:8443/api/v1/heartbeat"
token_file = "{root / 'token'}"
interval_s = 2

[mcu]
host = "::1"
tcp_ports = [8443]

[probe]
http_port = 8443
duration_s = 1
# The collector in this namespace speaks plain HTTP on loopback.
tls = false

[agent]
state_dir = "{root / 'state'}"
runtime_dir = "{root / 'run'}"
"""


def test_service_in_its_sandbox_waits_for_configuration_then_heartbeats(unpacked: Path) -> None:
    """Both services as their units run them (unprivileged, one capability, the units' filters)
    in a private network namespace: the collector binds the STAMP port 862; the agent, started
    on the shipped unconfigured file, is READY and "waiting for configuration", picks up the
    edited file by itself, and its heartbeats reach the collector; SIGTERM stops it cleanly."""
    reason = netns_available()
    if reason:
        pytest.skip(reason)
    ns = f"br-pkg-{os.getpid()}"
    db = unpacked / "collector/collector.db"
    collector_cmd = launcher(unpacked, "bridge-room-collector", "collector")
    token = ok(run(as_nobody(*collector_cmd, "--db", str(db), "room", "add", "hn-pkg-1"))).strip()
    (unpacked / "token").write_text(token + "\n")
    config = unpacked / "agent.toml"
    shutil.copy(unpacked / "etc/bridge-agent/agent.toml", config)  # the shipped, unconfigured sample
    notify = NotifySocket(unpacked / "notify.sock")
    (unpacked / "notify.sock").chmod(0o666)
    ok(run(["ip", "netns", "add", ns]))
    procs: list[subprocess.Popen] = []

    def start(name: str, *cmd: str) -> subprocess.Popen:
        with open(unpacked / f"{name}.log", "wb") as log:
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns, *cmd], env=system_env(),
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        return procs[-1]

    try:
        ok(run(["ip", "-n", ns, "link", "set", "lo", "up"]))
        start("collector", *sandboxed(unpacked / "lib/systemd/system/bridge-collector.service", "net_bind_service",
                                      *collector_cmd, "--db", str(db), "serve", "--listen", "[::1]:8443",
                                      "--probe-in-process", "--stamp-port", "862"))
        wait_for(lambda: run(["ip", "netns", "exec", ns, "ss", "-Hln", "sport = :862 or sport = :8443"])
                 .stdout.count("[::1]") == 2, 30, what="the collector on [::1]:8443 and UDP 862")
        agent = start("agent", "env", f"NOTIFY_SOCKET={unpacked / 'notify.sock'}", "WATCHDOG_USEC=180000000",
                      *sandboxed(unpacked / "lib/systemd/system/bridge-agent.service", "net_raw",
                                 *launcher(unpacked, "bridge-room-agent", "agent"), "--config", str(config), "run"))
        wait_for(lambda: any("READY=1" in m and "STATUS=waiting for configuration" in m for m in notify.messages),
                 30, what="READY=1 with STATUS=waiting for configuration")
        assert agent.poll() is None, (unpacked / "agent.log").read_text()

        config.write_text(_enrolled_for_sandbox(unpacked))

        def last_seq() -> int:
            listing = ok(run(as_nobody(*collector_cmd, "--db", str(db), "room", "list", "--json")))
            return json.loads(listing)["rooms"][0]["last_seq"] or 0

        wait_for(lambda: last_seq() >= 2, 60, interval=0.5,
                 what="two heartbeats accepted by the collector")
        assert any(m.startswith("STATUS=") and "waiting" not in m for m in notify.messages), notify.messages
        assert any("WATCHDOG=1" in m for m in notify.messages)
        status = run(as_nobody(*launcher(unpacked, "bridge-room-agent", "agent"), "--config", str(config),
                               "status", "--json"))
        state = json.loads(status.stdout)
        assert state["state"] == "running" and state["last_delivery"]["at"], state
        agent.terminate()
        assert agent.wait(10) == 0, (unpacked / "agent.log").read_text()
        assert token not in (unpacked / "agent.log").read_text(), "the token is never logged"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        notify.close()
        run(["ip", "netns", "del", ns])


# -- the clean Debian 12 tree -------------------------------------------------------------------

@pytest.fixture(scope="module")
def chroot(built: Build, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chroot]:
    root = tmp_path_factory.mktemp("debian12") / "root"
    root.mkdir()
    ok(run(["tar", "-x", "-f", str(base_tarball()), "-C", str(root)]))
    tree = Chroot(root)
    tree.apt_install(built.agent, built.collector)
    yield tree
    shutil.rmtree(root.parent, ignore_errors=True)


ENROLLED = """\
[room]
id = "hn-test-1"
name = "Phòng họp thử"

[central]
url = "https://collector.example.vn/api/v1/heartbeat"

[mcu]
host = "2001:db8::10"
"""


# The collector as installed speaks TLS with its self-signed certificate, which the
# room trusts as the technician would set it up: a copy in /etc/bridge-agent.
ENROLLED_LOCAL = """\
[room]
id = "hn-boot-1"

[central]
url = "https://[::1]:8443/api/v1/heartbeat"
ca_file = "/etc/bridge-agent/collector.pem"
interval_s = 2

[mcu]
host = "::1"
tcp_ports = [8443]
"""


def _stat(tree: Chroot, path: str) -> str:
    """Mode and owner as the tree itself names them (its own passwd and group)."""
    return tree.run("stat", "-c", "%a %U:%G", path).stdout.strip()


def test_installed_commands_run(chroot: Chroot) -> None:
    assert chroot.run("bridge-agent", "--version").stdout.strip() == f"bridge-agent {AGENT_VERSION}"
    # The shipped sample is not enrolled: the service-readiness check says what is missing.
    unconfigured = chroot.run("bridge-agent", "config", "check", check=False)
    assert unconfigured.returncode == 78, unconfigured
    assert "room.id" in unconfigured.stderr and "central.url" in unconfigured.stderr
    devices = chroot.run("bridge-agent", "devices", "--json", check=False)
    assert devices.returncode in (0, 1, 2), devices
    document = json.loads(devices.stdout)
    assert isinstance(document, dict)


@pytest.mark.parametrize("command, options, banner", [
    ("serve --db /var/lib/bridge-collector/collector.db", "BRIDGE_COLLECTOR_OPTS", "serving on https://[::]:8443"),
    ("probe-serve", "BRIDGE_COLLECTOR_PROBE_OPTS", "stamp reflector listening on [::]:862"),
])
def test_collector_services_run_with_the_shipped_defaults(chroot: Chroot, command: str, options: str,
                                                          banner: str) -> None:
    """Each unit's ExecStart with /etc/default/bridge-collector, as its user with CAP_NET_BIND_SERVICE
    (port 862), in the tree's own network namespace: it serves until stopped."""
    # Nothing secret is made at installation: the administrator creates the first account.
    assert not chroot.path("/etc/bridge-collector/read-token").exists()
    serve = f". /etc/default/bridge-collector && exec timeout 8 bridge-collector {command} ${options}"
    proc = chroot.run("sh", "-c", serve, user="bridge-collector", caps="net_bind_service", check=False)
    assert proc.returncode == 124 and banner in proc.stderr, proc.stderr


def test_collector_enrols_a_room_as_its_service_user(chroot: Chroot) -> None:
    as_service = ("runuser", "-u", "bridge-collector", "--", "bridge-collector")
    token = chroot.run(*as_service, "room", "add", "hn-test-1", "--unit", "UBND phường Thử").stdout.strip()
    assert len(token) >= 20 and "\n" not in token
    rooms = json.loads(chroot.run(*as_service, "room", "list", "--json").stdout)["rooms"]
    assert [r["room_id"] for r in rooms] == ["hn-test-1"]
    assert _stat(chroot, "/var/lib/bridge-collector/collector.db").endswith(" bridge-collector:bridge-collector")
    # The first admin, as README and bridge-collector(8) say; the password on stdin.
    chroot.run("sh", "-c", "printf 'first-admin-password\\n' | runuser -u bridge-collector -- "
               "bridge-collector user add admin --role admin")
    users = json.loads(chroot.run(*as_service, "user", "list", "--json").stdout)["users"]
    assert [(u["name"], u["role"]) for u in users] == [("admin", "admin")]
    audit = json.loads(chroot.run(*as_service, "audit", "--json").stdout)["audit"]
    assert {(e["action"], e["actor"], e["source"]) for e in audit} == {
        ("room.add", "bridge-collector", "cli"), ("user.add", "bridge-collector", "cli")}


def test_system_user_and_groups(chroot: Chroot) -> None:
    passwd = chroot.run("getent", "passwd", "bridge-agent").stdout.strip().split(":")
    assert int(passwd[2]) < 1000, "a system user"
    assert passwd[6] == "/usr/sbin/nologin"
    groups = chroot.run("id", "-nG", "bridge-agent").stdout.split()
    # The device groups come from the unit (SupplementaryGroups=) for the service alone,
    # not from a membership every login as the user would have.
    assert groups == ["bridge-agent"], "no device group memberships"
    assert chroot.run("getent", "passwd", "bridge-collector").stdout


def test_file_modes_and_conffile(chroot: Chroot) -> None:
    assert _stat(chroot, "/etc/bridge-agent/token") == "640 root:bridge-agent"
    assert chroot.path("/etc/bridge-agent/token").read_text() == "", "created empty, never shipped"
    assert _stat(chroot, "/etc/bridge-agent/agent.toml") == "644 root:root"
    assert _stat(chroot, "/etc/bridge-collector") == "750 root:bridge-collector"
    # TLS from the first start: a self-signed certificate for this host, the key for the service only.
    assert _stat(chroot, "/etc/bridge-collector/key.pem") == "640 root:bridge-collector"
    assert _stat(chroot, "/etc/bridge-collector/cert.pem") == "644 root:root"
    san = chroot.run("openssl", "x509", "-in", "/etc/bridge-collector/cert.pem", "-noout", "-ext",
                     "subjectAltName").stdout
    assert "IP Address:0:0:0:0:0:0:0:1" in san and "DNS:localhost" in san, san
    assert _stat(chroot, "/usr/bin/bridge-agent") == "755 root:root"
    conffiles = chroot.run("dpkg-query", "-W", "-f=${Conffiles}", "bridge-room-agent").stdout
    assert "/etc/bridge-agent/agent.toml" in conffiles
    assert "/etc/bridge-agent/token" not in conffiles
    # Recommends are installed by default: the iperf3 probe mode, the collector's fast HTTP stack.
    for recommended in ("iperf3", "python3-httptools", "python3-uvloop"):
        assert chroot.run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", recommended).stdout.startswith("ii")
    assert chroot.path("/etc/bridge-agent/agent.toml").read_text() == (REPO / "config/agent.toml").read_text()
    assert not list(chroot.path("/usr/lib/python3/dist-packages").glob("agent*"))
    # Enabled for boot (no systemd runs in the tree, so nothing is started).
    wants = chroot.path("/etc/systemd/system/multi-user.target.wants")
    assert (wants / "bridge-agent.service").is_symlink()
    assert (wants / "bridge-collector.service").is_symlink()
    # The responder runs beside the collector, in its own process.
    assert (wants / "bridge-collector-probe.service").is_symlink()


def test_enrolled_config_checks_ok_for_the_service_user(chroot: Chroot) -> None:
    chroot.path("/etc/bridge-agent/agent.toml").write_text(ENROLLED)
    chroot.path("/etc/bridge-agent/token").write_text("s3cr3t-room-token\n")
    ok = chroot.run("bridge-agent", "config", "check", check=False)
    assert ok.returncode == 0, ok
    assert "s3cr3t" not in ok.stdout + ok.stderr
    # The service's user reads the token through its group; anybody else cannot.
    assert chroot.run("bridge-agent", "config", "check", user="bridge-agent", check=False).returncode == 0
    other = chroot.run("bridge-agent", "config", "check", user="nobody", group="nogroup", check=False)
    assert other.returncode == 78 and "permission denied" in other.stderr, other


def test_units_verify_with_their_commands_present(chroot: Chroot) -> None:
    proc = chroot.run("systemd-analyze", "verify", *UNITS, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    exposure = chroot.run("systemd-analyze", "security", "--offline=true", AGENT_UNIT, check=False)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", exposure.stdout)
    assert match and float(match.group(1)) <= MAX_AGENT_EXPOSURE, exposure.stdout[-500:]


def _proc_status(booted: Booted, pid: str) -> dict[str, str]:
    text = booted.run("cat", f"/proc/{pid}/status").stdout
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


@pytest.fixture(scope="module")
def booted(chroot: Chroot) -> Iterator[Booted]:
    """The installed tree booted with systemd as PID 1, as freshly installed: the shipped
    sample configuration and an empty token (earlier tests enrolled the room)."""
    chroot.path("/etc/bridge-agent/agent.toml").write_text((REPO / "config/agent.toml").read_text())
    chroot.path("/etc/bridge-agent/token").write_text("")
    tree = Booted(chroot.root)
    yield tree
    tree.stop()


PROPS = ("ActiveState", "SubState", "StatusText", "MainPID", "NRestarts", "Result")


def _collector_last_seq(booted: Booted, room: str) -> int:
    listing = booted.run("runuser", "-u", "bridge-collector", "--", "bridge-collector", "room", "list", "--json")
    return next(r["last_seq"] or 0 for r in json.loads(listing.stdout)["rooms"] if r["room_id"] == room)


def test_services_under_real_systemd(booted: Booted, chroot: Chroot, capsys: pytest.CaptureFixture[str]) -> None:
    """Both services enabled at installation run with their full sandbox; the agent waits for
    its configuration, heartbeats to the collector once the room is enrolled, reloads, stops."""
    # Not `is-system-running --wait`: a serial getty waits 90 s for a console this tree lacks.
    started = time.monotonic()
    agent = wait_for(lambda: (lambda a: a if a.get("StatusText") else None)(booted.show(AGENT_UNIT, *PROPS)),
                     60, interval=0.5, what="bridge-agent.service to report a status")
    wait_for(lambda: booted.show("bridge-collector.service", "ActiveState") == {"ActiveState": "active"},
             30, interval=0.5, what="bridge-collector.service to be active")
    with capsys.disabled():
        print(f"\nbridge-agent.service under systemd: {agent['ActiveState']} after "
              f"{time.monotonic() - started:.1f} s, STATUS={agent['StatusText']!r}")
    assert agent["ActiveState"] == "active", booted.journal()
    assert agent["StatusText"].startswith("waiting for configuration"), agent

    # The sandbox as the kernel sees it: the service user with the camera and sound groups, CAP_NET_RAW only.
    status = _proc_status(booted, agent["MainPID"])
    uid = booted.run("id", "-u", "bridge-agent").stdout.strip()
    device_gids = {line.split(":")[2] for line in booted.run("getent", "group", "video", "audio").stdout.split()}
    assert status["Uid"].split()[0] == uid and device_gids <= set(status["Groups"].split()), status
    cap_net_raw = f"{1 << 13:016x}"
    assert status["CapEff"] == status["CapBnd"] == status["CapAmb"] == cap_net_raw, status
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2", status
    # The collector: its own user, CAP_NET_BIND_SERVICE only, and with it the STAMP port 862.
    collector = _proc_status(booted, booted.show("bridge-collector.service", "MainPID")["MainPID"])
    assert collector["Uid"].split()[0] == booted.run("id", "-u", "bridge-collector").stdout.strip()
    assert collector["CapEff"] == collector["CapBnd"] == f"{1 << 10:016x}", collector
    # Type=simple: "active" comes before the process has imported its code and bound the port.
    wait_for(lambda: any(line.split()[1].endswith(f":{862:04X}")
                         for line in booted.run("cat", "/proc/net/udp6").stdout.splitlines()[1:]),
             30, interval=0.5, what="the STAMP reflector on UDP 862")

    token = booted.run("runuser", "-u", "bridge-collector", "--", "bridge-collector", "room", "add",
                       "hn-boot-1").stdout.strip()
    chroot.path("/etc/bridge-agent/token").write_text(token + "\n")
    shutil.copy(chroot.path("/etc/bridge-collector/cert.pem"), chroot.path("/etc/bridge-agent/collector.pem"))
    chroot.path("/etc/bridge-agent/agent.toml").write_text(ENROLLED_LOCAL)
    wait_for(lambda: _collector_last_seq(booted, "hn-boot-1") >= 2, 90, interval=0.5,
             what="heartbeats from the service at the collector")
    agent = booted.show(AGENT_UNIT, *PROPS)
    assert "waiting" not in agent["StatusText"] and agent["NRestarts"] == "0", agent
    booted.run("systemctl", "reload", AGENT_UNIT)
    assert booted.show(AGENT_UNIT, *PROPS)["MainPID"] == agent["MainPID"]
    booted.run("systemctl", "stop", AGENT_UNIT)
    stopped = booted.show(AGENT_UNIT, *PROPS)
    assert stopped["ActiveState"] == "inactive" and stopped["Result"] == "success", stopped
    assert token not in booted.run("journalctl", "--no-pager", "-u", AGENT_UNIT).stdout, "the token is never logged"


def test_upgrade_restarts_and_keeps_config_token_and_sequence(booted: Booted, chroot: Chroot,
                                                             upgrade_build: Build) -> None:
    seq_before = int(chroot.path("/var/lib/bridge-agent/seq").read_text())
    delivered_before = _collector_last_seq(booted, "hn-boot-1")
    token = chroot.path("/etc/bridge-agent/token").read_text()
    collector_pid = booted.show("bridge-collector.service", "MainPID")["MainPID"]
    for deb in (upgrade_build.agent, upgrade_build.collector):
        shutil.copy(deb, chroot.path("/tmp"))
    booted.run("apt-get", "install", "-y", "-q", f"/tmp/{upgrade_build.agent.name}",
               f"/tmp/{upgrade_build.collector.name}")
    versions = booted.run("dpkg-query", "-W", "-f=${Version}\n", "bridge-room-agent", "bridge-room-collector")
    assert versions.stdout.split() == [UPGRADE_VERSION, UPGRADE_VERSION]
    assert chroot.path("/etc/bridge-agent/agent.toml").read_text() == ENROLLED_LOCAL, "an edited conffile is kept"
    assert chroot.path("/etc/bridge-agent/token").read_text() == token
    assert _stat(chroot, "/etc/bridge-agent/token") == "640 root:bridge-agent"
    assert chroot.path("/etc/systemd/system/multi-user.target.wants/bridge-agent.service").is_symlink()
    # The upgrade restarts both services; the agent carries on from its persisted sequence number.
    assert booted.show("bridge-collector.service", "MainPID")["MainPID"] != collector_pid
    wait_for(lambda: _collector_last_seq(booted, "hn-boot-1") > max(seq_before, delivered_before), 90,
             interval=0.5, what="heartbeats after the upgrade, numbered on from before it")
    assert booted.show(AGENT_UNIT, "ActiveState") == {"ActiveState": "active"}


def test_purge_stops_the_services_and_leaves_nothing(booted: Booted, chroot: Chroot) -> None:
    chroot.path("/etc/bridge-agent/ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")  # the technician's
    booted.run("apt-get", "purge", "-y", "-q", "bridge-room-agent", "bridge-room-collector")
    for unit in ("bridge-agent.service", "bridge-collector.service"):
        assert booted.show(unit, "ActiveState") == {"ActiveState": "inactive"}, unit
    listed = booted.run("dpkg-query", "-W", "-f=${db:Status-Abbrev}\n", "bridge-room-agent",
                        "bridge-room-collector", check=False)
    assert "ii" not in listed.stdout and "rc" not in listed.stdout, listed.stdout
    paths = ("/etc/bridge-agent", "/var/lib/bridge-agent", "/run/bridge-agent",
             "/etc/bridge-collector", "/var/lib/bridge-collector", "/etc/default/bridge-collector",
             "/usr/share/bridge-room-agent", "/usr/share/bridge-room-collector",
             "/usr/bin/bridge-agent", "/usr/bin/bridge-collector",
             "/lib/systemd/system/bridge-agent.service", "/usr/lib/sysusers.d/bridge-room-agent.conf",
             "/etc/systemd/system/multi-user.target.wants/bridge-agent.service",
             "/etc/systemd/system/multi-user.target.wants/bridge-collector.service",
             "/var/lib/systemd/deb-systemd-helper-enabled/bridge-agent.service.dsh-also")
    # Looked at from inside: /run is the booted system's own.
    leftovers = booted.run("sh", "-c", 'for p; do [ -e "$p" ] || [ -L "$p" ] && echo "$p"; done; true',
                           "sh", *paths).stdout.split()
    assert not leftovers, f"left behind after purge: {leftovers}"
    # Debian practice: the system user stays, so its uid is never handed to someone else.
    assert booted.run("getent", "passwd", "bridge-agent", check=False).returncode == 0
