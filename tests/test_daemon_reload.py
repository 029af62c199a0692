"""FileWatcher on a real filesystem (inotify): files in two directories, edits in place and by rename."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from agent.daemon.reload import FileWatcher


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.changed.set()

    def wait(self, timeout: float = 5) -> bool:
        """Called within ``timeout``; the rest of the same save's events are let through first."""
        hit = self.changed.wait(timeout)
        time.sleep(0.2)
        self.changed.clear()
        return hit


def _quiet(counter: Counter, seconds: float = 0.5) -> bool:
    """True when ``counter`` was not called for ``seconds``."""
    counter.changed.clear()
    return not counter.changed.wait(seconds)


def test_watches_files_in_two_directories_in_place_and_by_rename(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "secrets").mkdir()
    config, token = tmp_path / "etc/agent.toml", tmp_path / "secrets/token"
    config.write_text("a")
    token.write_text("old")
    on_config, on_token = Counter(), Counter()
    watcher = FileWatcher()
    watcher.start()
    try:
        assert watcher.watch(config, on_config) is None
        assert watcher.watch(token, on_token) is None
        token.write_text("new")  # in place
        assert on_token.wait() and not on_config.changed.is_set()
        new = tmp_path / "secrets/.token.tmp"
        new.write_text("newer")
        assert _quiet(on_token, 0.3)  # the temp file is a neighbour until it is renamed
        os.replace(new, token)  # as editors and install(1) do
        assert on_token.wait()
        (tmp_path / "secrets/other").write_text("x")  # a neighbour: not ours
        assert _quiet(on_token) and _quiet(on_config, 0.1)
        config.write_text("b")
        assert on_config.wait()
        watcher.unwatch(token)
        token.write_text("gone")
        assert _quiet(on_token)
    finally:
        watcher.stop()


def test_a_directory_that_cannot_be_watched_is_reported_not_fatal(tmp_path: Path) -> None:
    watcher = FileWatcher()
    watcher.start()
    try:
        problem = watcher.watch(tmp_path / "missing/token", Counter())
        assert problem is not None and str(tmp_path / "missing") in problem
        ok = Counter()
        assert watcher.watch(tmp_path / "agent.toml", ok) is None
        (tmp_path / "agent.toml").write_text("x")
        assert ok.wait()
    finally:
        watcher.stop()
