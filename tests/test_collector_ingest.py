"""POST /api/v1/heartbeat against the real collector: every status code, replay, revoke, concurrency."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.sample import heartbeat
from tests.collector_helpers import RunningCollector, run_collector, running_collector


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory, module_store: str | None) -> Iterator[RunningCollector]:
    with running_collector(tmp_path_factory.mktemp("ingest"), rooms=("room-1", "room-2", "room-3"),
                           db=module_store) as c:
        yield c


def post(c: RunningCollector, room: str, body: object, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {c.tokens[room]}", **kw.pop("headers", {})}  # type: ignore[dict-item]
    if isinstance(body, (bytes, str)):
        headers.setdefault("Content-Type", "application/json")
        return httpx.post(c.heartbeat_url, content=body, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]
    return httpx.post(c.heartbeat_url, json=body, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


def test_200_then_replay_is_200_without_a_second_row(collector: RunningCollector) -> None:
    body = heartbeat("room-1", 1)
    first = post(collector, "room-1", body)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "stored", "room_id": "room-1", "seq": 1, "requests": []}
    again = post(collector, "room-1", body)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert [h["seq"] for h in collector.heartbeats("room-1")] == [1]


def test_401_without_or_with_unknown_token(collector: RunningCollector) -> None:
    body = heartbeat("room-1", 50)
    assert httpx.post(collector.heartbeat_url, json=body).status_code == 401
    r = httpx.post(collector.heartbeat_url, json=body, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.post(collector.heartbeat_url, json=body, headers={"Authorization": f"Basic {collector.tokens['room-1']}"})
    assert r.status_code == 401


def test_403_token_of_another_room(collector: RunningCollector) -> None:
    r = post(collector, "room-2", heartbeat("room-1", 51))
    assert r.status_code == 403
    assert r.json()["path"] == "room_id"
    assert all(h["seq"] != 51 for h in collector.heartbeats("room-1"))


def test_413_over_256_kib(collector: RunningCollector) -> None:
    big = heartbeat("room-1", 52)
    big["host"]["padding"] = "x" * (256 * 1024)
    assert post(collector, "room-1", big).status_code == 413
    # Without Content-Length (chunked), the limit holds while reading.
    chunks = iter([b'{"pad": "', b"y" * 200_000, b"y" * 200_000, b'"}'])
    r = httpx.post(collector.heartbeat_url, content=chunks, timeout=30,
                   headers={"Authorization": f"Bearer {collector.tokens['room-1']}", "Content-Type": "application/json"})
    assert r.status_code == 413


def test_exactly_256_kib_is_not_too_large(collector: RunningCollector) -> None:
    body = json.dumps(heartbeat("room-1", 53)).encode()
    padded = body[:-1] + b" " * (256 * 1024 - len(body)) + b"}"
    assert len(padded) == 256 * 1024
    assert post(collector, "room-1", padded).status_code == 200


@pytest.mark.parametrize(
    "content_type, body",
    [("text/plain", json.dumps({"a": 1})), ("application/json", "not json"),
     ("application/json", b"\xff\xfe{}"), ("application/json", '{"interval_s": NaN}'), ("", "{}")],
)
def test_415_not_json(collector: RunningCollector, content_type: str, body: str | bytes) -> None:
    r = post(collector, "room-1", body, headers={"Content-Type": content_type})
    assert r.status_code == 415, r.text


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda b: b.pop("seq"), "seq"),
        (lambda b: b.update(seq=0), "seq"),
        (lambda b: b.update(seq="7"), "seq"),
        (lambda b: b["checks"][2].update(status="broken"), "checks[2].status"),
        (lambda b: b["devices"]["cameras"][0].update(bus="firewire"), "devices.cameras[0].bus"),
        (lambda b: b.update(surprise=1), "surprise"),
        (lambda b: b["room"].update(name="x" * 201), "room.name"),
        (lambda b: b.update(sent_at="yesterday"), "sent_at"),
        (lambda b: b.update(interval_s=0.5), "interval_s"),
        (lambda b: b.update(schema_version=2), "schema_version"),
    ],
)
def test_422_names_the_failing_field(collector: RunningCollector, mutate, path: str) -> None:  # type: ignore[no-untyped-def]
    body = heartbeat("room-1", 60)
    mutate(body)
    r = post(collector, "room-1", body)
    assert r.status_code == 422, r.text
    assert r.json()["path"] == path
    assert path in r.json()["error"]


def test_422_not_an_object_and_lone_surrogate(collector: RunningCollector) -> None:
    assert post(collector, "room-1", b"[1, 2]").json()["path"] == "$"
    body = json.dumps(heartbeat("room-1", 61), ensure_ascii=False).replace("Phòng họp", "\\ud800")
    assert post(collector, "room-1", body).status_code == 422


def test_revoked_token_is_401_and_re_enrolment_issues_a_new_one(collector: RunningCollector) -> None:
    old = collector.tokens["room-3"]
    assert post(collector, "room-3", heartbeat("room-3", 1)).status_code == 200
    done = run_collector("--db", str(collector.db), "room", "revoke", "room-3")
    assert done.returncode == 0, done.stderr
    assert post(collector, "room-3", heartbeat("room-3", 2)).status_code == 401
    assert [h["seq"] for h in collector.heartbeats("room-3")] == [1]  # history stays readable
    done = run_collector("--db", str(collector.db), "room", "add", "room-3")
    assert done.returncode == 0
    collector.tokens["room-3"] = done.stdout.strip()
    assert collector.tokens["room-3"] != old
    assert post(collector, "room-3", heartbeat("room-3", 2)).status_code == 200
    r = httpx.post(collector.heartbeat_url, json=heartbeat("room-3", 3), headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    rooms = [f"room-{i}" for i in range(8)]
    with running_collector(tmp_path, rooms=rooms) as c:
        failures: list[str] = []

        def send(room: str) -> None:
            with httpx.Client(timeout=30) as client:
                for seq in range(1, 41):
                    body = heartbeat(room, seq)
                    # Every heartbeat twice, as a spool replay after a lost answer would.
                    for _ in range(2):
                        r = client.post(c.heartbeat_url, json=body,
                                        headers={"Authorization": f"Bearer {c.tokens[room]}"})
                        if r.status_code != 200:
                            failures.append(f"{room}/{seq}: {r.status_code}")

        threads = [threading.Thread(target=send, args=(room,)) for room in rooms]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        for room in rooms:
            assert [h["seq"] for h in c.heartbeats(room)] == list(range(1, 41))
        listed = {r["room_id"]: r for r in c.get("/api/v1/rooms").json()["rooms"]}
        assert all(listed[room]["last_seq"] == 40 for room in rooms)
        metrics = c.get("/metrics").text.splitlines()
        assert "bridge_heartbeats_accepted_total 320" in metrics
        assert "bridge_heartbeats_duplicate_total 320" in metrics


def test_a_reused_seq_is_not_stored_and_is_counted(collector: RunningCollector) -> None:
    first = heartbeat("room-2", 7)
    assert post(collector, "room-2", first).json()["status"] == "stored"
    other = heartbeat("room-2", 7, status="fail", failing="net.link")
    other["sent_at"] = "2030-01-01T00:00:00Z"  # a different heartbeat, not a replay
    r = post(collector, "room-2", other)
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert [h["status"] for h in collector.heartbeats("room-2", since_seq=6)] == ["ok"]
    assert "bridge_heartbeats_seq_reused_total 1" in collector.get("/metrics").text.splitlines()
    assert "reused seq 7" in collector.log.read_text()
