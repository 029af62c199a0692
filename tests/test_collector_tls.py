"""TLS by default: ``serve`` and ``probe-serve`` refuse plain HTTP beyond loopback, and the
real agent delivers over TLS from a test CA, with and without mutual TLS."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import httpx
import pytest

from collector.tls import ListenerTls, remind_insecure
from tests.collector_helpers import free_port, run_collector
from tests.daemon_helpers import Agent, Pki, make_pki, wait_for, write_config
from tests.test_collector_serve import serving

ROOM = "tls-room"

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make test certificates")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", [["serve"], ["probe-serve"]])
@pytest.mark.parametrize("listen", ["[::]:0", "0.0.0.0:0", "[2001:db8::1]:0"])
def test_plain_http_beyond_loopback_is_refused(tmp_path: Path, command: list[str], listen: str) -> None:
    done = run_collector("--db", str(tmp_path / "c.db"), *command, "--listen", listen, "--stamp-port", "0")
    assert done.returncode == 64, done.stderr
    assert "--tls-cert" in done.stderr and "--insecure-http" in done.stderr
    assert "in clear" in done.stderr
    assert not (tmp_path / "c.db").exists()  # refused before anything was opened


@pytest.mark.parametrize("args, words", [
    (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-client-ca", "/nonexistent.pem"], "--tls-client-ca needs --tls-cert"),
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key", "--insecure-http"], "contradicts"),
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "/nonexistent.pem"),
    (["--probe-max-transfers", "0"], "--probe-max-transfers"),
])
@pytest.mark.sqlite_only
def test_contradictory_or_missing_tls_files_are_usage_errors(tmp_path: Path, args: list[str], words: str) -> None:
    done = run_collector("--db", str(tmp_path / "c.db"), "serve", "--listen", "[::1]:0", "--stamp-port", "0", *args)
    assert done.returncode == 64 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.sqlite_only
def test_insecure_http_is_allowed_and_warned_about(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "log"
    with serving(["--db", str(tmp_path / "c.db"), "probe-serve", "--listen", f"[::1]:{port}", "--stamp-port", "0",
                  "--insecure-http"], f"http://[::1]:{port}/healthz", log):
        pass
    assert "--insecure-http: serving plain HTTP on [::1]:" in log.read_text()


def test_the_insecure_reminder_repeats_until_stopped(caplog: pytest.LogCaptureFixture) -> None:
    assert remind_insecure("[::]:8443", ListenerTls()) is None  # TLS or loopback: nothing to remind
    with caplog.at_level(logging.WARNING, logger="collector"):
        stop = remind_insecure("[::]:8443", ListenerTls(insecure_http=True), every_s=0.05)
        assert stop is not None
        wait_for(lambda: len(caplog.records) >= 3, 5, what="three reminders")
        stop.set()
        time.sleep(0.2)
        count = len(caplog.records)
        time.sleep(0.2)
    assert len(caplog.records) == count, "stopped"
    assert all("--insecure-http: serving plain HTTP on [::]:8443" in r.getMessage() for r in caplog.records)


def _collector(tmp_path: Path, pki: Pki, *extra: str) -> tuple[list[str], str, str]:
    db = tmp_path / "c.db"
    token = run_collector("--db", str(db), "room", "add", ROOM).stdout.strip()
    port = free_port()
    args = ["--db", str(db), "serve", "--listen", f"[::1]:{port}", "--stamp-port", "0",
            "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), *extra]
    return args, f"https://[::1]:{port}", token


def _last_seq(tmp_path: Path) -> int:
    """What the collector stored, read from its database by the CLI (not the HTTP API)."""
    rooms = json.loads(run_collector("--db", str(tmp_path / "c.db"), "room", "list", "--json").stdout)["rooms"]
    return next(r["last_seq"] or 0 for r in rooms if r["room_id"] == ROOM)


def _agent(tmp_path: Path, url: str, token: str, central: str) -> Agent:
    directory = tmp_path / "agent"
    directory.mkdir(exist_ok=True)
    return Agent(write_config(directory, url + "/api/v1/heartbeat", token=token, room=ROOM, extra=central))


@pytest.mark.one_store
@needs_openssl
def test_the_agent_delivers_over_tls_from_a_test_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    args, url, token = _collector(tmp_path, pki)
    with serving(args, url + "/healthz", tmp_path / "log", verify=str(pki.ca)):
        agent = _agent(tmp_path, url, token, f'ca_file = "{pki.ca}"')
        try:
            wait_for(lambda: _last_seq(tmp_path) >= 2, 60, interval=0.5, what="heartbeats over TLS")
        finally:
            agent.terminate()
    assert token not in agent.log and token not in (tmp_path / "log").read_text()


@pytest.mark.one_store
@needs_openssl
def test_client_ca_rejects_an_agent_without_a_client_certificate_and_accepts_one_with(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    args, url, token = _collector(tmp_path, pki, "--tls-client-ca", str(pki.ca))
    with serving(args, url + "/healthz", tmp_path / "log", verify=str(pki.ca), cert=(str(pki.client_cert),
                                                                                 str(pki.client_key))):
        with pytest.raises(httpx.TransportError):  # no certificate: the handshake fails
            httpx.get(url + "/healthz", verify=str(pki.ca))
        without = _agent(tmp_path, url, token, f'ca_file = "{pki.ca}"')
        try:
            wait_for(lambda: "event=heartbeat.retry" in without.log, 60, what="the refused agent retrying")
            time.sleep(2)
            assert _last_seq(tmp_path) == 0
        finally:
            without.terminate()
        with_cert = _agent(tmp_path, url, token, f'ca_file = "{pki.ca}"\nclient_cert = "{pki.client_cert}"\n'
                                                 f'client_key = "{pki.client_key}"')
        try:
            wait_for(lambda: _last_seq(tmp_path) >= 2, 60, interval=0.5, what="heartbeats over mutual TLS")
        finally:
            with_cert.terminate()
    assert "client certificates required" in (tmp_path / "log").read_text()
