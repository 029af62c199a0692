"""Fuzzing the heartbeat endpoint: mutated bodies, headers and raw HTTP; never a 5xx.

Also checks the compiled fast path (fastjsonschema) against jsonschema on the same
mutated documents: both must agree on every one (jsonschema is the reference).
"""

from __future__ import annotations

import copy
import json
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from collector.ingest import SCHEMA_PATH, compile_fast
from tests.sample import heartbeat
from tests.collector_helpers import running_collector

SEED = 20261125
BODIES = 2500
RAW_REQUESTS = 300
TIME_BUDGET_S = 90
CLIENTS = 12

ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 1.5, -1e308, 1e308, 2**63, 2**64 + 1, -(2**63), "", "x" * 300, "ok", "fail",
    "skip", "\u0000", "đ\u200b\ufeff", "😀", "2026-11-25T10:00:00Z", [], [None], {}, {"a": {"b": []}}, "046d",
    [[[[[[[[]]]]]]]], {"name": "x", "status": "ok", "summary": "s"},
]


def mutate(doc: Any, rng: random.Random) -> Any:
    """One structural mutation somewhere in the document."""
    doc = copy.deepcopy(doc)
    containers = [doc]
    node = doc
    for _ in range(rng.randint(0, 4)):
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        children = [c for c in children if isinstance(c, (dict, list))]
        if not children:
            break
        node = rng.choice(children)
        containers.append(node)
    target = rng.choice(containers)
    action = rng.random()
    if isinstance(target, dict) and target:
        key = rng.choice(list(target))
        if action < 0.5:
            target[key] = rng.choice(ODD_VALUES)
        elif action < 0.75:
            del target[key]
        else:
            target[rng.choice(["extra", "x" * 70, "", "room_id", "seq"])] = rng.choice(ODD_VALUES)
    elif isinstance(target, list):
        if target and action < 0.5:
            target[rng.randrange(len(target))] = rng.choice(ODD_VALUES)
        else:
            target.append(rng.choice(ODD_VALUES))
    return doc


def mangle_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        pos = rng.randrange(len(data) + 1)
        if choice < 0.4 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif choice < 0.7:
            del data[pos:pos + rng.randint(1, 50)]
        else:
            data[pos:pos] = rng.choice([b"{", b"]", b'"', b"\\u", b"\xff", b"\x00", b"NaN", b"1e999", b"[" * 3000])
    return bytes(data)


def random_headers(token: str, rng: random.Random) -> dict[str, str]:
    auth = rng.choice([f"Bearer {token}"] * 6 + ["", "Bearer", f"bearer {token}", f"Basic {token}",
                                                  f"Bearer {token}x", "Bearer x y", "Negotiate abc", f"Bearer  {token}"])
    ctype = rng.choice(["application/json"] * 6 + ["application/json; charset=utf-8", "text/json", "",
                                                    "application/x-www-form-urlencoded", "APPLICATION/JSON",
                                                    "application/problem+json", "multipart/form-data; boundary=x"])
    headers = {"Authorization": auth, "Content-Type": ctype}
    if rng.random() < 0.05:
        headers["Content-Encoding"] = "gzip"
    return {k: v for k, v in headers.items() if v}


def test_fast_validator_agrees_with_jsonschema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    reference = jsonschema.validators.validator_for(schema)(schema)
    fast = compile_fast(schema)
    rng = random.Random(SEED)
    base = heartbeat("room-1", 1, status="fail", failing="probe.loss")
    agreed_invalid = 0
    for i in range(4000):
        doc = base
        for _ in range(rng.randint(1, 3)):
            doc = mutate(doc, rng)
        expected = reference.is_valid(doc)
        assert fast(doc) == expected, json.dumps(doc)[:2000]
        agreed_invalid += not expected
    assert 1000 < agreed_invalid < 4000  # the corpus has both valid and invalid documents
    assert fast(base)


