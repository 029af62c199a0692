"""Reloading the configuration and the token: on SIGHUP and when a file changes on disk.

Each file's directory is watched (editors and ``install`` replace files by
rename, which a watch on the file itself would miss) and events are filtered
to the files.

``decide`` is the pure policy: a new file that is invalid, or that would
un-enrol a running room, is refused and the running configuration stays.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from agent.config import AgentConfig, enrolment_problems, load_config
from agent.errors import ConfigError, ConfigProblem

log = logging.getLogger(__name__)


class _Handler(FileSystemEventHandler):
    def __init__(self, on_paths: Callable[[set[str]], None]) -> None:
        self.on_paths = on_paths  # not ``dispatch``: that is the base class's own entry point

    def on_any_event(self, event: FileSystemEvent) -> None:
        # A rename over the file (editors, ``install``) names it as dest_path, not src_path.
        paths = {getattr(event, "src_path", ""), getattr(event, "dest_path", "")}
        self.on_paths({os.path.abspath(p) for p in paths if p})


class FileWatcher:
    """Calls a file's callback (from the watcher's thread) whenever the file may have changed.

    The files may sit in different directories (the configuration in one, the
    token in another); each directory is watched once, for all its files.
    """

    def __init__(self) -> None:
        self._observer = Observer()
        self._observer.daemon = True
        self._handler = _Handler(self._dispatch)
        self._lock = threading.Lock()
        self._callbacks: dict[str, Callable[[], None]] = {}  # absolute file path -> callback
        self._watches: dict[str, ObservedWatch] = {}  # directory -> its watch

    def start(self) -> None:
        # Started empty: a directory that cannot be watched fails its own ``watch``, not all of them.
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()

    def watch(self, path: Path, callback: Callable[[], None]) -> str | None:
        """Watch ``path`` (replacing its callback); returns why it cannot be watched, or None."""
        target = os.path.abspath(path)
        directory = os.path.dirname(target)
        with self._lock:
            self._callbacks[target] = callback
            if directory in self._watches:
                return None
            try:
                self._watches[directory] = self._observer.schedule(self._handler, directory, recursive=False)
            except OSError as err:
                return f"cannot watch {directory}: {err.strerror or err}"
        return None

    def unwatch(self, path: Path) -> None:
        target = os.path.abspath(path)
        directory = os.path.dirname(target)
        with self._lock:
            self._callbacks.pop(target, None)
            still_used = any(os.path.dirname(t) == directory for t in self._callbacks)
            watch = self._watches.pop(directory, None) if not still_used else None
            if watch is not None:
                try:
                    self._observer.unschedule(watch)
                except (KeyError, OSError):  # the directory vanished: its watch went with it
                    pass

    def _dispatch(self, paths: set[str]) -> None:
        with self._lock:
            callbacks = [self._callbacks[p] for p in paths if p in self._callbacks]
        for callback in callbacks:
            callback()


@dataclass(frozen=True)
class Decision:
    config: AgentConfig | None  # the configuration to run from now on (None: keep the current one)
    error: str | None  # why the new file was refused, for the ``config`` check
    enrolled: bool


def describe(problems: list[ConfigProblem]) -> str:
    return "; ".join(str(p) for p in problems)


def decide(path: Path, running: bool) -> Decision:
    """Load ``path`` and decide what to do with it.

    ``running``: the room is enrolled and working (an un-enrolling edit is refused);
    otherwise the service is waiting for configuration and takes any valid file.
    """
    try:
        new = load_config(path, explicit=True)
    except ConfigError as err:
        return Decision(None, describe(err.problems), False)
    problems = enrolment_problems(new)
    if problems and running:
        return Decision(None, describe(problems), False)
    return Decision(new, None, not problems)
