"""Reloading the configuration: on SIGHUP and when the file changes on disk.

The file's directory is watched (editors replace files by rename, which a
watch on the file itself would miss) and events are filtered to the file.
``decide`` is the pure policy: a new file that is invalid, or that would
un-enrol a running room, is refused and the running configuration stays.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agent.config import AgentConfig, enrolment_problems, load_config
from agent.errors import ConfigError, ConfigProblem

log = logging.getLogger(__name__)


class _Handler(FileSystemEventHandler):
    def __init__(self, target: Path, callback: Callable[[], None]) -> None:
        self.target = os.path.abspath(target)
        self.callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = {getattr(event, "src_path", ""), getattr(event, "dest_path", "")}
        if self.target in {os.path.abspath(p) for p in paths if p}:
            self.callback()


class ConfigWatcher:
    """Calls ``callback`` (from the watcher's thread) whenever the file may have changed."""

    def __init__(self, path: Path, callback: Callable[[], None]) -> None:
        self.path = path
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(_Handler(path, callback), str(Path(os.path.abspath(path)).parent), recursive=False)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()


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
