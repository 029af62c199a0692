"""Incidents end to end: the real collector, a real webhook receiver, the API, the dashboard in Chromium.

30 rooms failing ``mcu.tcp`` within a minute become one incident: the receiver gets
one ``opened`` (and, while rooms keep joining, ``grown``) and one ``resolved``, and
none of the 60 room transitions, which are still stored. Operators acknowledge
incidents and rooms' problems through the API and the dashboard; viewers cannot;
an account limited to a unit sees only its unit's part.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sample import heartbeat
from collector.web.i18n import LABELS
from tests.browser import Browser
from tests.collector_helpers import RunningCollector, running_collector, webhook_args
from tests.daemon_helpers import wait_for
from tests.test_collector_auth import login
from tests.test_collector_webhook import Receiver, receiver  # noqa: F401 (receiver is a fixture)

BUILD = Path(__file__).resolve().parent.parent / "build"
FAST = ("--incident-window", "5", "--sweep-interval", "0.5")
PASSWORD = "incident-pass-2026"


def send(client: httpx.Client, c: RunningCollector, room: str, seq: int, status: str = "ok",
         check: str = "mcu.tcp", unit: str = "UBND quận Ba Đình") -> None:
    body = heartbeat(room, seq, status=status, failing=check if status == "fail" else None, unit=unit)
    r = client.post(c.heartbeat_url, json=body, headers={"Authorization": f"Bearer {c.tokens[room]}"})
    assert r.status_code == 200, r.text


def bodies(rx: Receiver) -> list[dict[str, Any]]:
    with rx.lock:
        return [json.loads(a.body) for a in rx.attempts if 200 <= a.answered < 300]


def incident_events(rx: Receiver) -> list[str]:
    return [b["event"] for b in bodies(rx) if b.get("type") == "incident"]


def test_30_rooms_failing_mcu_tcp_are_one_incident_and_one_opened_webhook(tmp_path: Path, receiver: Receiver) -> None:
    rooms = [f"room-{i:02d}" for i in range(1, 31)]
    args = (*webhook_args(tmp_path, receiver.url), *FAST)
    with running_collector(tmp_path, rooms=rooms, extra_args=args) as c, httpx.Client(timeout=30) as client:
        for room in rooms:
            send(client, c, room, 1)
        wait_for(lambda: len(bodies(receiver)) == 30, what="the 30 first heartbeats' events")
        assert {b["to"] for b in bodies(receiver)} == {"ok"}
        started = time.time()
        for room in rooms:
            send(client, c, room, 2, "fail")
        assert time.time() - started < 60
        wait_for(lambda: "opened" in incident_events(receiver), what="incident opened")
        (inc,) = c.get("/api/v1/incidents", params={"status": "open"}).json()["incidents"]
        wait_for(lambda: c.get(f"/api/v1/incidents/{inc['id']}").json()["rooms"] == 30)
        inc = c.get(f"/api/v1/incidents/{inc['id']}").json()
        assert (inc["check"], inc["scope"], inc["status"], inc["peak_rooms"]) == ("mcu.tcp", "city", "open", 30)
        assert {m["room_id"] for m in inc["members"]} == set(rooms) and inc["timeline"][-1]["rooms"] == 30
        for room in rooms:
            send(client, c, room, 3, "ok")
        wait_for(lambda: "resolved" in incident_events(receiver), what="incident resolved")
        time.sleep(7)  # longer than the hold: any room event that were to be sent would be by now
        kinds = incident_events(receiver)
        assert kinds.count("opened") == 1 and kinds.count("resolved") == 1 and kinds[-1] == "resolved"
        assert set(kinds) <= {"opened", "grown", "resolved"} and kinds.count("grown") <= 3  # 5 -> 10 -> 20 at most
        room_bodies = [b for b in bodies(receiver) if "type" not in b]
        assert len(room_bodies) == 30 and {b["to"] for b in room_bodies} == {"ok"}  # only the first heartbeats
        last = [b for b in bodies(receiver) if b.get("type") == "incident"][-1]
        assert last["incident"]["id"] == inc["id"] and last["incident"]["rooms"] == 0
        assert last["incident"]["peak_rooms"] == 30 and last["incident"]["resolved_at"]
        ids = [b["id"] for b in bodies(receiver)]
        assert ids == sorted(ids)  # one outbox, one order
        # The rooms' own transitions are all stored; only the webhook coalesced them.
        stored = c.get("/api/v1/events", params={"limit": 1000}).json()["events"]
        assert len(stored) == 90
        done = c.get(f"/api/v1/incidents/{inc['id']}").json()
        assert done["status"] == "resolved" and done["rooms"] == 0 and done["timeline"][-1]["rooms"] == 0
        assert c.get("/api/v1/incidents", params={"status": "open"}).json()["incidents"] == []


UNIT_A, UNIT_B = "Quận Hoàn Kiếm", "Huyện Sóc Sơn"


def troubled_city(tmp_path: Path) -> Any:
    """6 rooms of unit A fail mcu.tcp (a city incident), 2 of unit B's 8 fail dns (a unit incident)."""
    a = [f"a-{i}" for i in range(1, 7)]
    b = [f"b-{i}" for i in range(1, 9)]
    return a, b, running_collector(tmp_path, rooms=a + b, extra_args=FAST)


