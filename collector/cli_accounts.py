"""``bridge-collector user|token|audit``: accounts for people, tokens for scripts, the audit trail.

    bridge-collector user add NAME --role admin|operator|viewer [--unit UNIT ...]   password prompted twice
    bridge-collector user list [--json] | user passwd NAME | user remove NAME
    bridge-collector token add NAME --role ... [--unit UNIT ...]   -> prints the token, once
    bridge-collector token list [--json] | token remove NAME
    bridge-collector audit [--since ISO | --days N] [--json]

On a terminal the password is asked twice (never echoed); otherwise it is the
first line of stdin, so scripts can pipe it in without it showing in ``ps``.
Every change is written to the audit trail as the OS user who ran the command.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable

from collector.accounts import (ROLES, audit_json, hash_password, name_problem, new_api_token, password_problem,
                                role_problem)
from collector.errors import AccountError, UsageError
from collector.status import iso
from collector.store import Store, hash_token

AddDb = Callable[[argparse.ArgumentParser], None]


def os_user() -> str:
    """Who ran the command, for the audit trail (the uid where no passwd entry exists)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def add_parsers(sub: Any, db: AddDb, parser_class: type[argparse.ArgumentParser]) -> None:
    """The ``user``, ``token`` and ``audit`` subcommands, added to bridge-collector's parser."""
    user = sub.add_parser("user", help="dashboard accounts: add, list, change password, remove")
    db(user)
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", parser_class=parser_class, required=True)
    add = user_sub.add_parser("add", help="a new account; asks for its password")
    _account_args(add, db)
    listing = user_sub.add_parser("list", help="accounts, their roles and units")
    db(listing)
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    for action, text in (("passwd", "set a new password (ends the account's sessions)"),
                         ("remove", "delete the account (ends its sessions)")):
        p = user_sub.add_parser(action, help=text)
        db(p)
        p.add_argument("name", metavar="NAME")

    token = sub.add_parser("token", help="API tokens for scripts and Prometheus")
    db(token)
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", parser_class=parser_class,
                                     required=True)
    _account_args(token_sub.add_parser("add", help="a new token; prints it once"), db)
    listing = token_sub.add_parser("list", help="tokens, their roles and units (never the tokens)")
    db(listing)
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    remove = token_sub.add_parser("remove", help="revoke a token")
    db(remove)
    remove.add_argument("name", metavar="NAME")

    audit = sub.add_parser("audit", help="who changed rooms and accounts, and logins")
    db(audit)
    when = audit.add_mutually_exclusive_group()
    when.add_argument("--since", metavar="ISO", help="entries from this time on, e.g. 2026-12-01T00:00:00Z")
    when.add_argument("--days", type=float, help="entries of the last N days [30]")
    audit.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _account_args(parser: argparse.ArgumentParser, db: AddDb) -> None:
    db(parser)
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--role", required=True, choices=ROLES,
                        help="viewer reads, operator also acts, admin also manages")
    parser.add_argument("--unit", action="append", default=[], metavar="UNIT",
                        help="only this unit's rooms (repeat for several); none: every unit")


def _checked(args: argparse.Namespace) -> tuple[str, tuple[str, ...]]:
    units = tuple(u.strip() for u in args.unit)
    problem = name_problem(args.name) or role_problem(args.role, units)
    if problem:
        raise UsageError(problem)
    return args.name, units


def read_password() -> str:
    """Twice on a terminal (getpass, not echoed); else the first line of stdin."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem:
        raise UsageError(problem)
    return password


def _detail(role: str, units: tuple[str, ...]) -> str:
    return f"role={role}" + (f" units={','.join(units)}" if units else "")


def cmd_user(args: argparse.Namespace) -> int:
    store = Store(args.db)
    try:
        if args.user_command == "add":
            name, units = _checked(args)
            store.add_user(name, args.role, units, hash_password(read_password()))
            store.audit(os_user(), "cli", "user.add", name, _detail(args.role, units))
            print(f"added user {name} ({args.role})", file=sys.stderr)
        elif args.user_command == "passwd":
            if store.user(args.name) is None:  # say so before asking for a password
                raise AccountError(f"no user {args.name!r}")
            store.set_password(args.name, hash_password(read_password()))
            store.audit(os_user(), "cli", "user.passwd", args.name)
            print(f"password of {args.name} changed", file=sys.stderr)
        elif args.user_command == "remove":
            store.remove_user(args.name)
            store.audit(os_user(), "cli", "user.remove", args.name)
            print(f"removed user {args.name}", file=sys.stderr)
        else:
            _print_accounts("users", store.users(), as_json=args.json)
    finally:
        store.close()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    store = Store(args.db)
    try:
        if args.token_command == "add":
            name, units = _checked(args)
            token = new_api_token()
            store.add_api_token(name, args.role, units, hash_token(token))
            store.audit(os_user(), "cli", "token.add", name, _detail(args.role, units))
            print(token)
        elif args.token_command == "remove":
            store.remove_api_token(args.name)
            store.audit(os_user(), "cli", "token.remove", args.name)
            print(f"removed token {args.name}", file=sys.stderr)
        else:
            _print_accounts("tokens", store.api_tokens(), as_json=args.json)
    finally:
        store.close()
    return 0


def _print_accounts(kind: str, rows: list[dict[str, Any]], *, as_json: bool) -> None:
    items = [{"name": r["name"], "role": r["role"], "units": list(r["units"]), "created": iso(r["created_at"]),
              **({"last_login": iso(r["last_login"])} if "last_login" in r else {})} for r in rows]
    if as_json:
        json.dump({kind: items}, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return
    for i in items:
        print(f"{i['name']:<24} {i['role']:<9} {', '.join(i['units']) or '(every unit)'}")


def parse_since(args: argparse.Namespace, now: float) -> float:
    if args.since:
        try:
            when = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since {args.since!r}: expected an ISO-8601 time, e.g. 2026-12-01T00:00:00Z") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    days = 30 if args.days is None else args.days
    if days <= 0:
        raise UsageError("--days must be positive")
    return now - days * 86400


def cmd_audit(args: argparse.Namespace) -> int:
    since = parse_since(args, time.time())
    store = Store(args.db)
    try:
        entries = store.audit_entries(since, limit=1_000_000)
    finally:
        store.close()
    if args.json:
        json.dump({"audit": [audit_json(e) for e in entries]}, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    for e in reversed(entries):  # oldest first, like a log
        line = f"{iso(e['at'])}  {e['actor']:<16} {e['source']:<16} {e['action']:<13} {e['target']}"
        print(f"{line}  {e['detail']}" if e["detail"] else line)
    return 0


COMMANDS = {"user": cmd_user, "token": cmd_token, "audit": cmd_audit}
