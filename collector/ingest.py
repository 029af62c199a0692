"""Heartbeat ingest: validation against the JSON Schema and the single batching writer.

Parsing and validation are pure (``parse_heartbeat``) so tests feed them bytes.
The writer is one thread with the one connection that writes heartbeats: each
request hands its heartbeat over and awaits the commit, and the thread commits
whatever has queued up meanwhile in one transaction, so the cost of a commit is
shared by every heartbeat that arrived during the previous one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import fastjsonschema
import jsonschema
import jsonschema.exceptions

from collector.history import figures_of
from collector.status import judged_status
from collector.store import Event, Heartbeat, Store

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "heartbeat-v1.schema.json"
MAX_BODY = 256 * 1024
MAX_BATCH = 512
CHECKPOINT_EVERY_S = 0.5
# Beyond this the WAL is restarted even if that makes the writer wait a moment.
WAL_LIMIT_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Rejection:
    """Why a heartbeat was refused: HTTP status, metric reason, message, field path."""

    status: int
    reason: str
    message: str
    path: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "reason": self.reason}
        if self.path is not None:
            out["path"] = self.path
        return out


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _field_path(parts: Any) -> str:
    """``['checks', 2, 'status']`` -> ``checks[2].status``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def compile_fast(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """The schema compiled by fastjsonschema: valid or not, nothing more.

    The schema keeps to what drafts 07 and 2020-12 read alike, so the compiled
    code and jsonschema agree (tests/test_collector_fuzz.py holds them to it).
    Formats are left unchecked, as jsonschema leaves them without a format
    checker: the patterns next to them are the rule.
    """
    check = fastjsonschema.compile(schema, formats={"date-time": lambda _value: True})

    def valid(doc: Any) -> bool:
        try:
            check(doc)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return valid


class Validator:
    """The heartbeat JSON Schema, compiled once.

    Valid documents (nearly all of them) take the compiled fast path; an invalid
    one goes through jsonschema as well, whose best_match names the field a
    technician has to fix.
    """

    def __init__(self, schema_path: Path = SCHEMA_PATH) -> None:
        schema = json.loads(schema_path.read_text())
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        self._validator = cls(schema)
        self._fast = compile_fast(schema)

    def problem(self, doc: Any) -> Rejection | None:
        """None when valid; otherwise the most relevant error and the path of the failing field."""
        if self._fast(doc):
            return None
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(doc))
        if error is None:
            return None
        parts = list(error.absolute_path)
        # `required` and `additionalProperties` fail on the parent object: name the field itself.
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [k for k in error.validator_value if k not in error.instance]
            parts += missing[:1]
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = error.schema.get("properties", {})
            extra = [k for k in error.instance if k not in allowed]
            parts += extra[:1]
        path = _field_path(parts) or "$"
        message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
        return Rejection(422, "schema", f"{path}: {message}", path)


def decode(raw: bytes) -> Any:
    """Bytes of a request body -> a JSON value, or a Rejection (415) when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as err:
        return Rejection(415, "not_json", f"body is not JSON: {str(err)[:200]}")
    except RecursionError:
        return Rejection(422, "schema", "body is nested too deeply", "$")


def validate(doc: Any, validator: Validator) -> Rejection | None:
    try:
        return validator.problem(doc)
    except RecursionError:
        return Rejection(422, "schema", "body is nested too deeply", "$")


def parse_heartbeat(raw: bytes, validator: Validator) -> dict[str, Any] | Rejection:
    """Bytes of a request body -> the valid heartbeat document, or why it was refused."""
    doc = decode(raw)
    if isinstance(doc, Rejection):
        return doc
    return validate(doc, validator) or doc


# A JSON escape of a UTF-16 surrogate: the only way a lone surrogate can get into a string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_nul(value: Any) -> bool:
    """Whether a NUL character is in any string (key or value) of a parsed document."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def to_heartbeat(doc: dict[str, Any], raw: bytes, received_at: float) -> Heartbeat | Rejection:
    """A valid heartbeat document (and its bytes, stored as received) -> the row storage keeps."""
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return Rejection(422, "schema", "a string contains an unpaired surrogate (\\ud800-\\udfff)", "$")
        except RecursionError:
            return Rejection(422, "schema", "body is nested too deeply", "$")
    if b"\\u0000" in raw and _has_nul(doc):
        # PostgreSQL text cannot hold NUL, and no room name or check needs one: refused on both stores.
        return Rejection(422, "schema", "a string contains a NUL character (\\u0000)", "$")
    status, failing = judged_status(doc["status"], doc["checks"])
    room = doc["room"]
    return Heartbeat(
        room_id=doc["room_id"],
        seq=doc["seq"],
        sent_at=doc["sent_at"],
        received_at=received_at,
        interval_s=float(doc["interval_s"]),
        status=status,
        name=room.get("name"),
        unit=room.get("unit"),
        location=room.get("location"),
        contact=room.get("contact"),
        failing=json.dumps([c.__dict__ for c in failing], ensure_ascii=False),
        failing_names=" ".join(c.name for c in failing if c.status == "fail"),
        body=raw.decode("utf-8"),
        agent_instance=doc.get("agent_instance", ""),
        figures=figures_of(doc, status),
    )


