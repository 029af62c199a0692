"""Shared test helpers: run the real ``bridge-agent`` command and write config files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_agent(*args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None) -> Completed:
    """Run ``python -m agent ARGS`` as a real process, as a technician would run bridge-agent."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("BRIDGE_AGENT_CONFIG", "NO_COLOR")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd or REPO,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root for {what}; CI runs as root")


@pytest.fixture
def enrolled_config(tmp_path: Path) -> Path:
    """A complete, valid configuration with a token file, in a temp dir."""
    token = tmp_path / "token"
    token.write_text("s3cr3t-token-value\n")
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[room]
id = "hn-test-1"
name = "Phòng họp thử"
unit = "UBND phường Thử"

[central]
url = "https://collector.example.vn/api/v1/heartbeat"
token_file = "{token}"

[mcu]
host = "2001:db8::10"

[agent]
state_dir = "{tmp_path / 'state'}"
runtime_dir = "{tmp_path / 'run'}"
"""
    )
    return config


# ---- the collector's two stores: every test_collector_* test runs on SQLite and on PostgreSQL ----

# BRIDGE_TEST_STORES=sqlite runs the collector tests on SQLite only (a quicker local run).
STORES = tuple(os.environ.get("BRIDGE_TEST_STORES", "sqlite,postgresql").split(","))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Collector test modules run once per store, unless marked sqlite_only (the file itself) or
    one_store (a browser page, TLS: the store's part of it runs on both in the API tests)."""
    module = metafunc.module.__name__.rpartition(".")[2]
    if "store_backend" not in metafunc.fixturenames or not module.startswith("test_collector_"):
        return
    if metafunc.definition.get_closest_marker("sqlite_only") or metafunc.definition.get_closest_marker("one_store"):
        return
    if "tmp_path" not in metafunc.fixturenames and "module_store" not in metafunc.fixturenames:
        return  # no directory and no module store: a pure test, it has no database to run on
    if "module_store" in metafunc.fixturenames:
        # One collector for the whole module (a module-scoped fixture): one per store.
        metafunc.parametrize("module_store", STORES, indirect=True, scope="module")
        return
    metafunc.parametrize("store_backend", STORES, indirect=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator["object"]:
    """One PostgreSQL 15 cluster for the whole run (tests/pg_cluster.py); skips when not installed."""
    from tests.pg_cluster import PgCluster, missing

    reason = missing()
    if reason:
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="bridge-pg-"))
    cluster = PgCluster.start(base)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """"sqlite" or "postgresql"; on PostgreSQL running_collector gets a fresh database of the cluster."""
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        from tests import collector_helpers

        cluster = request.getfixturevalue("pg_cluster")
        # Made when the test first asks for its database (collector_helpers.collector_db).
        monkeypatch.setattr(collector_helpers, "STORE_URL", cluster.new_database)  # type: ignore[attr-defined]
    return backend


@pytest.fixture(scope="module")
def module_store(request: pytest.FixtureRequest) -> str | None:
    """For a module-scoped collector: its ``--db`` (a fresh PostgreSQL database), None for SQLite."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("pg_cluster").new_database()
    return None
