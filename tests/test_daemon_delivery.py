"""Delivery against a real HTTP(S) server on [::1]: answers, TLS verification, mTLS, the token."""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

import pytest

from agent.config import load_config
from agent.daemon.delivery import Delivery, Outcome, Target, classify
from agent.daemon.spool import Spool
from agent.daemon.sender import Sender
from agent.daemon.backoff import Backoff
from tests.daemon_helpers import make_pki, server_tls, start_sink, write_config


TARGET = Target("https://collector.example.vn/api/v1/heartbeat", Path("/etc/bridge-agent/token"), "hn-1")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(200, Outcome.DELIVERED), (201, Outcome.DELIVERED), (204, Outcome.DELIVERED),
     (400, Outcome.REJECTED), (413, Outcome.REJECTED), (415, Outcome.REJECTED), (422, Outcome.REJECTED),
     (401, Outcome.RETRY), (403, Outcome.RETRY), (404, Outcome.RETRY), (405, Outcome.RETRY),
     (408, Outcome.RETRY), (421, Outcome.RETRY), (429, Outcome.RETRY),
     (500, Outcome.RETRY), (502, Outcome.RETRY), (503, Outcome.RETRY), (301, Outcome.RETRY)],
)
def test_classify(code: int, outcome: Outcome) -> None:
    answer = classify(code, "reason", target=TARGET)
    assert answer.outcome is outcome
    assert (answer.problem is None) == (outcome is Outcome.DELIVERED)


# (status, the collector's body, kind, words the technician must read)
WORDS = [
    (401, '{"error": "unknown or revoked token (Authorization: Bearer TOKEN)", "reason": "unauthorized"}',
     "token_refused", "the collector refuses this room's token (HTTP 401: unknown or revoked token"
     " (Authorization: Bearer TOKEN)): re-enrol the room and write the new token to /etc/bridge-agent/token"),
    (403, '{"error": "this token belongs to another room", "reason": "wrong_room", "path": "room_id"}',
     "wrong_room", "the token in /etc/bridge-agent/token belongs to another room, not hn-1"),
    (403, "Forbidden", "token_refused", "refuses this room's token (HTTP 403: Forbidden)"),
    (404, "<html>Not Found</html>", "not_found",
     "the collector answers 404 at https://collector.example.vn/api/v1/heartbeat: check central.url"
     " (a proxy in between?)"),
    (421, "", "misdirected", "answers 421 (misdirected request)"),
    (408, "", "timeout", "gave up waiting"),
    (429, "", "throttled", "slow down"),
    (500, "Internal Server Error", "server_error", "a problem on its side (HTTP 500: Internal Server Error)"),
    (503, '{"error": "storage unavailable, retry later"}', "server_error", "HTTP 503: storage unavailable"),
    (422, '{"error": "checks[2].status: not one of ok, warn", "reason": "schema", "path": "checks[2].status"}',
     "rejected", "can never accept this heartbeat (HTTP 422: checks[2].status: not one of ok, warn)"),
    (413, "", "rejected", "can never accept this heartbeat (HTTP 413)"),
]


@pytest.mark.parametrize(("code", "body", "kind", "words"), WORDS, ids=[f"{w[0]}-{w[2]}" for w in WORDS])
def test_classify_says_in_words_what_is_wrong(code: int, body: str, kind: str, words: str) -> None:
    answer = classify(code, body, target=TARGET)
    assert answer.kind == kind
    assert answer.problem is not None and words in answer.problem, answer.problem
    assert answer.status_code == code and str(code) in answer.detail


def test_a_link_problem_keeps_the_heartbeats() -> None:
    for code in (401, 403, 404, 421, 500):
        assert "the heartbeats wait in the spool" in (classify(code, "", target=TARGET).problem or "")


def test_retry_after_is_read() -> None:
    assert classify(429, "", "30").retry_after_s == 30.0
    assert classify(503, "", "Wed, 21 Oct 2015 07:28:00 GMT").retry_after_s is None


def test_backoff_full_jitter_bounded_capped_and_spread() -> None:
    backoff = Backoff(rng=random.Random(20261202))
    runs = []
    for _ in range(2000):
        backoff.reset()
        runs.append([backoff.next_delay() for _ in range(15)])
    for attempt in range(15):
        bound = min(300.0, 2.0 ** attempt)
        delays = [run[attempt] for run in runs]
        # Never below the floor (no busy loop), never above min(cap, base·2^n).
        assert all(0.5 <= d <= max(0.5, bound) for d in delays), (attempt, min(delays), max(delays))
        if bound >= 8:
            # Full jitter: spread over the whole window, not bunched at its top.
            assert min(delays) < 0.1 * bound and max(delays) > 0.9 * bound
            mean = sum(delays) / len(delays)
            assert 0.45 * bound <= mean <= 0.55 * bound, (attempt, mean)
    assert max(max(run) for run in runs) <= 300.0
    backoff.reset()
    assert backoff.failures == 0 and backoff.next_delay() <= 1.0


def test_backoff_floor_holds_for_a_tiny_base() -> None:
    backoff = Backoff(base=0.001, cap=0.01, floor=0.005, rng=random.Random(1))
    assert all(0.005 <= backoff.next_delay() <= 0.01 for _ in range(100))


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
    assert answer.kind == "network" and f"cannot reach the collector at {url}" in (answer.problem or "")
    assert "t0k3n" not in (answer.problem or "")


