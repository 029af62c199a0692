"""``bridge-collector meeting add|list|cancel``: the meetings the roll-call and the quiet time are for.

    bridge-collector meeting add --title T --start 2026-12-03T08:00 --duration 120
                                 (--unit U ... | --room ID ... | --all)
    bridge-collector meeting list [--all] [--json]
    bridge-collector meeting cancel ID

``--start`` is Hanoi time (Asia/Ho_Chi_Minh) unless it carries an offset (``+07:00``, ``Z``);
``--duration`` is in minutes. Bad input exits 64 naming the option; an unknown or already
cancelled meeting 65. Every change is written to the audit trail as the OS user.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

from collector.cli_accounts import os_user
from collector.errors import UsageError
from collector.logs import printable
from collector.meetings import DEFAULT_LEAD_MIN, MeetingInputError, audit_detail, meeting_json, parse_meeting
from collector.store import Store

AddDb = Callable[[argparse.ArgumentParser], None]


def add_parsers(sub: Any, db: AddDb, parser_class: type[argparse.ArgumentParser]) -> None:
    meeting = sub.add_parser("meeting", help="meetings: roll-call before, quiet rooms during")
    db(meeting)
    actions = meeting.add_subparsers(dest="meeting_command", metavar="ACTION", parser_class=parser_class,
                                     required=True)
    add = actions.add_parser("add", help="a new meeting; prints its id")
    db(add)
    add.add_argument("--title", required=True)
    add.add_argument("--start", required=True, help="e.g. 2026-12-03T08:00 (Hanoi time unless an offset is given)")
    add.add_argument("--duration", required=True, help="minutes")
    add.add_argument("--unit", action="append", default=[], help="every room of this unit takes part (repeat)")
    add.add_argument("--room", action="append", default=[], help="this room takes part (repeat)")
    add.add_argument("--all", action="store_true", dest="everyone", help="every enrolled room takes part")
    listing = actions.add_parser("list", help="meetings not ended yet")
    db(listing)
    listing.add_argument("--all", action="store_true", dest="everything", help="ended and cancelled ones too")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    cancel = actions.add_parser("cancel", help="cancel a meeting (its roll-call and quiet time stop)")
    db(cancel)
    cancel.add_argument("meeting_id", metavar="ID", type=int)


def cmd_meeting(args: argparse.Namespace) -> int:
    store = Store(args.db)
    try:
        if args.meeting_command == "add":
            try:
                new = parse_meeting(args.title, args.start, args.duration, args.unit, args.room, args.everyone)
            except MeetingInputError as err:
                raise UsageError(str(err)) from None
            meeting_id = store.add_meeting(new.title, new.start_at, new.end_at, new.participants, os_user())
            store.audit(os_user(), "cli", "meeting.add", str(meeting_id), audit_detail(new))
            print(meeting_id)
        elif args.meeting_command == "cancel":
            store.cancel_meeting(args.meeting_id, time.time())
            store.audit(os_user(), "cli", "meeting.cancel", str(args.meeting_id))
            print(f"cancelled meeting {args.meeting_id}", file=sys.stderr)
        else:
            now = time.time()
            found = store.meetings(0.0 if args.everything else now, include_cancelled=args.everything)
            _print(found, now, args.json)
    finally:
        store.close()
    return 0


def _print(found: list[dict[str, Any]], now: float, as_json: bool) -> None:
    # The lead shown is the default: `serve --rollcall-lead` is the serving process's option.
    items = [meeting_json(m, now, DEFAULT_LEAD_MIN * 60) for m in found]
    if as_json:
        json.dump({"meetings": items}, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return
    for i in items:
        who = ", ".join(f"{p['kind']} {p['value']}".strip() for p in i["participants"])
        print(f"{i['id']:<5} {i['start']} {i['duration_min']:g} min {i['phase']:<11} "
              f"{printable(i['title'])} ({printable(who)})")


COMMANDS = {"meeting": cmd_meeting}
