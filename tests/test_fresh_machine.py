"""The README's two commands on a pristine Debian 12 machine, as a developer or CI gets one.

A tree made by mmdebstrap from this machine's Debian mirror holds minbase and
git, make, ca-certificates and sudo, nothing else. A fresh clone's content goes
in (the tracked and new unignored files: no .venv/, no build/), and inside the
tree, with the host's network and the same mirror, `make venv` must install
every Debian package it needs through packaging/apt-ensure and the project
itself. Then `make run` (the collector on [::1] with SQLite, the room enrolled,
the agent heartbeating) runs in a network namespace of its own, loopback only,
until the collector has stored the agent's first heartbeat. The Debian packages
`make test` needs must resolve from the mirror in the same tree.

The pristine tree is cached as a tarball under /var/cache/bridge-room-test/
(keyed by the mirror and the package list) and extracted anew for each run (on
/dev/shm when it is a tmpfs), so the cache stays pristine and apt really
downloads and installs the runtime packages every time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, require_root
from tests.debian_tree import SYSTEM_PATH, Chroot, ok, pristine_tarball, run

TOOLS = ("mmdebstrap", "unshare", "git", "tar", "ip")
CHECKOUT = "/home/dev/bridge-room"
# A login shell's environment on a fresh machine: nothing from the caller (make's flags, venv, pyenv).
LOGIN_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
             "LANG=C.UTF-8", "TERM=dumb")
HEARTBEAT_WAIT_S = 60
SCRATCH = "/dev/shm"
SCRATCH_NEEDS = 4 << 30  # the tree after make venv is about 600 MB
SCRATCH_PREFIX = "bridge-room-fresh-machine-"
LEFTOVER_AGE_S = 86400

pytestmark = pytest.mark.root


def in_checkout(script: str) -> tuple[str, ...]:
    return ("env", "-i", *LOGIN_ENV, "sh", "-c", f"cd {CHECKOUT} && {script}")


def fresh_clone(dest: Path) -> None:
    """What a clone holds once the work is committed: tracked and new unignored files as they are
    now (no .venv/, no build/, no caches)."""
    listing = ok(run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                      "--exclude-standard"]))
    files = sorted({f for f in listing.split("\0") if f and os.path.lexists(REPO / f)})
    dest.mkdir(parents=True)
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)


def scratch_dir() -> str | None:
    """/dev/shm when it is a tmpfs with room that allows exec, else the temp dir: on disk, dpkg's
    fsyncs and removing the tree's 20,000 files cost more than half a minute."""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, target, fstype, options, *_ = line.split()
        if target == SCRATCH and fstype == "tmpfs" and "noexec" not in options.split(","):
            stat = os.statvfs(SCRATCH)
            if stat.f_bavail * stat.f_frsize >= SCRATCH_NEEDS:
                return SCRATCH
    return None


def remove_leftovers(parent: Path) -> None:
    """Trees of runs killed before their teardown (on a tmpfs they hold memory), once a day old."""
    for old in parent.glob(f"{SCRATCH_PREFIX}*"):
        if time.time() - old.stat().st_mtime > LEFTOVER_AGE_S:
            run(["rm", "-rf", "--one-file-system", str(old)], timeout=300)


@pytest.fixture(scope="module")
def machine() -> Iterator[Chroot]:
    require_root("chroots of a pristine Debian 12 tree")
    missing = [tool for tool in TOOLS if shutil.which(tool, path=SYSTEM_PATH) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make test installs them through APT_TEST)")
    tarball = pristine_tarball()
    scratch = scratch_dir()
    remove_leftovers(Path(scratch or tempfile.gettempdir()))
    tmp = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch))
    try:
        root = tmp / "root"
        root.mkdir()
        ok(run(["tar", "-x", "-f", str(tarball), "-C", str(root)]))
        # The host's resolver, for the mirror's name; the tree's sources are the mirror's already.
        (root / "etc/resolv.conf").unlink(missing_ok=True)
        (root / "etc/resolv.conf").write_text(Path("/etc/resolv.conf").read_text())
        fresh_clone(root / CHECKOUT.lstrip("/"))
        yield Chroot(root, tmpfs_run=True)
    finally:
        # Faster than shutil.rmtree on a tree this size; never into another filesystem.
        run(["rm", "-rf", "--one-file-system", str(tmp)], timeout=300)


Made = tuple[subprocess.CompletedProcess[str], float]


