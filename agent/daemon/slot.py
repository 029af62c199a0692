"""Ask the collector for a bandwidth test slot (``POST /api/v1/probe/slot``) and give it back.

The collector grants at most ``--probe-slots`` tests at once per responder, so rooms
restarted together (a city-wide power cut) queue instead of all failing as "busy".
Three outcomes, told apart by ``Slot.kind``:

- ``granted``: run the test now, then release the lease (it expires anyway);
- ``refused``: wait ``wait_s`` and ask again: the responder is in use, not a failure;
- ``no_answer``: unreachable, or a collector without the endpoint: the agent falls
  back to its own schedule, after a long random delay (see ``Service``).

Nothing in the answer is executed or used beyond these fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from agent.config import AgentConfig, ProbeTarget
from agent.net.iperf3 import IPERF3_PORT

GRANTED = "granted"
REFUSED = "refused"
NO_ANSWER = "no_answer"
MAX_WAIT_S = 3600.0  # a collector's wait longer than this is taken as this
MIN_WAIT_S = 1.0


@dataclass(frozen=True)
class Slot:
    kind: str
    lease: str | None = None
    wait_s: float = 0.0
    detail: str = ""


def slot_url(central_url: str) -> str:
    """Pure: the slot endpoint beside the heartbeat one (``.../api/v1/heartbeat`` -> ``.../api/v1/probe/slot``)."""
    return urljoin(central_url, "probe/slot")


def responder_name(config: AgentConfig, target: ProbeTarget) -> str:
    """Pure: the responder as every room configured alike names it: host and the port measured against."""
    port = IPERF3_PORT if config.probe.mode == "iperf3" else target.http_port
    host = target.host.strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_slot_answer(status_code: int, body: str) -> Slot:
    """Pure: the collector's answer; anything but a well-formed 200 is ``no_answer``."""
    if status_code != 200:
        return Slot(NO_ANSWER, detail=f"HTTP {status_code}")
    try:
        doc = json.loads(body)
    except ValueError:
        return Slot(NO_ANSWER, detail="answer is not JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("granted"), bool):
        return Slot(NO_ANSWER, detail="answer without a granted flag")
    if doc["granted"]:
        lease = doc.get("lease")
        return Slot(GRANTED, lease=lease if isinstance(lease, str) and len(lease) <= 100 else None)
    wait = doc.get("retry_after_s")
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait != wait:
        wait = MIN_WAIT_S
    return Slot(REFUSED, wait_s=min(MAX_WAIT_S, max(MIN_WAIT_S, float(wait))))


def _client(config: AgentConfig, token: str) -> httpx.Client:
    central = config.central
    return httpx.Client(
        verify=str(central.ca_file) if central.ca_file else True,
        cert=(str(central.client_cert), str(central.client_key)) if central.client_cert else None,
        timeout=central.timeout_s,
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment must not see the token
        headers={"Authorization": f"Bearer {token}"},
    )


def ask_slot(config: AgentConfig, token: str, target: ProbeTarget) -> Slot:
    """One request for a slot covering upload and download of ``probe.duration_s`` each."""
    if not config.central.url:
        return Slot(NO_ANSWER, detail="no central.url")
    body = {"responder": responder_name(config, target), "duration_s": config.probe.duration_s}
    try:
        with _client(config, token) as client:
            response = client.post(slot_url(config.central.url), json=body)
    except (httpx.HTTPError, OSError) as err:
        return Slot(NO_ANSWER, detail=f"{type(err).__name__}: {err}")
    return parse_slot_answer(response.status_code, response.text)


def release_slot(config: AgentConfig, token: str, lease: str) -> bool:
    """Give the slot back now that the test is over; False if that failed (the lease expires)."""
    if not config.central.url:
        return False
    try:
        with _client(config, token) as client:
            return client.delete(slot_url(config.central.url) + "/" + lease).status_code == 200
    except (httpx.HTTPError, OSError):
        return False
