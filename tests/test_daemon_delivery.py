"""Delivery against a real HTTP(S) server on [::1]: answers, TLS verification, mTLS, the token."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from agent.config import load_config
from agent.daemon.delivery import Delivery, Outcome, classify
from agent.daemon.spool import Spool
from agent.daemon.sender import Sender
from agent.daemon.backoff import Backoff
from tests.daemon_helpers import make_pki, server_tls, start_sink, write_config


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(200, Outcome.DELIVERED), (201, Outcome.DELIVERED), (204, Outcome.DELIVERED),
     (400, Outcome.REJECTED), (401, Outcome.REJECTED), (403, Outcome.REJECTED), (413, Outcome.REJECTED),
     (415, Outcome.REJECTED), (422, Outcome.REJECTED), (408, Outcome.RETRY), (429, Outcome.RETRY),
     (500, Outcome.RETRY), (502, Outcome.RETRY), (503, Outcome.RETRY), (301, Outcome.RETRY)],
)
def test_classify(code: int, outcome: Outcome) -> None:
    assert classify(code, "reason").outcome is outcome


def test_retry_after_is_read() -> None:
    assert classify(429, "", "30").retry_after_s == 30.0
    assert classify(503, "", "Wed, 21 Oct 2015 07:28:00 GMT").retry_after_s is None


def test_backoff_grows_from_1s_to_5min_with_jitter() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(15)]
    assert delays[0] == 1.0
    assert 1.5 <= delays[1] <= 2.0 and 3.0 <= delays[2] <= 4.0
    assert all(225.0 <= d <= 300.0 for d in delays[10:])
    assert len({round(d, 6) for d in delays[10:]}) > 1  # jittered, not in lockstep
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_posts_body_with_bearer_token(tmp_path: Path) -> None:
    sink = start_sink()
    try:
        config = load_config(write_config(tmp_path, sink.url), explicit=True)
        delivery = Delivery(config)
        answer = delivery.send(b'{"seq": 1}')
        delivery.close()
    finally:
        sink.stop()
    assert answer.outcome is Outcome.DELIVERED
    request = sink.requests[0]
    assert request["body"] == b'{"seq": 1}'
    assert request["headers"]["Authorization"] == "Bearer t0k3n-secret-value"
    assert request["headers"]["Content-Type"] == "application/json"


def test_connection_refused_is_retry_without_token(tmp_path: Path) -> None:
    sink = start_sink()
    url = sink.url
    sink.stop()
    config = load_config(write_config(tmp_path, url), explicit=True)
    answer = Delivery(config).send(b"{}")
    assert answer.outcome is Outcome.RETRY
    assert "ConnectError" in answer.detail and "t0k3n" not in answer.detail


def test_tls_is_verified_private_ca_and_mutual_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    sink = start_sink(tls=server_tls(pki, require_client=True))
    try:
        base = load_config(write_config(tmp_path, sink.url), explicit=True)
        # System trust store only: the private CA is not trusted, nothing is sent.
        untrusted = Delivery(base).send(b"{}")
        assert untrusted.outcome is Outcome.RETRY
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.detail or "certificate verify failed" in untrusted.detail
        central = dataclasses.replace(base.central, ca_file=pki.ca)
        # CA trusted but no client certificate: the server refuses the handshake.
        no_client = Delivery(dataclasses.replace(base, central=central)).send(b"{}")
        assert no_client.outcome is Outcome.RETRY
        central = dataclasses.replace(central, client_cert=pki.client_cert, client_key=pki.client_key)
        ok = Delivery(dataclasses.replace(base, central=central)).send(b'{"seq": 1}')
        assert ok.outcome is Outcome.DELIVERED, ok.detail
    finally:
        sink.stop()
    assert [r["body"] for r in sink.requests] == [b'{"seq": 1}']


def test_sender_drains_in_order_rejects_and_retries(tmp_path: Path) -> None:
    sink = start_sink()
    sink.script.extend([200, 422, 503, 200, 200])
    spool = Spool(tmp_path / "spool", 100, 10**6)
    for seq in (1, 2, 3, 4):
        spool.put(seq, f'{{"seq": {seq}}}'.encode())
    sender = Sender(spool, backoff=Backoff(base=0.05, cap=0.2))
    try:
        sender.set_delivery(Delivery(load_config(write_config(tmp_path, sink.url), explicit=True)))
        sender.start()
        for _ in range(100):
            if spool.depth == 0 and len(sink.requests) >= 5:
                break
            time.sleep(0.05)
    finally:
        sender.stop()
        sink.stop()
    sent = [b["seq"] for b in sink.bodies()]
    assert sent == [1, 2, 3, 3, 4]  # 2 rejected for good, 3 retried after the 503, order kept
    assert spool.depth == 0
    assert (tmp_path / "spool" / "rejected" / f"{2:016d}.reason").read_text().startswith("HTTP 422")
    assert sender.state.last_delivered_seq == 4 and sender.state.rejected == 1
