"""Helpers of the packaging tests: Debian's own tools, the cached Debian 12 base tree,
a chroot whose mounts cannot leak, and a service sandbox without systemd as PID 1.
The fresh-machine test uses the same chroot on a cached pristine tree.

Kept apart from the tests so that ``tests/test_packaging.py`` and
``tests/test_fresh_machine.py`` read as what they check.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

CACHE = Path("/var/cache/bridge-room-test")
SUITE = "bookworm"
# Debian's own tools, whatever PATH the suite runs with (pyenv, venv).
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# Installed in the base tree: man-db lets `systemd-analyze verify` find the units' man pages.
BASE_INCLUDE = ("man-db",)
# Downloaded into the base tree's apt cache, not installed: what the packages pull in.
BASE_DOWNLOAD = (
    "python3", "python3-psutil", "python3-pyudev", "python3-httpx", "python3-watchdog",
    "procps", "systemd", "iperf3",
    "python3-starlette", "python3-uvicorn", "python3-jinja2", "python3-jsonschema",
    "python3-fastjsonschema", "python3-httptools", "python3-uvloop",
)
# A pristine Debian 12 machine as a developer or CI gets it: minbase and nothing of ours.
PRISTINE_VARIANT = "minbase"
PRISTINE_INCLUDE = ("git", "make", "ca-certificates", "sudo")


def system_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=SYSTEM_PATH, LC_ALL="C.UTF-8", DEBIAN_FRONTEND="noninteractive",
               SYSTEMD_COLORS="0", SYSTEMD_URLIFY="0", **extra)
    return env


def run(cmd: list[str], *, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=system_env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout



def mirror_sources() -> str:
    """This machine's Debian 12 apt sources as deb822 stanzas (third-party repositories left out)."""
    stanzas: list[str] = []
    apt = Path("/etc/apt")
    for path in sorted([apt / "sources.list", *(apt / "sources.list.d").glob("*.list")]):
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*deb\s+(?:\[(?P<opts>[^]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)\s+(?P<comps>.+)$", line)
            if match and match["suite"].startswith(SUITE):
                signed = re.search(r"signed-by=(\S+)", match["opts"] or "")
                stanzas.append(_stanza(match["uri"], [match["suite"]], signed.group(1) if signed else None))
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for block in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", block, flags=re.MULTILINE))
            if "deb" not in fields.get("Types", "").split() or fields.get("Enabled", "yes") == "no":
                continue
            suites = [s for s in fields.get("Suites", "").split() if s.startswith(SUITE)]
            for uri in fields.get("URIs", "").split():
                if suites:
                    stanzas.append(_stanza(uri, suites, fields.get("Signed-By")))
    # Only Debian's archive: a third-party repository must not satisfy a dependency.
    stanzas = [s for s in stanzas if "debian" in s.split("\n")[1]]
    if not stanzas:
        pytest.skip(f"needs a Debian {SUITE} mirror in /etc/apt/sources.list*")
    return "\n".join(stanzas)


def _stanza(uri: str, suites: list[str], signed_by: str | None) -> str:
    keyring = signed_by or "/usr/share/keyrings/debian-archive-keyring.gpg"
    return (f"Types: deb\nURIs: {uri}\nSuites: {' '.join(suites)}\nComponents: main\n"
            f"Signed-By: {keyring}\n")


def base_tarball() -> Path:
    download = " ".join(BASE_DOWNLOAD)
    return _cached_tarball("base", [*BASE_INCLUDE, "--", *BASE_DOWNLOAD], [
        "--variant=apt", f"--include={','.join(BASE_INCLUDE)}",
        # Keep apt's lists and downloaded .debs: the test installs offline from them.
        "--skip=cleanup/apt/lists", "--skip=cleanup/apt/cache",
        f"--customize-hook=chroot \"$1\" apt-get install --download-only -y -q {download}",
    ])


def pristine_tarball() -> Path:
    """A Debian 12 tree with only PRISTINE_INCLUDE on minbase, apt's lists and cache cleaned:
    whatever the project needs must come from its own Makefile."""
    return _cached_tarball("pristine", [PRISTINE_VARIANT, *PRISTINE_INCLUDE], [
        f"--variant={PRISTINE_VARIANT}", f"--include={','.join(PRISTINE_INCLUDE)}",
    ])


def _cached_tarball(name: str, inputs: list[str], options: list[str]) -> Path:
    """CACHE/NAME-SUITE-KEY.tar made by mmdebstrap OPTIONS from this machine's mirror; KEY hashes
    the mirror and INPUTS, so other inputs make another tarball and the stale one is removed."""
    sources = mirror_sources()
    key = hashlib.sha256("\n".join([SUITE, sources, *inputs]).encode()).hexdigest()[:16]
    tarball = CACHE / f"{name}-{SUITE}-{key}.tar"
    if tarball.is_file():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob(f"{name}-{SUITE}-*.tar"):
        old.unlink()  # another package list or mirror: a stale cache only costs disk
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        sources_file = Path(tmp) / "debian.sources"
        sources_file.write_text(sources)
        partial = Path(tmp) / f"{name}.tar"
        ok(run(["mmdebstrap", *options, SUITE, str(partial), str(sources_file)], timeout=900))
        partial.rename(tarball)
    return tarball


class Chroot:
    """An extracted base tree; each command runs in its own mount and pid namespace, so the
    /proc, /sys and /dev mounts (and with TMPFS_RUN a fresh /run) vanish with the command,
    nothing leaks onto the host and no process outlives it."""

    def __init__(self, root: Path, *, tmpfs_run: bool = False) -> None:
        self.root = root
        self.tmpfs_run = tmpfs_run

    def run(self, *cmd: str, user: str | None = None, group: str | None = None, caps: str | None = None,
            check: bool = True, network: bool = False, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """COMMAND inside the tree, as root or as USER (with its groups and, like AmbientCapabilities=,
        the capability CAPS); without NETWORK in a network namespace of its own (loopback only)."""
        if user is not None:
            privs = ["--reuid", user, "--regid", group or user, "--init-groups"]
            if caps:
                privs += [f"--inh-caps=-all,+{caps}", f"--ambient-caps=-all,+{caps}"]
            cmd = ("setpriv", *privs, "--", *cmd)
        script = 'r=$1; shift; mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev"'
        if self.tmpfs_run:
            script += ' && mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$r/run"'
        if not network:
            script += " && ip link set lo up"  # the namespace's own loopback, [::1] included
        script += ' && exec chroot "$r" "$@"'
        isolation = [] if network else ["--net"]
        proc = run(["unshare", "--mount", "--pid", "--fork", *isolation, f"--mount-proc={self.root}/proc",
                    "--", "sh", "-c", script, "sh", str(self.root), *cmd], timeout=timeout)
        if check:
            ok(proc)
        return proc

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def apt_install(self, *debs: Path) -> None:
        for deb in debs:
            shutil.copy(deb, self.path("/tmp"))
        # The network only in case a dependency is missing from the cached base tree.
        self.run("apt-get", "install", "-y", "-q", *(f"/tmp/{deb.name}" for deb in debs), network=True)


class Booted:
    """systemd as PID 1 of the tree, in pid, mount, network, UTS and IPC namespaces of its own:
    the units run for real, with their whole sandbox, on loopback only. Killing PID 1 ends it all."""

    def __init__(self, root: Path) -> None:
        import psutil

        script = ('r=$1; mount --bind "$r" "$r" && mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" '
                  '&& mount --rbind /dev "$r/dev" && mount -t tmpfs tmpfs "$r/run" '
                  '&& exec chroot "$r" /lib/systemd/systemd --system')
        self.console = root.parent / "console.log"
        with open(self.console, "wb") as console:
            self._unshare = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount", "--net", "--uts", "--ipc", "--", "sh", "-c", script,
                 "sh", str(root)], env=system_env(), stdin=subprocess.DEVNULL, stdout=console, stderr=console)
        self.pid = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.pid:
            children = psutil.Process(self._unshare.pid).children()
            if children and children[0].name() == "systemd":
                self.pid = children[0].pid
            else:
                time.sleep(0.1)
        if not self.pid:
            self.stop()
            raise AssertionError(f"systemd did not start: {self.console.read_text()[-2000:]}")

    def run(self, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = run(["nsenter", "-t", str(self.pid), "-m", "-p", "-n", "-u", "-i", "-r", "-w", "--", *cmd],
                   timeout=timeout)
        if check:
            ok(proc)
        return proc

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """The unit's properties; empty while the manager does not answer yet."""
        out = self.run("systemctl", "show", unit, *(f"--property={p}" for p in properties), check=False).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self) -> str:
        return self.run("journalctl", "--no-pager", "-n", "200", check=False).stdout

    def stop(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
        self._unshare.wait(30)


def sandboxed(unit: Path, capability: str, *cmd: str) -> list[str]:
    """COMMAND as an unprivileged user holding CAPABILITY only (like User= and
    AmbientCapabilities=), under the unit's system call, W^X and socket filters
    (packaging/unit-seccomp): the parts of the sandbox that decide whether the
    program works at all, without systemd as PID 1."""
    caps = f"-all,+{capability}"
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}",
            "--", "/usr/bin/python3", str(REPO / "packaging/unit-seccomp"), str(unit), "--", *cmd]


def as_nobody(*cmd: str) -> list[str]:
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *cmd]


def launcher(unpacked: Path, package: str, module: str) -> list[str]:
    """What the package's /usr/bin launcher runs, pointed at the unpacked private directory."""
    code = f"import sys; sys.path.insert(0, sys.argv.pop(1)); from {module}.cli import main; sys.exit(main())"
    return ["/usr/bin/python3", "-I", "-B", "-c", code, str(unpacked / "usr/share" / package)]


def seccomp_available() -> bool:
    return run(["/usr/bin/python3", "-c", "import seccomp"]).returncode == 0