def open_incidents(c: RunningCollector, token: str | None = None) -> dict[str, dict[str, Any]]:
    found = c.get("/api/v1/incidents", params={"status": "open"}, token=token).json()["incidents"]
    return {i["scope"]: i for i in found}


def fill(c: RunningCollector, a: list[str], b: list[str]) -> None:
    with httpx.Client(timeout=30) as client:
        for room in a:
            send(client, c, room, 1, "fail", unit=UNIT_A)
        for room in b:
            send(client, c, room, 1, "fail" if room in ("b-1", "b-2") else "ok", check="net.dns_aaaa", unit=UNIT_B)
    wait_for(lambda: len(open_incidents(c)) == 2, what="a city and a unit incident")


def post(c: RunningCollector, path: str, token: str, body: Any = None, **kw: Any) -> httpx.Response:
    return httpx.post(c.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw)


def test_ack_through_the_api_with_roles_and_unit_scope(tmp_path: Path) -> None:
    a, b, collector = troubled_city(tmp_path)
    with collector as c:
        fill(c, a, b)
        viewer = c.add_token("wall", "viewer")
        operator = c.add_token("duty", "operator")
        operator_a = c.add_token("duty-a", "operator", units=(UNIT_A,))
        found = open_incidents(c)
        city, unit = found["city"], found["unit"]
        assert (city["check"], city["rooms"]) == ("mcu.tcp", 6)
        assert (unit["check"], unit["unit"], unit["rooms"]) == ("net.dns_aaaa", UNIT_B, 2)
        # Unit A's operator sees the city incident (its rooms are in it), not unit B's.
        assert list(open_incidents(c, operator_a)) == ["city"]
        assert post(c, f"/api/v1/incidents/{unit['id']}/ack", operator_a, {"note": "x"}).status_code == 404
        assert post(c, "/api/v1/rooms/b-1/ack", operator_a, {}).status_code == 404
        assert post(c, f"/api/v1/incidents/{city['id']}/ack", viewer, {"note": "x"}).status_code == 403
        # ... and may not acknowledge it for the whole city, only its own rooms.
        assert post(c, f"/api/v1/incidents/{city['id']}/ack", operator_a, {"note": "x"}).status_code == 403
        assert post(c, "/api/v1/rooms/a-1/ack", operator_a, {"note": "our technician"}).status_code == 200
        assert post(c, f"/api/v1/incidents/{city['id']}/ack", operator, content=b"{not json").status_code == 422
        assert post(c, f"/api/v1/incidents/{city['id']}/ack", operator, {"note": "y" * 1001}).status_code == 422
        assert post(c, "/api/v1/incidents/999/ack", operator, {}).status_code == 404
        r = post(c, f"/api/v1/incidents/{city['id']}/ack", operator, {"note": "MCU vendor called, ticket 4711"})
        assert r.status_code == 200, r.text
        got = c.get(f"/api/v1/incidents/{city['id']}").json()
        assert got["acknowledged"] and got["acks"][0]["by"] == "token:duty"
        assert got["acks"][0]["note"] == "MCU vendor called, ticket 4711"
        # A room's problem: only while it has one.
        assert post(c, "/api/v1/rooms/b-3/ack", operator, {"note": "fine"}).status_code == 409
        assert post(c, "/api/v1/rooms/nope/ack", operator, {}).status_code == 404
        r = post(c, "/api/v1/rooms/b-1/ack", operator, {"note": "technician on the way"})
        assert r.status_code == 200 and r.json()["ack"]["by"] == "token:duty"
        room = c.get("/api/v1/rooms/b-1").json()
        assert room["incidents"] == [unit["id"]] and room["ack"]["note"] == "technician on the way"
        assert c.get("/api/v1/rooms/b-3").json()["ack"] is None
        assert c.get("/api/v1/incidents", params={"status": "bogus"}).status_code == 422
        audit = [(e["action"], e["actor"], e["target"], e["detail"]) for e in c.get("/api/v1/audit").json()["audit"]]
        assert ("incident.ack", "token:duty", f"#{city['id']}", "MCU vendor called, ticket 4711") in audit
        assert ("room.ack", "token:duty", "b-1", "technician on the way") in audit
        assert ("room.ack", "token:duty-a", "a-1", "our technician") in audit


