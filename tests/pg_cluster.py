"""A throwaway PostgreSQL 15 cluster for the tests: initdb in a temp dir, own port and socket.

    cluster = PgCluster.start(Path("/tmp/x"))   # once per test run (tests/conftest.py)
    url = cluster.new_database()               # a fresh, empty database per test
    cluster.stop()

The server runs as an unprivileged user: PostgreSQL refuses to run as root, and CI
runs as root, so then the data directory belongs to ``nobody`` and the commands run
through ``setpriv``. It listens on a Unix socket in its own directory only (no TCP),
so parallel runs and a system PostgreSQL do not collide. ``missing()`` says why the
cluster cannot start (no binaries), for a skip with the reason.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "bridge"


def missing() -> str | None:
    """Why no cluster can start here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"{PG_BIN / tool} missing: apt-get install postgresql-15 (make test installs it)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "python3-psycopg missing: apt-get install python3-psycopg (make test installs it)"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return "running as root without setpriv (util-linux) to drop to an unprivileged user"
    return None


@dataclass
class PgCluster:
    base: Path
    socket_dir: Path
    port: int
    _names: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))

    @staticmethod
    def _as_user() -> list[str]:
        """The prefix running a command as the unprivileged owner of the cluster."""
        if os.geteuid() != 0:
            return []
        nobody = pwd.getpwnam("nobody")
        return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "--"]

    @classmethod
    def start(cls, base: Path, port: int = 5499, *, durable: bool = False) -> "PgCluster":
        """initdb and start; ``durable``: fsync and synchronous commit on, as in production (bench/)."""
        base.mkdir(parents=True, exist_ok=True)
        data, sockets = base / "data", base / "socket"
        sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for path in (base, sockets):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        os.chmod(base, 0o755)
        run = cls._as_user()
        subprocess.run([*run, str(PG_BIN / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                        *([] if durable else ["--no-sync"]), "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, capture_output=True, text=True, cwd=base)
        # Tests: no fsync (a throwaway cluster); room for many collectors' connections either way.
        options = f"-k {sockets} -p {port} -c listen_addresses='' -c max_connections=400 -c shared_buffers=128MB"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run([*run, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
                        "-o", options, "-w", "-t", "60", "start"], check=True, capture_output=True, text=True,
                       cwd=base)
        return cls(base=base, socket_dir=sockets, port=port)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database; its URL."""
        import psycopg

        name = f"{prefix}{os.getpid()}_{next(self._names)}_{int(time.time() * 1000) % 100000}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self._as_user(), str(PG_BIN / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate",
                        "-w", "stop"], capture_output=True, text=True, cwd=self.base)