_STOP = object()


class Writer:
    """The one thread that writes: batches heartbeats into single transactions.

    ``on_events`` is called on the event loop with the transitions each batch wrote.
    """

    def __init__(self, store: Store, on_events: Callable[[list[Event]], None]) -> None:
        self._store = store
        self._on_events = on_events
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="collector-writer", daemon=True)
        self._checkpointer = threading.Thread(target=self._checkpoint, name="collector-checkpoint", daemon=True)
        self._stopped = threading.Event()
        self.batches = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()
        self._checkpointer.start()

    def stop(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self._stopped.set()
        self._checkpointer.join(timeout=30)

    async def submit(self, hb: Heartbeat) -> str:
        """Queue one heartbeat and wait for its commit: STORED, DUPLICATE or SEQ_REUSED."""
        future: asyncio.Future[str] = self._loop.create_future()
        self._queue.put((hb, future))
        return await future

    async def call(self, job: Callable[[Store], Any]) -> Any:
        """Run ``job(store)`` on the writer thread (sweeps, purges) and wait for it."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put((job, future))
        return await future

    def _checkpoint(self) -> None:
        """Checkpoints off the ingest path (the writer's connection never checkpoints)."""
        while not self._stopped.wait(CHECKPOINT_EVERY_S):
            try:
                self._store.checkpoint(restart=self._store.wal_bytes() > WAL_LIMIT_BYTES)
            except Exception as err:  # busy or I/O: try again next round
                log.warning("WAL checkpoint failed: %s", err)
        self._store.checkpoint(restart=True)

    def _run(self) -> None:
        self._store.become_writer()
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        beats = [entry for entry in batch if isinstance(entry[0], Heartbeat)]
        jobs = [entry for entry in batch if not isinstance(entry[0], Heartbeat)]
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        events: list[Event] = []
        if beats:
            try:
                stored, events = self._store.write_heartbeats([b[0] for b in beats])
                outcomes += [(b[1], s, None) for b, s in zip(beats, stored)]
            except Exception:
                # One bad row must not fail the others: retry one by one.
                log.exception("batch of %d heartbeats failed; retrying one by one", len(beats))
                for b in beats:
                    try:
                        (s,), ev = self._store.write_heartbeats([b[0]])
                        outcomes.append((b[1], s, None))
                        events += ev
                    except Exception as err:
                        outcomes.append((b[1], None, err))
            self.batches += 1
        for job, future in jobs:
            try:
                outcomes.append((future, job(self._store), None))
            except Exception as err:
                log.exception("writer job failed")
                outcomes.append((future, None, err))
        try:
            self._loop.call_soon_threadsafe(_resolve, outcomes, events, self._on_events)
        except RuntimeError:
            pass  # the loop is closed: nobody waits any more


def _resolve(
    outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]],
    events: list[Event],
    on_events: Callable[[list[Event]], None],
) -> None:
    for future, value, error in outcomes:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    if events:
        on_events(events)