def needs(page: str) -> int:
    start = page.index('id="count-needs-someone"')
    return int(page[page.index("<b>", start) + 3:page.index("</b>", start)])


@pytest.mark.one_store
def test_ack_on_the_dashboard_in_chromium(tmp_path: Path) -> None:
    a, b, collector = troubled_city(tmp_path)
    with collector as c:
        fill(c, a, b)
        c.add_user("duty.officer", PASSWORD, "operator")
        c.add_user("wall", PASSWORD, "viewer")
        city = open_incidents(c)["city"]
        with Browser(tmp_path / "profile") as br:
            br.open(f"{c.url}/")
            page = br.submit_login("duty.officer", PASSWORD)
            vi = LABELS["vi"]
            assert f'id="incident-{city["id"]}"' in page and vi["incidents_open"] in page
            assert vi["part_of_incident"].format(id=city["id"]) in page
            assert needs(page) == 8  # 6 + 2 rooms failing, nobody on them yet
            br.evaluate(f"document.getElementById('note-incident-{city['id']}').value = 'MCU vendor called'")
            page = br.click(f"ack-incident-{city['id']}")
            assert "is-acked" in page and "MCU vendor called" in page
            assert needs(page) == 2  # the city incident's rooms are taken care of; still shown
            assert page.count('class="room"') == 14
            br.screenshot(BUILD / "dashboard-incidents.png")
            page = br.open(f"{c.url}/incidents/{city['id']}")
            assert page.count('class="member"') == 6 and 'id="timeline"' in page and vi["rooms_over_time"] in page
            assert "MCU vendor called" in page and vi["incident_status_open"] in page
            br.screenshot(BUILD / "dashboard-incident.png")
            page = br.open(f"{c.url}/incidents/999")
            assert vi["incident_not_found"].format(id=999) in page
            page = br.open(f"{c.url}/rooms/b-1?lang=en")
            br.evaluate("document.getElementById('note-room').value = 'technician on the way'")
            page = br.click("ack-room")
            assert "technician on the way" in page and LABELS["en"]["acked_by"].split(" {")[0] in page
            page = br.open(f"{c.url}/?lang=en")
            assert needs(page) == 1 and LABELS["en"]["part_of_incident"].format(id=city["id"]) in page
        # The form needs this collector's Origin (the cookie alone is not enough) and the operator role.
        cookies = login(c, "duty.officer", PASSWORD).cookies
        no_origin = httpx.post(f"{c.url}/incidents/{city['id']}/ack", data={"note": "x"}, cookies=cookies)
        assert no_origin.status_code == 403
        viewer = login(c, "wall", PASSWORD).cookies
        page = httpx.get(c.url + "/", cookies=viewer).text
        assert f'id="ack-incident-{city["id"]}"' not in page and f'id="incident-{city["id"]}"' in page
        r = httpx.post(f"{c.url}/incidents/{city['id']}/ack", data={"note": "x"}, cookies=viewer,
                       headers={"Origin": c.url})
        assert r.status_code == 403
        actions = [(e["action"], e["actor"]) for e in c.get("/api/v1/audit").json()["audit"]]
        assert ("incident.ack", "duty.officer") in actions and ("room.ack", "duty.officer") in actions


def test_an_open_incident_survives_sigkill_and_its_resolved_is_sent_once(tmp_path: Path, receiver: Receiver) -> None:
    rooms = [f"room-{i}" for i in range(1, 7)]
    args = (*webhook_args(tmp_path, receiver.url), *FAST)
    with running_collector(tmp_path, rooms=rooms, extra_args=args) as c, httpx.Client(timeout=30) as client:
        for room in rooms:
            send(client, c, room, 1, "fail")
        wait_for(lambda: "opened" in incident_events(receiver), what="incident opened")
        c.process.kill()  # SIGKILL: nothing flushed
        c.process.wait()
        c.start()
        (inc,) = c.get("/api/v1/incidents", params={"status": "open"}).json()["incidents"]
        assert inc["rooms"] == 6
        for room in rooms:
            send(client, c, room, 2, "ok")
        wait_for(lambda: "resolved" in incident_events(receiver), what="incident resolved")
        time.sleep(7)
        unique = list({b["id"]: b for b in bodies(receiver)}.values())  # a re-send repeats an id
        assert [b["event"] for b in unique if b.get("type") == "incident"] == ["opened", "resolved"]
        assert [b for b in unique if "type" not in b] == []  # none of the 12 room transitions
        assert len(c.get("/api/v1/events", params={"limit": 100}).json()["events"]) == 12
