"""Logging for the collector: one handler on stderr, and no credential ever written.

Requests are not logged by default (no access log). Uvicorn reports malformed
HTTP with the offending line, which may carry an ``Authorization`` header; the
formatter redacts bearer and basic credentials and anything token-like after
``token=`` from every message and traceback before it is written.
"""

from __future__ import annotations

import logging
import re
import sys

_SECRETS = re.compile(r"(?i)(bearer|basic|token[=:])(\s*)[^\s'\",;)\]]+")
# The agent's rule (agent.output.printable; the packages ship apart, tests hold both to the
# same cases): each run of C0/C1 controls or DEL one space, bidirectional marks removed.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]+")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text a room sent (its name, its unit) safe for a terminal or a log line."""
    return _CONTROLS.sub(" ", _BIDI.sub("", text)).strip()


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: f"{m.group(1)}{m.group(2) or ' '}[redacted]", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _ShortProtocolErrors(logging.Filter):
    """Malformed HTTP from a client is one line, not a traceback: it is the client's mistake."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith("Invalid HTTP request"):
            error = record.exc_info[1]
            record.msg = f"{record.msg} ({type(error).__name__}: {error})"
            record.exc_info = None
            record.exc_text = None
        return True


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own loggers propagate to this handler (uvicorn.run gets log_config=None).
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("uvicorn.error").addFilter(_ShortProtocolErrors())