def test_https_to_a_plain_http_collector_says_so(tmp_path: Path) -> None:
    sink = start_sink()
    try:
        url = sink.url.replace("http://", "https://")
        answer = Delivery(load_config(write_config(tmp_path, url), explicit=True)).send(b"{}")
    finally:
        sink.stop()
    assert answer.outcome is Outcome.RETRY and answer.kind == "tls"
    assert f"the server at {url} does not answer TLS" in (answer.problem or ""), answer.problem


def test_tls_is_verified_private_ca_and_mutual_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    sink = start_sink(tls=server_tls(pki, require_client=True))
    try:
        base = load_config(write_config(tmp_path, sink.url), explicit=True)
        # System trust store only: the private CA is not trusted, nothing is sent.
        untrusted = Delivery(base).send(b"{}")
        assert untrusted.outcome is Outcome.RETRY
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.detail or "certificate verify failed" in untrusted.detail
        assert untrusted.kind == "tls" and "set central.ca_file" in (untrusted.problem or "")
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
    sender = Sender(spool, backoff=Backoff(base=0.05, cap=0.2, floor=0.02))
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


def test_sender_keeps_heartbeats_through_token_and_url_trouble(tmp_path: Path) -> None:
    sink = start_sink()
    sink.script.extend([401, 403, 404, 421, 429, 500, 200, 200, 200])
    spool = Spool(tmp_path / "spool", 100, 10**6)
    for seq in (1, 2, 3):
        spool.put(seq, f'{{"seq": {seq}}}'.encode())
    sender = Sender(spool, backoff=Backoff(base=0.02, cap=0.05, floor=0.01))
    try:
        sender.set_delivery(Delivery(load_config(write_config(tmp_path, sink.url), explicit=True)))
        sender.start()
        for _ in range(200):
            if spool.depth == 0:
                break
            time.sleep(0.02)
    finally:
        sender.stop()
        sink.stop()
    assert [b["seq"] for b in sink.bodies()] == [1, 1, 1, 1, 1, 1, 1, 2, 3]
    assert spool.depth == 0 and spool.rejected == 0 and sender.state.rejected == 0
    assert not list((tmp_path / "spool" / "rejected").iterdir())
    assert sender.state.last_kind == "server_error" and sender.state.failures == 0


def test_set_delivery_cuts_a_long_backoff_short(tmp_path: Path) -> None:
    """A corrected token (a new Delivery) is used at once, not after the 5-minute wait."""
    sink = start_sink(default=401)
    spool = Spool(tmp_path / "spool", 100, 10**6)
    spool.put(1, b'{"seq": 1}')
    sender = Sender(spool, backoff=Backoff(base=300, cap=300, floor=300))
    config = load_config(write_config(tmp_path, sink.url), explicit=True)
    try:
        sender.set_delivery(Delivery(config, token="wrong"))
        sender.start()
        for _ in range(100):
            if sender.state.failures:
                break
            time.sleep(0.02)
        assert sender.state.last_kind == "token_refused"
        assert str(tmp_path / "token") in (sender.state.last_problem or "")
        sink.default = 200
        started = time.monotonic()
        sender.set_delivery(Delivery(config, token="right"))
        for _ in range(100):
            if spool.depth == 0:
                break
            time.sleep(0.02)
        took = time.monotonic() - started
    finally:
        sender.stop()
        sink.stop()
    assert spool.depth == 0 and took < 2, took
    assert [r["headers"]["Authorization"] for r in sink.requests] == ["Bearer wrong", "Bearer right"]


def test_a_list_of_collectors_fails_over_and_stays_with_the_one_that_answers(tmp_path: Path) -> None:
    from tests.collector_helpers import free_port

    busy, good = start_sink(503), start_sink(200)
    dead = f"http://[::1]:{free_port()}/api/v1/heartbeat"  # nobody listens: connection refused
    try:
        path = write_config(tmp_path, busy.url)
        path.write_text(path.read_text().replace(f'url = "{busy.url}"', f'url = ["{dead}", "{busy.url}", "{good.url}"]'))
        delivery = Delivery(load_config(path, explicit=True))
        assert delivery.url == dead
        body = b'{"seq": 1}'
        assert delivery.send(body).outcome is Outcome.DELIVERED
        assert delivery.url == good.url and len(busy.requests) == 1 and len(good.requests) == 1
        assert delivery.send(b'{"seq": 2}').outcome is Outcome.DELIVERED  # straight to the one that answered
        assert len(busy.requests) == 1 and len(good.requests) == 2
        good.default = 503
        answer = delivery.send(b'{"seq": 3}')  # nobody takes it: retried later, the same body
        assert answer.outcome is Outcome.RETRY and answer.status_code == 503  # the one tried first answered so
        busy.default = 200
        assert delivery.send(b'{"seq": 3}').outcome is Outcome.DELIVERED and delivery.url == busy.url
        assert [r["body"] for r in busy.requests] == [body, b'{"seq": 3}', b'{"seq": 3}']
        delivery.close()
    finally:
        busy.stop()
        good.stop()
