"""``bridge-collector``: serve the control centre, enrol rooms, run the probe responder.

    bridge-collector [--db PATH] serve [--listen [::]:8443] [--tls-cert F --tls-key F [--tls-client-ca F]]
                                       [--probe-slots 4] [--probe-in-process [--stamp-port 862]] ...
    bridge-collector [--db PATH] room add ID [--name N] [--unit U]   -> prints the token, once
    bridge-collector [--db PATH] room list [--json]
    bridge-collector [--db PATH] room revoke ID
    bridge-collector [--db PATH] user|token|audit ...      accounts and the audit trail (collector.cli_accounts)
    bridge-collector [--db PATH] meeting add|list|cancel   meetings and their roll-call (collector.cli_meetings)
    bridge-collector [--db PATH] db migrate | db copy --from DB --to DB   (collector.cli_db)
    bridge-collector [--db PATH] probe-serve [--listen [::]:8080] [--stamp-port 862] [--tls-cert F --tls-key F]

PATH is a SQLite file or a PostgreSQL database: postgresql://USER@HOST/DB or service=NAME.

Beyond loopback both listeners speak TLS, or plain HTTP with an explicit --insecure-http.

Exit codes: 0 ok, 1 error, 64 usage, 65 unknown/existing room, account or meeting, 74 database unusable.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from collector import __version__, cli_accounts, cli_db, cli_meetings
from collector.db import redact
from collector.errors import CollectorError, UsageError
from collector.incidents import DEFAULT_MIN_ROOMS, DEFAULT_WINDOW_S
from collector.listen import ListenError, parse_listen
from collector.logs import printable, setup_logging
from collector.meetings import DEFAULT_INTERVAL_S, DEFAULT_LEAD_MIN
from collector.tls import (add_tls_options, check_listener, is_loopback, remind_insecure, tls_from_args,
                           uvicorn_tls)

DEFAULT_DB = "/var/lib/bridge-collector/collector.db"
ROOM_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_SECRET_CHARS = 16  # the webhook secret: too short to guess is the point
log = logging.getLogger("collector")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(64, f"{self.prog}: error: {message}\n")


def _db(parser: argparse.ArgumentParser) -> None:
    # Accepted before or after the subcommand; SUPPRESS keeps an earlier value.
    parser.add_argument("--db", metavar="DB", default=argparse.SUPPRESS,
                        help=f"SQLite file, or PostgreSQL as postgresql://... or service=NAME (default: {DEFAULT_DB})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bridge-collector", description="Control centre of the meeting-room network.")
    parser.add_argument("--version", action="version", version=f"bridge-collector {__version__}")
    _db(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = sub.add_parser("serve", help="heartbeat API, dashboard, metrics and the bandwidth test slots")
    _db(serve)
    serve.add_argument("--listen", default="[::]:8443", help="HOST:PORT, IPv6 in brackets [[::]:8443]")
    add_tls_options(serve)
    serve.add_argument("--probe-slots", type=int, default=4,
                       help="bandwidth tests granted at once per responder (POST /api/v1/probe/slot) [4]")
    serve.add_argument("--probe-in-process", action="store_true",
                       help="also serve the STAMP reflector and the HTTP probe endpoints in this process "
                            "(one-machine demo; by default `bridge-collector probe-serve` does)")
    serve.add_argument("--stamp-port", type=int, default=None,
                       help="with --probe-in-process: STAMP reflector UDP port, 0 disables [862]")
    serve.add_argument("--lang", choices=("vi", "en"), default="vi", help="dashboard language [vi]")
    serve.add_argument("--webhook", metavar="URL", help="POST each status transition here as JSON, signed")
    serve.add_argument("--webhook-secret-file", metavar="FILE",
                       help="file holding the key of the webhook's X-Bridge-Signature (HMAC-SHA256, "
                            "at least 16 characters); required with --webhook")
    serve.add_argument("--retention-days", type=float, default=30,
                       help="heartbeats and their raw figures kept per room [30]")
    serve.add_argument("--rollup-retention-days", type=float, default=730,
                       help="1-hour rollups of the figures kept [730]")
    serve.add_argument("--rollup-5m-retention-days", type=float, default=35,
                       help="5-minute rollups kept; 35 covers every 5-minute series the API"
                            " allows (at most 10,000 points) [35]")
    serve.add_argument("--event-retention-days", type=float, default=400,
                       help="status transitions (events) kept; at least a year is advised [400]")
    serve.add_argument("--offline-factor", type=float, default=3,
                       help="offline after this many declared intervals without a heartbeat [3]")
    # Removed (reads now need an account or an API token); kept only to say so.
    serve.add_argument("--read-token-file", metavar="FILE", help=argparse.SUPPRESS)
    serve.add_argument("--http", choices=("auto", "httptools", "h11"), default="auto",
                       help="HTTP parser: httptools (C, faster) when installed, else h11 [auto]")
    serve.add_argument("--sweep-interval", type=float, default=2.0, help="seconds between offline sweeps [2]")
    serve.add_argument("--incident-min-rooms", type=int, default=DEFAULT_MIN_ROOMS,
                       help=f"rooms failing the same check together that open an incident [{DEFAULT_MIN_ROOMS}]")
    serve.add_argument("--incident-window", type=float, default=DEFAULT_WINDOW_S, metavar="SECONDS",
                       help="how close together their problems must begin; room webhooks wait this long"
                            f" [{DEFAULT_WINDOW_S:g}]")
    _max_transfers(serve)
    serve.add_argument("--rollcall-lead", type=float, default=DEFAULT_LEAD_MIN, metavar="MINUTES",
                       help=f"rooms of a meeting are asked for a full check this long before it [{DEFAULT_LEAD_MIN:g}]")
    serve.add_argument("--rollcall-interval", type=float, default=DEFAULT_INTERVAL_S, metavar="SECONDS",
                       help=f"heartbeat interval asked of them from then to the end [{DEFAULT_INTERVAL_S:g}]")

    room = sub.add_parser("room", help="enrol, list and revoke rooms")
    _db(room)
    room_sub = room.add_subparsers(dest="room_command", metavar="ACTION", parser_class=_Parser, required=True)
    add = room_sub.add_parser("add", help="enrol a room; prints its token once")
    _db(add)
    add.add_argument("room_id", metavar="ID")
    add.add_argument("--name", help="room name shown at the control centre (wins over the agent's)")
    add.add_argument("--unit", help="department or district the room belongs to")
    listing = room_sub.add_parser("list", help="enrolled rooms")
    _db(listing)
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    revoke = room_sub.add_parser("revoke", help="revoke a room's token")
    _db(revoke)
    revoke.add_argument("room_id", metavar="ID")

    cli_accounts.add_parsers(sub, _db, _Parser)
    cli_meetings.add_parsers(sub, _db, _Parser)
    cli_db.add_parsers(sub, _db, _Parser)

    probe = sub.add_parser("probe-serve", help="only the STAMP reflector and the HTTP probe endpoints")
    _db(probe)
    probe.add_argument("--listen", default="[::]:8080", help="HOST:PORT for the HTTP probe [[::]:8080]")
    probe.add_argument("--stamp-port", type=int, default=862, help="STAMP reflector UDP port, 0 disables [862]")
    add_tls_options(probe)
    _max_transfers(probe)
    return parser


def _max_transfers(parser: argparse.ArgumentParser) -> None:
    from collector.probe.http import DEFAULT_MAX_TRANSFERS

    parser.add_argument("--probe-max-transfers", type=int, default=DEFAULT_MAX_TRANSFERS,
                        help=f"bandwidth transfers served at once, more get 503 [{DEFAULT_MAX_TRANSFERS}]")


def _listen(value: str) -> tuple[str, int]:
    try:
        return parse_listen(value)
    except ListenError as err:
        raise UsageError(f"--listen {err}") from None


def _secret_file(option: str, path: str, what: str) -> str:
    """The secret in ``path`` (surrounding whitespace dropped); a usage error names ``option``."""
    try:
        secret = Path(path).read_text().strip()
    except OSError as err:
        raise UsageError(f"{option} {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not a text file") from None
    if len(secret) < MIN_SECRET_CHARS:
        raise UsageError(f"{option} {path}: the {what} must be at least {MIN_SECRET_CHARS} characters")
    return secret


def _webhook_secret(url: str | None, secret_file: str | None) -> str | None:
    """Check ``--webhook`` and ``--webhook-secret-file`` (both or neither); the secret."""
    if url is None:
        if secret_file:
            raise UsageError("--webhook-secret-file is only used with --webhook URL")
        return None
    import httpx

    # httpx accepts "http://[::1" or a space in the host, and fails only when sending.
    if not re.match(r"^https?://[^/\s]+", url) or not httpx.URL(url).host:
        raise UsageError("--webhook must be an http:// or https:// URL with a host")
    if not secret_file:
        raise UsageError("--webhook needs --webhook-secret-file FILE: the key receivers check X-Bridge-Signature with")
    return _secret_file("--webhook-secret-file", secret_file, "secret")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from collector.probe import StampReflector
    from collector.web.app import create_app
    from collector.web.runtime import ServeConfig

    host, port = _listen(args.listen)
    tls = tls_from_args(args)
    check_listener(args.listen, host, tls)
    _check_max_transfers(args)
    if args.read_token_file:
        raise UsageError("--read-token-file was removed: every read now needs an account or an API token;"
                         " make a token with `bridge-collector token add NAME --role viewer` (Prometheus,"
                         " scripts) and accounts with `bridge-collector user add NAME --role admin`")
    for name in ("retention_days", "rollup_retention_days", "rollup_5m_retention_days", "event_retention_days",
                 "offline_factor",
                 "sweep_interval"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    if not 0 <= args.rollcall_lead <= 24 * 60:
        raise UsageError("--rollcall-lead must be from 0 to 1440 minutes")
    if not 1 <= args.rollcall_interval <= 3600:
        raise UsageError("--rollcall-interval must be from 1 to 3600 seconds")
    if args.sweep_interval > 5:
        raise UsageError("--sweep-interval must be at most 5 seconds")
    if args.incident_min_rooms < 2:
        raise UsageError("--incident-min-rooms must be at least 2")
    if not 1 <= args.incident_window <= 3600:
        raise UsageError("--incident-window must be from 1 to 3600 seconds")
    webhook_secret = _webhook_secret(args.webhook, args.webhook_secret_file)
    if args.stamp_port is None:
        args.stamp_port = 862 if args.probe_in_process else 0
    elif args.stamp_port and not args.probe_in_process:
        raise UsageError("--stamp-port needs --probe-in-process; the reflector runs as"
                         " `bridge-collector probe-serve` (bridge-collector-probe.service)")
    if not 0 <= args.stamp_port <= 65535:
        raise UsageError("--stamp-port must be 0-65535")
    if args.probe_slots < 1:
        raise UsageError("--probe-slots must be at least 1")
    config = ServeConfig(
        db=args.db, lang=args.lang, webhook=args.webhook, webhook_secret=webhook_secret,
        retention_days=args.retention_days, rollup_retention_days=args.rollup_retention_days,
        rollup_5m_retention_days=args.rollup_5m_retention_days,
        event_retention_days=args.event_retention_days,
        offline_factor=args.offline_factor, sweep_interval_s=args.sweep_interval,
        probe_max_transfers=args.probe_max_transfers, probe_slots=args.probe_slots,
        probe_in_process=args.probe_in_process,
        incident_min_rooms=args.incident_min_rooms, incident_window_s=args.incident_window,
        rollcall_lead_s=args.rollcall_lead * 60, rollcall_interval_s=args.rollcall_interval,
    )
    from collector.store import Store

    Store(config.db).close()  # fail now, with exit 74, if the database is unusable
    ssl_options = uvicorn_tls(tls)
    try:
        reflector = StampReflector(host, args.stamp_port).start() if args.stamp_port else None
    except OSError as err:
        raise UsageError(f"--stamp-port {args.stamp_port}: {err.strerror}") from None
    scheme = "https" if tls.enabled else "http"
    log.info("serving on %s://%s:%d (db %s)%s", scheme, f"[{host}]" if ":" in host else host, port, redact(config.db),
             ", client certificates required" if tls.client_ca else "")
    reminder = remind_insecure(args.listen, tls)
    try:
        uvicorn.run(create_app(config), host=host, port=port, **ssl_options,
                    http=args.http, log_config=None, log_level="warning", access_log=False, lifespan="on")
    finally:
        if reminder:
            reminder.set()
        if reflector:
            reflector.stop()
    return 0


def _check_max_transfers(args: argparse.Namespace) -> None:
    if args.probe_max_transfers < 1:
        raise UsageError("--probe-max-transfers must be at least 1")


def cmd_room(args: argparse.Namespace) -> int:
    from collector.store import Store

    store = Store(args.db)
    try:
        if args.room_command == "add":
            if not ROOM_ID.fullmatch(args.room_id):
                raise UsageError(f"room id {args.room_id!r}: expected [a-z0-9][a-z0-9._-]{{0,63}}")
            print(store.add_room(args.room_id, args.name, args.unit))
            store.audit(cli_accounts.os_user(), "cli", "room.add", args.room_id,
                        " ".join(f"{k}={v}" for k, v in (("name", args.name), ("unit", args.unit)) if v))
        elif args.room_command == "revoke":
            store.revoke_room(args.room_id)
            store.audit(cli_accounts.os_user(), "cli", "room.revoke", args.room_id)
            print(f"revoked {args.room_id}", file=sys.stderr)
        else:
            _print_rooms(store.rooms(include_revoked=True), as_json=args.json)
    finally:
        store.close()
    return 0


def _print_rooms(rows: list[dict], *, as_json: bool) -> None:
    from collector.status import iso

    items = [{"room_id": r["room_id"], "name": r["name"], "unit": r["unit"], "enrolled": iso(r["created_at"]),
              "revoked": iso(r["revoked_at"]), "last_seen": iso(r["last_seen"]), "last_seq": r["last_seq"],
              "status": r["status"], "agent_instance": r["agent_instance"],
              "stream_started": iso(r["stream_started_at"])} for r in rows]
    if as_json:
        json.dump({"rooms": items}, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return
    for i in items:
        state = "revoked" if i["revoked"] else (i["status"] or "never seen")
        print(f"{i['room_id']:<24} {state:<10} {i['last_seen'] or '-':<21} "
              f"{printable(i['unit'] or '')} / {printable(i['name'] or '')}")


def cmd_probe(args: argparse.Namespace) -> int:
    from collector.probe import run_probe_server

    from collector.probe.server import ProbeServeConfig
    from collector.store import Store

    host, port = _listen(args.listen)
    tls = tls_from_args(args)
    check_listener(args.listen, host, tls)
    _check_max_transfers(args)
    if not 0 <= args.stamp_port <= 65535:
        raise UsageError("--stamp-port must be 0-65535")
    Store(args.db).close()  # the room tokens: fail now, with exit 74, if the database is unusable
    reminder = remind_insecure(args.listen, tls)
    try:
        run_probe_server(ProbeServeConfig(host, port, args.stamp_port, args.db, args.probe_max_transfers),
                         uvicorn_tls(tls))
    finally:
        if reminder:
            reminder.set()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "db"):
        args.db = DEFAULT_DB
    if args.command is None:
        parser.print_help(sys.stderr)
        return 64
    setup_logging()
    commands = {"serve": cmd_serve, "room": cmd_room, "probe-serve": cmd_probe, **cli_accounts.COMMANDS,
                **cli_meetings.COMMANDS, **cli_db.COMMANDS}
    try:
        return commands[args.command](args)
    except CollectorError as err:
        print(f"bridge-collector: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
