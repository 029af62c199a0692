"""Posting one heartbeat to the collector, and what the answer means for it.

Only a heartbeat the collector can never accept (400, 413, 415, 422: the body
itself is wrong) is set aside; every other failure (a refused token, a wrong
URL, an overloaded or broken collector, the network) is about the link, not
the heartbeat, so it stays spooled and is retried with backoff until the
cause is fixed. Each answer carries a machine-readable ``kind`` and, for a
failure, a ``problem`` in words for the technician.

TLS is always verified: against the system trust store, or ``central.ca_file``
for a private CA; ``client_cert``/``client_key`` add mutual TLS. The token is
sent as a bearer header and appears in no message: errors are built from the
status code, the collector's reason and the exception type only.
"""

from __future__ import annotations

import dataclasses

import enum
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from agent import __version__
from agent.config import DEFAULT_TOKEN_PATH, AgentConfig, read_token
from agent.daemon.logfmt import safe_url
from agent.output import printable

log = logging.getLogger(__name__)

# The body is wrong: sending the same bytes again can never succeed.
REJECTED_FOR_GOOD = frozenset({400, 413, 415, 422})
REASON_MAX = 500
MAX_ANSWER_BODY = 64 * 1024  # a 2xx body longer than this is cut (and then not valid JSON: ignored)


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Target:
    """Where heartbeats go, as the words of a diagnosis name it (nothing secret)."""

    url: str
    token_file: Path = DEFAULT_TOKEN_PATH
    room_id: str | None = None

    @classmethod
    def of(cls, config: AgentConfig) -> Target:
        return cls(safe_url(config.central.url or ""), config.central.token_file, config.room.id)


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    detail: str  # technical: "HTTP 401: unknown or revoked token"
    status_code: int | None = None
    retry_after_s: float | None = None
    kind: str = "delivered"  # delivered, rejected, token_refused, wrong_room, not_found, ..., network, tls
    problem: str | None = None  # what is wrong and what to do, in words
    body: str = ""  # a 2xx answer's body: what the collector asks of the room (``directives``)


def _reason(body: str) -> tuple[str, str | None]:
    """The collector's message and reason code from its JSON error body (pure).

    Whatever answers (a proxy's page too) is text from the network: control characters
    are stripped before it can reach a terminal or a log line.
    """
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        code = doc.get("reason") if isinstance(doc.get("reason"), str) else None
        code = printable(code)[:64] if code else None
        return " ".join(printable(doc["error"]).split())[:REASON_MAX], code
    return " ".join(printable(body).split())[:REASON_MAX], None


def _retry_after(value: str | None) -> float | None:
    value = (value or "").strip()
    return float(value) if value.isdigit() else None


def classify(status_code: int, body: str, retry_after: str | None = None, target: Target | None = None) -> Answer:
    """Pure: the collector's HTTP answer → delivered, retry later, or rejected for good."""
    target = target or Target("central.url")
    message, reason = _reason(body)
    detail = f"HTTP {status_code}: {message}" if message else f"HTTP {status_code}"
    if 200 <= status_code < 300:
        return Answer(Outcome.DELIVERED, f"HTTP {status_code}", status_code, body=body[:MAX_ANSWER_BODY])
    if status_code in REJECTED_FOR_GOOD:
        return Answer(Outcome.REJECTED, detail, status_code, kind="rejected",
                      problem=f"the collector can never accept this heartbeat ({detail}); it is kept aside in the"
                              " spool's rejected/ directory and the next ones are sent")
    kind, problem = _link_problem(status_code, reason, detail, target)
    return Answer(Outcome.RETRY, detail, status_code, _retry_after(retry_after), kind, problem)


def _link_problem(code: int, reason: str | None, detail: str, target: Target) -> tuple[str, str]:
    """Why the collector did not take a heartbeat it could accept, in words (pure)."""
    keep = "; the heartbeats wait in the spool"
    if code == 403 and reason == "wrong_room":
        return "wrong_room", (f"the token in {target.token_file} belongs to another room, not {target.room_id}:"
                              f" write this room's token to {target.token_file} (or correct room.id){keep}")
    if code in (401, 403):
        return "token_refused", (f"the collector refuses this room's token ({detail}): re-enrol the room and"
                                 f" write the new token to {target.token_file}{keep}")
    if code == 404:
        return "not_found", f"the collector answers 404 at {target.url}: check central.url (a proxy in between?){keep}"
    if code == 421:
        return "misdirected", (f"the server at {target.url} answers 421 (misdirected request): it does not serve that"
                               f" name; check central.url and any proxy or TLS front-end in between{keep}")
    if code == 408:
        return "timeout", f"the collector gave up waiting for the heartbeat (408): slow or lossy link{keep}"
    if code == 429:
        return "throttled", f"the collector asks the agent to slow down (429){keep}"
    if 500 <= code < 600:
        return "server_error", f"the collector has a problem on its side ({detail}): nothing to fix in the room{keep}"
    if 300 <= code < 400:
        return "redirect", (f"the collector answers {code} (a redirect) at {target.url}: set central.url to the"
                            f" address it redirects to{keep}")
    return "http_error", f"the collector answers {detail} at {target.url}: check central.url{keep}"


