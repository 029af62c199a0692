"""Durable file writes: temp file, fsync, rename, fsync the directory.

After ``write_atomic`` returns, a power cut leaves either the old file or the
complete new one, never a torn file.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: str | Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: bytes, *, durable: bool = True, mode: int = 0o640) -> None:
    """Replace ``path`` with ``data``. ``durable=False`` skips the fsyncs (runtime files in tmpfs)."""
    directory, name = os.path.split(os.fspath(path))
    tmp = os.path.join(directory, f".{name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(directory or ".")


def is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")
