"""The sender thread: drains the spool oldest first, one heartbeat at a time.

A heartbeat leaves the spool only after a 2xx. Any failure that is about the
link rather than the heartbeat (network, TLS, 5xx, a refused token, a wrong
URL: see ``delivery``) stops the drain and waits with backoff before retrying
the same heartbeat, so order is kept; new heartbeats do not shorten that
wait, a new configuration or token does (``set_delivery``). Only a heartbeat
the collector can never accept (400, 413, 415, 422) moves to ``rejected/``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from agent.daemon import logfmt
from agent.daemon.backoff import Backoff
from agent.daemon.delivery import Answer, Delivery, Outcome
from agent.daemon.spool import Spool

log = logging.getLogger(__name__)


@dataclass
class DeliveryState:
    """What ``bridge-agent status`` and STATUS= say about delivery."""

    last_delivered_seq: int | None = None
    last_delivered_at: float | None = None  # wall clock
    last_error: str | None = None  # technical: "HTTP 401: unknown or revoked token"
    last_problem: str | None = None  # in words, with what to do
    last_kind: str | None = None  # machine-readable: token_refused, not_found, network, ...
    last_status_code: int | None = None
    last_error_at: float | None = None
    failures: int = 0
    rejected: int = 0


class Sender(threading.Thread):
    def __init__(self, spool: Spool, on_change: Callable[[], None] | None = None, backoff: Backoff | None = None,
                 on_answer: Callable[[str], None] | None = None) -> None:
        super().__init__(name="sender", daemon=True)
        self.spool = spool
        # Called with the body of every 2xx answer (the collector's requests, see ``directives``).
        self._on_answer = on_answer or (lambda body: None)
        self.state = DeliveryState()
        self.backoff = backoff or Backoff()
        self._on_change = on_change or (lambda: None)
        self._delivery: Delivery | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()  # new heartbeat spooled
        self._urgent = threading.Event()  # stop or new configuration: cut a backoff wait short
        self._stopping = False

    def set_delivery(self, delivery: Delivery | None) -> None:
        """Use a new client (configuration reload); a pending backoff is cut short."""
        with self._lock:
            old, self._delivery = self._delivery, delivery
        if old is not None:
            old.close()
        self.backoff.reset()
        self._urgent.set()
        self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._urgent.set()
        self._wake.set()

    def run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            self._urgent.clear()
            delay = self._drain()
            if delay is not None:
                self._urgent.wait(delay)
                self._wake.set()  # retry after the wait even if nothing new arrived

    def _drain(self) -> float | None:
        """Send until the spool is empty (None) or a retryable failure (the wait before retrying)."""
        while not self._stopping:
            with self._lock:
                delivery = self._delivery
            if delivery is None:
                return None
            item = self.spool.oldest()
            if item is None:
                return None
            seq, body = item
            answer = delivery.send(body)
            if self._stopping:
                return None
            delay = self._handle(seq, answer)
            self._on_change()
            if delay is not None:
                return delay
        return None

    def _handle(self, seq: int, answer: Answer) -> float | None:
        state = self.state
        if answer.outcome is Outcome.DELIVERED:
            self.spool.remove(seq)
            self.backoff.reset()
            state.last_delivered_seq, state.last_delivered_at = seq, time.time()
            state.failures = 0
            logfmt.event(log, "heartbeat.delivered", seq=seq, spool_depth=self.spool.depth)
            self._on_answer(answer.body)
            return None
        state.last_error, state.last_error_at = answer.detail, time.time()
        state.last_problem, state.last_kind, state.last_status_code = answer.problem, answer.kind, answer.status_code
        if answer.outcome is Outcome.REJECTED:
            self.spool.reject(seq, answer.detail)
            state.rejected += 1
            logfmt.event(log, "heartbeat.rejected", logging.ERROR, seq=seq, reason=answer.detail,
                         kept_in=str(self.spool.rejected_dir), problem=answer.problem)
            return None
        state.failures += 1
        delay = self.backoff.next_delay()
        if answer.retry_after_s is not None:
            delay = min(self.backoff.cap, max(delay, answer.retry_after_s))
        logfmt.event(log, "heartbeat.retry", logging.WARNING, seq=seq, kind=answer.kind, error=answer.detail,
                     attempt=state.failures, retry_in_s=round(delay, 1), spool_depth=self.spool.depth,
                     problem=answer.problem)
        return delay
