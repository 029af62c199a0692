"""``bridge-collector db``: the database itself, on SQLite or PostgreSQL.

    bridge-collector --db URL db migrate          bring the schema up to this version (once per upgrade)
    bridge-collector db copy --from SRC --to DST  every row of SRC into the empty DST (SQLite <-> PostgreSQL)

A collector refuses a PostgreSQL database with an older schema (other collectors may
still run the older version on it), so upgrading is a deliberate ``db migrate``; a
SQLite file, used by one collector only, is upgraded when it is opened.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from collector.db import redact
from collector.errors import StoreError, UsageError
from collector.store import SCHEMA_VERSION, Store

AddDb = Callable[[argparse.ArgumentParser], None]


def add_parsers(sub: Any, db: AddDb, parser_class: type[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="schema migration and copying between SQLite and PostgreSQL")
    db(parser)
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", parser_class=parser_class, required=True)
    migrate = actions.add_parser("migrate", help=f"upgrade the --db schema to version {SCHEMA_VERSION}")
    db(migrate)
    copy = actions.add_parser("copy", help="copy every row from one database into another, empty one")
    copy.add_argument("--from", dest="source", required=True, metavar="DB", help="SQLite file or postgresql:// URL")
    copy.add_argument("--to", dest="target", required=True, metavar="DB", help="SQLite file or postgresql:// URL")


def cmd_db(args: argparse.Namespace) -> int:
    if args.db_command == "migrate":
        store = Store(args.db, migrate=True)
        print(f"{redact(args.db)}: schema version {store.schema_version()}", file=sys.stderr)
        store.close()
        return 0
    return copy_database(args.source, args.target)


def copy_database(source: str, target: str) -> int:
    """Every table of ``source`` into ``target`` (created, and refused unless empty)."""
    if source == target:
        raise UsageError("db copy: --from and --to are the same database")
    src = Store(source, migrate=True)
    try:
        dst = Store(target, migrate=True)
        try:
            if not dst.is_empty():
                raise StoreError(f"{redact(target)}: not empty (rooms, history or accounts): copy into a new database")
            for table in src.table_names():
                count = 0
                for columns, rows in src.dump_table(table):
                    dst.load_rows(table, columns, rows)
                    count += len(rows)
                print(f"{table}: {count} rows", file=sys.stderr)
            dst.after_load()
        finally:
            dst.close()
    finally:
        src.close()
    print(f"copied {redact(source)} to {redact(target)}", file=sys.stderr)
    return 0


COMMANDS = {"db": cmd_db}
