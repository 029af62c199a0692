"""Exception tree of the collector; messages name what to fix.

    CollectorError              base of everything the collector raises on purpose
    ├── UsageError              the command line is wrong (exit 64)
    ├── StoreError              the database cannot be opened or written (exit 74)
    ├── RoomError               a room command refers to a room that is missing or exists (exit 65)
    ├── AccountError            a user or token command refers to an account that is missing or exists (exit 65)
    └── MeetingError            a meeting command refers to a meeting that is missing or cancelled (exit 65)
"""

from __future__ import annotations

EX_DATAERR = 65
EX_USAGE = 64
EX_IOERR = 74


class CollectorError(Exception):
    """Base class for errors the collector reports to the operator."""

    exit_code = 1


class UsageError(CollectorError):
    exit_code = EX_USAGE


class StoreError(CollectorError):
    exit_code = EX_IOERR


class RoomError(CollectorError):
    exit_code = EX_DATAERR


class AccountError(CollectorError):
    exit_code = EX_DATAERR


class MeetingError(CollectorError):
    exit_code = EX_DATAERR