def classify_error(err: Exception, target: Target, timeout_s: float | None = None) -> Answer:
    """Pure: no HTTP answer at all (network, TLS, timeout) → retry, with the cause in words."""
    if isinstance(err, OSError):
        text = printable(err.strerror or str(err))  # e.g. an unreadable CA file raised at connect time
    else:
        text = " ".join(printable(str(err)).split()) or type(err).__name__
    detail = f"{type(err).__name__}: {text[:REASON_MAX]}"
    keep = "; the heartbeats wait in the spool"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        kind, problem = "tls", (f"the collector's TLS certificate is not trusted ({detail}): set central.ca_file to"
                                f" the CA that signed it, or check the room's clock{keep}")
    elif "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        kind, problem = "tls", (f"the server at {target.url} does not answer TLS ({detail}): use http:// or the"
                                f" collector's TLS port in central.url{keep}")
    elif "SSL" in text or "TLS" in text:
        kind, problem = "tls", (f"the TLS handshake with {target.url} failed ({detail}): check central.ca_file,"
                                f" central.client_cert and central.client_key{keep}")
    elif isinstance(err, httpx.TimeoutException):
        within = f" within central.timeout_s = {timeout_s:g} s" if timeout_s else ""
        kind, problem = "network", f"the collector at {target.url} did not answer{within} ({detail}){keep}"
    else:
        kind, problem = "network", (f"cannot reach the collector at {target.url} ({detail}): check the network,"
                                    f" DNS and central.url{keep}")
    return Answer(Outcome.RETRY, detail, kind=kind, problem=problem)


class Delivery:
    """An HTTP client bound to one configuration and token (rebuilt on reload)."""

    def __init__(self, config: AgentConfig, token: str | None = None) -> None:
        central = config.central
        if central.url is None:
            raise ValueError("central.url is required for delivery")
        # Several collectors on one database: the same heartbeat (same agent_instance and seq)
        # may go to any of them, the database keeps it once. The one that answered last is
        # tried first; the others only when it does not answer (retry outcomes).
        self.urls = central.urls
        self._current = 0
        self._targets = [dataclasses.replace(Target.of(config), url=safe_url(u)) for u in self.urls]
        self._timeout_s = central.timeout_s
        verify: str | bool = str(central.ca_file) if central.ca_file else True
        cert = (str(central.client_cert), str(central.client_key)) if central.client_cert else None
        self._client = httpx.Client(
            verify=verify,
            cert=cert,
            timeout=central.timeout_s,
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment must not see the token
            headers={
                "Authorization": f"Bearer {token if token is not None else read_token(central.token_file)}",
                "Content-Type": "application/json",
                "User-Agent": f"bridge-agent/{__version__}",
            },
        )

    @property
    def url(self) -> str:
        """The collector URL tried first now."""
        return self.urls[self._current]

    @property
    def target(self) -> Target:
        return self._targets[self._current]

    def send(self, body: bytes) -> Answer:
        """POST to the current collector; on a retry outcome, to each other one in turn."""
        answer = self._send_to(self._current, body)
        for step in range(1, len(self.urls)):
            if answer.outcome is not Outcome.RETRY:
                break
            index = (self._current + step) % len(self.urls)
            other = self._send_to(index, body)
            if other.outcome is not Outcome.RETRY:
                self._current = index  # stay with the collector that answered
                return other
        return answer  # none answered: the diagnosis names the collector tried first

    def _send_to(self, index: int, body: bytes) -> Answer:
        target = self._targets[index]
        try:
            response = self._client.post(self.urls[index], content=body)
        except (httpx.HTTPError, OSError) as err:
            return classify_error(err, target, self._timeout_s)
        return classify(response.status_code, response.text, response.headers.get("Retry-After"), target)

    def close(self) -> None:
        self._client.close()