@pytest.fixture(scope="module")
def made_venv(machine: Chroot) -> Made:
    """`make venv` in the fresh clone, with the host's network for the mirror; and how long it took."""
    started = time.monotonic()
    proc = machine.run(*in_checkout("make venv"), network=True, check=False, timeout=600)
    return proc, time.monotonic() - started


def _venv_made(made: Made) -> None:
    if made[0].returncode != 0:
        pytest.fail("make venv failed on the pristine tree (test_make_venv_installs_what_it_needs)")


def test_make_venv_installs_what_it_needs(made_venv: Made, machine: Chroot,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    proc, seconds = made_venv
    with capsys.disabled():
        print(f"\nmake venv on a pristine Debian 12 tree: {seconds:.0f} s")
    assert proc.returncode == 0, f"make venv exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "installing Debian packages:" in proc.stdout, "the tree was not pristine: apt installed nothing"
    # Run again, nothing is missing: apt stays quiet and the venv is kept.
    assert machine.path(f"{CHECKOUT}/.venv/bin/bridge-collector").is_file()
    again = machine.run(*in_checkout("make venv"), check=False)
    assert again.returncode == 0 and "installing" not in again.stdout, again.stdout + again.stderr


# A developer's machine has an IPv6 address: the namespace's loopback gets a ULA one.
MAIN_JOB = f"""
ip -6 address add fd00:b7::1/64 dev lo nodad
mkdir -p build
make run > build/make-run.log 2>&1 &
.venv/bin/python - <<'EOF'
import json, time
from pathlib import Path
import httpx
deadline = time.monotonic() + {HEARTBEAT_WAIT_S}
cookie = None
while time.monotonic() < deadline:
    try:
        if cookie is None:  # every read needs a login: make run's admin, password in build/run
            password = Path("build/run/admin-password").read_text().strip()
            r = httpx.post("http://[::1]:8443/login", data={{"user": "admin", "password": password}},
                           headers={{"Origin": "http://[::1]:8443"}}, timeout=5)
            cookie = r.headers["set-cookie"].split(";")[0] if r.status_code == 303 else None
        if cookie is not None:
            room = httpx.get("http://[::1]:8443/api/v1/rooms/dev-room-1", headers={{"Cookie": cookie}},
                             timeout=1).json()
            if room.get("heartbeat"):
                print("first heartbeat:", json.dumps(room["heartbeat"]))
                break
    except (httpx.HTTPError, ValueError, OSError, KeyError):
        pass
    time.sleep(0.2)
EOF
cat build/make-run.log
"""


def test_make_run_stores_the_first_heartbeat(made_venv: Made, machine: Chroot) -> None:
    """The main job in the tree's own network namespace: [::1]:8443 and UDP 8862 are its own,
    nothing but loopback is reached, and every process ends with the namespace."""
    _venv_made(made_venv)
    out = machine.run(*in_checkout(MAIN_JOB), timeout=HEARTBEAT_WAIT_S + 60).stdout
    first = [line for line in out.splitlines() if line.startswith("first heartbeat: ")]
    assert first, f"no heartbeat stored within {HEARTBEAT_WAIT_S} s\n{out[-4000:]}"
    heartbeat = json.loads(first[0].removeprefix("first heartbeat: "))
    assert heartbeat["seq"] == 1 and heartbeat["room_id"] == "dev-room-1", heartbeat
    # The collector stands in for the room's MCU and responder: TCP, ICMPv6 and STAMP reach it.
    failed = [f"{c['name']}: {c['summary']}" for c in heartbeat["checks"] if c["status"] == "fail"]
    assert not failed, "\n".join(failed)
    assert "event=heartbeat.delivered seq=1" in out, out[-4000:]


def test_make_test_dependencies_resolve(made_venv: Made, machine: Chroot) -> None:
    """The Debian packages `make test` (and so .ci/run) installs resolve from the mirror in the
    pristine tree; the suite itself is not run here."""
    _venv_made(made_venv)
    plan = machine.run(*in_checkout("make -n test")).stdout
    ensure = [line.split()[1:] for line in plan.splitlines()
              if line.startswith("./packaging/apt-ensure ")]
    assert len(ensure) == 1 and ".venv/bin/python -m pytest" in plan, plan
    simulated = machine.run("apt-get", "install", "-s", "-q", "--no-install-recommends", *ensure[0],
                            check=False)
    assert simulated.returncode == 0, simulated.stdout[-4000:] + simulated.stderr[-4000:]
    assert "Inst " in simulated.stdout, "the pristine tree already had the test packages"
