"""Text from the network reaches no terminal and no log line with its control characters.

SIP reason phrases, the collector's HTTP error text and room names are written by
someone else; an escape sequence in them must not drive the technician's terminal,
a carriage return must not overwrite a line, a line break must not forge a log line.
"""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from agent.checks.mcu_sip import assess_sip
from agent.net.sip import parse_sip_uri, sip_options
from agent.output import format_result, printable
from collector import logs as collector_logs
from tests.sample import heartbeat
from tests.collector_helpers import run_collector, running_collector
from tests.daemon_helpers import Agent, _V6Server, wait_for, write_config

# Anything a terminal or a log reader would act on: ESC (CSI, OSC), BEL, CR, LF, C1 CSI, DEL, RLO.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
EVIL = "OK\x1b]0;owned\x07\x1b[2J\rforged\x9b1m\u202eevil\x7f"
SIP_EVIL = EVIL.replace("\r", "")  # a bare CR ends a SIP status line (not a response then)

CASES = [
    ("Not Found", "Not Found"),
    ("OK\x1b[2J", "OK [2J"),
    ("a\r\nts=x level=error", "a ts=x level=error"),
    ("\x07\x00bell", "bell"),
    ("Phòng họp\u202e số 1", "Phòng họp số 1"),
    ("tab\there", "tab here"),
    ("", ""),
]


@pytest.mark.parametrize("clean", [printable, collector_logs.printable], ids=["agent", "collector"])
@pytest.mark.parametrize("given, expected", CASES)
def test_printable_agent_and_collector_agree(clean: Callable[[str], str], given: str, expected: str) -> None:
    assert clean(given) == expected


@pytest.fixture
def sip_responder() -> Iterator[int]:
    """A real SIP stack on [::1] whose 200 carries control characters in its reason phrase."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    sock.settimeout(5)

    def answer() -> None:
        try:
            data, peer = sock.recvfrom(65535)
        except OSError:
            return
        call_id = re.search(rb"Call-ID: (\S+)", data).group(1)  # type: ignore[union-attr]
        sock.sendto(f"SIP/2.0 200 {SIP_EVIL}\r\n".encode() + b"Call-ID: " + call_id + b"\r\n\r\n", peer)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    thread.join(5)
    sock.close()


def test_a_sip_reason_loses_its_control_characters(sip_responder: int) -> None:
    outcome = sip_options(parse_sip_uri(f"sip:[::1]:{sip_responder}"), "::1", timeout=3)
    assert outcome.ok and outcome.status == 200
    assert not CONTROL.search(outcome.reason) and "owned" in outcome.reason and "forged" in outcome.reason
    result = assess_sip(outcome)
    assert not CONTROL.search(result.summary)
    line = format_result(result, 10, colour=False)
    assert not CONTROL.search(line)


class _Evil(BaseHTTPRequestHandler):
    """A "collector" rejecting every heartbeat with control characters in its error text."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = f'{{"error": "bad\x1b[2J\x1b]0;{EVIL}\x07\r\nts=forged level=error event=fake"}}'.encode()
        self.send_response(422)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_collectors_error_text_reaches_the_agents_log_without_control_characters(tmp_path: Path) -> None:
    server = _V6Server(("::1", 0), _Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://[::1]:{server.server_address[1]}/api/v1/heartbeat"
        agent = Agent(write_config(tmp_path, url))
        try:
            wait_for(lambda: "event=heartbeat.rejected" in agent.log, 30, what="a rejected heartbeat")
        finally:
            agent.terminate()
    finally:
        server.shutdown()
        server.server_close()
    log = agent.log
    assert "forged" in log  # the text arrived ...
    assert "\x1b" not in log and "\x07" not in log and "\r" not in log and "\u202e" not in log  # ... defused
    assert not any(line.startswith("ts=forged") for line in log.splitlines())


def test_a_room_name_sent_by_an_agent_is_listed_without_control_characters(tmp_path: Path) -> None:
    with running_collector(tmp_path, rooms=("evil-1",)) as c:
        body = heartbeat("evil-1", 1, name=f"Phòng {EVIL}", unit="UBND\x1b[31m quận")
        r = httpx.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens['evil-1']}"})
        assert r.status_code == 200, r.text
    listing = run_collector("--db", str(c.db), "room", "list")
    assert listing.returncode == 0 and "evil-1" in listing.stdout and "forged" in listing.stdout
    assert not CONTROL.search(listing.stdout.replace("\n", ""))
