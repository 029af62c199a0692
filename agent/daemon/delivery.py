"""Posting one heartbeat to the collector, and what the answer means for it.

TLS is always verified: against the system trust store, or ``central.ca_file``
for a private CA; ``client_cert``/``client_key`` add mutual TLS. The token is
sent as a bearer header and appears in no message: errors are built from the
status code, the collector's reason and the exception type only.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import httpx

from agent import __version__
from agent.config import AgentConfig, read_token
from agent.output import printable

log = logging.getLogger(__name__)

# Client mistakes that will never succeed when repeated; 408 and 429 are "later".
RETRYABLE_4XX = {408, 429}
REASON_MAX = 500


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    detail: str
    status_code: int | None = None
    retry_after_s: float | None = None


def classify(status_code: int, body: str, retry_after: str | None = None) -> Answer:
    """Pure: the collector's HTTP answer → delivered, retry later, or rejected for good."""
    reason = " ".join(printable(body).split())[:REASON_MAX]
    if 200 <= status_code < 300:
        return Answer(Outcome.DELIVERED, f"HTTP {status_code}", status_code)
    if 400 <= status_code < 500 and status_code not in RETRYABLE_4XX:
        return Answer(Outcome.REJECTED, f"HTTP {status_code}: {reason}", status_code)
    wait = None
    if retry_after and retry_after.strip().isdigit():
        wait = float(retry_after.strip())
    return Answer(Outcome.RETRY, f"HTTP {status_code}: {reason}", status_code, wait)


class Delivery:
    """An HTTP client bound to one configuration (rebuilt on reload)."""

    def __init__(self, config: AgentConfig) -> None:
        central = config.central
        if central.url is None:
            raise ValueError("central.url is required for delivery")
        self.url = central.url
        verify: str | bool = str(central.ca_file) if central.ca_file else True
        cert = (str(central.client_cert), str(central.client_key)) if central.client_cert else None
        self._client = httpx.Client(
            verify=verify,
            cert=cert,
            timeout=central.timeout_s,
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment must not see the token
            headers={
                "Authorization": f"Bearer {read_token(central.token_file)}",
                "Content-Type": "application/json",
                "User-Agent": f"bridge-agent/{__version__}",
            },
        )

    def send(self, body: bytes) -> Answer:
        try:
            response = self._client.post(self.url, content=body)
        except httpx.HTTPError as err:
            return Answer(Outcome.RETRY, f"{type(err).__name__}: {_short(err)}")
        except OSError as err:  # e.g. an unreadable CA file raised at connect time
            return Answer(Outcome.RETRY, f"{type(err).__name__}: {err.strerror or err}")
        return classify(response.status_code, response.text, response.headers.get("Retry-After"))

    def close(self) -> None:
        self._client.close()


def _short(err: Exception) -> str:
    text = " ".join(printable(str(err)).split()) or type(err).__name__
    return text[:REASON_MAX]