@pytest.mark.parametrize("parser", ["h11", "httptools"])
def test_fuzzed_requests_never_get_a_5xx(tmp_path: Path, parser: str) -> None:
    if parser == "httptools":
        pytest.importorskip("httptools", reason="needs python3-httptools (APT_RUNTIME installs it)")
    rng = random.Random(SEED)
    statuses: dict[int, int] = {}
    started = time.monotonic()
    with running_collector(tmp_path, rooms=("room-1", "room-2"), extra_args=("--http", parser)) as c:
        token = c.tokens["room-1"]
        valid = heartbeat("room-1", 1)
        requests = []
        for i in range(BODIES):
            doc = valid
            for _ in range(rng.randint(1, 3)):
                doc = mutate(doc, rng)
            if isinstance(doc, dict) and isinstance(doc.get("seq"), int):
                doc["seq"] = i + 2
            raw = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
            if rng.random() < 0.35:
                raw = mangle_bytes(raw, rng)
            requests.append((raw, random_headers(token, rng)))

        def sender(share: list[tuple[bytes, dict[str, str]]]) -> list[tuple[int, str, bytes]]:
            # Several clients at once: httpx writes headers and body separately, so one
            # connection waits on delayed ACKs; parallel connections keep the server busy.
            out = []
            with httpx.Client(timeout=30) as client:
                for raw, headers in share:
                    if time.monotonic() - started > TIME_BUDGET_S:
                        break
                    response = client.post(c.heartbeat_url, content=raw, headers=headers)
                    out.append((response.status_code, response.text, raw))
            return out

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = [r for part in pool.map(sender, [requests[k::CLIENTS] for k in range(CLIENTS)]) for r in part]
        for code, text, raw in results:
            statuses[code] = statuses.get(code, 0) + 1
            assert code < 500, (code, text, raw[:500])

        for i in range(RAW_REQUESTS):
            request = raw_request(token, rng)
            with socket.create_connection(("::1", c.port), timeout=10) as sock:
                try:
                    sock.sendall(request)
                    sock.shutdown(socket.SHUT_WR)
                    answer = sock.recv(64)
                except (ConnectionResetError, BrokenPipeError):
                    continue  # the server may close a connection that sends nonsense
            if answer:
                code = int(answer.split(b" ", 2)[1])
                statuses[code] = statuses.get(code, 0) + 1
                assert code < 500, (answer, request[:300])

        # Still healthy, still storing.
        assert c.get("/healthz").status_code == 200
        after = heartbeat("room-1", 10**9)
        r = httpx.post(c.heartbeat_url, json=after, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert c.get("/api/v1/rooms/room-1").json()["last_seq"] == 10**9
        log = c.log.read_text()
        assert "Exception in ASGI application" not in log and "Traceback" not in log
        assert token not in log
    assert sum(statuses.values()) > 2000
    assert {200, 401, 415, 422} <= set(statuses), statuses


def raw_request(token: str, rng: random.Random) -> bytes:
    body = json.dumps(heartbeat("room-1", rng.randint(1, 10**6))).encode()
    lines = [b"POST /api/v1/heartbeat HTTP/1.1", b"Host: [::1]", f"Authorization: Bearer {token}".encode(),
             b"Content-Type: application/json", f"Content-Length: {len(body)}".encode()]
    choice = rng.random()
    if choice < 0.2:
        lines[4] = f"Content-Length: {rng.choice([-1, 0, len(body) + 5, 'abc', 10**20])}".encode()
    elif choice < 0.4:
        lines.insert(rng.randrange(1, len(lines)), rng.choice([b"X: \xff\xfe", b"no colon", b": empty", b"A" * 9000,
                                                                  b"Authorization: Bearer \t", b"Authorization:"]))
    elif choice < 0.6:
        lines[0] = rng.choice([b"POST /api/v1/heartbeat HTTP/9.9", b"GARBAGE", b"POST  HTTP/1.1",
                               b"POST /api/v1/heartbeat?" + b"a" * 5000 + b" HTTP/1.1"])
    elif choice < 0.8:
        lines[4] = b"Transfer-Encoding: chunked"
        body = rng.choice([b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n", b"FFFFFFFFFFFFFFFF\r\n{}"])
    else:
        body = mangle_bytes(body, rng)
        lines[4] = f"Content-Length: {len(body)}".encode()
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
