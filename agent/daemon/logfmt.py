"""One line per event on stderr, ``key=value`` (logfmt), for journald and grep.

Callers pass fields, never preformatted secrets: the token is not a field
anywhere in the daemon, and URLs are logged without userinfo or query.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def quote(value: Any) -> str:
    """A logfmt value: bare when simple, else double-quoted with escapes."""
    text = "" if value is None else str(value)
    if text and not any(c in text for c in ' ="\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def render(event: str, fields: dict[str, Any]) -> str:
    return " ".join([f"event={quote(event)}", *(f"{k}={quote(v)}" for k, v in fields.items())])


def safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment: nothing secret reaches a log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        line = f"ts={stamp.replace('+00:00', 'Z')} level={record.levelname.lower()} {record.getMessage()}"
        if record.exc_info:
            # A traceback is one event too: keep it on the same line.
            line += " traceback=" + quote(self.formatException(record.exc_info))
        return line


def setup(level: str = "info") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root.addHandler(handler)
    set_level(level)


# Libraries whose own debug lines are not key=value and could carry request details.
QUIET = ("watchdog", "httpx", "httpcore", "pyudev", "asyncio")


def set_level(level: str) -> None:
    logging.getLogger().setLevel(LEVELS.get(level, logging.INFO))
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event; ``%`` in values is safe because the line is passed as an argument."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", render(name, fields))
