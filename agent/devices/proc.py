"""What ``/proc`` says about the sound cards and who holds a device open.

Nothing here opens a device node: a camera or microphone a meeting is using
must never be grabbed. ALSA publishes each substream's state in
``/proc/asound``; for cameras that sysfs cannot judge (``uvc``) the open file
handles of every process are compared with the node (``/proc/<pid>/fd``, readable for all processes only
as root: otherwise the answer may be "unknown").
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.devices.classify import parse_asound_cards, parse_asound_status, parse_pcm_info


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def asound_cards(proc: Path) -> dict[int, str]:
    text = _read(proc / "asound/cards")
    return parse_asound_cards(text) if text else {}


def pcm_name(proc: Path, card: int, device: int, direction: str) -> str | None:
    text = _read(proc / f"asound/card{card}/pcm{device}{direction}/info")
    return parse_pcm_info(text) if text else None


def alsa_in_use(proc: Path, card: int, device: int, direction: str) -> bool | None:
    """True when a substream of the PCM is running; None when ``/proc/asound`` does not say."""
    pcm_dir = proc / f"asound/card{card}/pcm{device}{direction}"
    states = [_read(sub / "status") for sub in sorted(pcm_dir.glob("sub*"))]
    readable = [parse_asound_status(text) for text in states if text is not None]
    if not readable:
        return None
    return any(status.in_use for status in readable)


@dataclass(frozen=True)
class NodeKey:
    """How an open handle is recognised: the same inode, or a character device with the same number."""

    dev: int
    ino: int
    rdev: int  # 0 when not a character device


def node_key(path: Path) -> NodeKey | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return NodeKey(st.st_dev, st.st_ino, st.st_rdev if stat.S_ISCHR(st.st_mode) else 0)


def open_nodes(proc: Path, wanted: dict[NodeKey, str]) -> tuple[set[str], bool]:
    """Which of ``wanted`` (key -> node) some process holds open, and whether every process could be read.

    Only handles that point into a /dev (or end in one of the node paths, as
    under a relocated /dev) are stat()ed: cheap on a busy machine, and never a
    stat() of a file on a network filesystem that might hang.
    """
    if not wanted:
        return set(), True
    by_inode = {(k.dev, k.ino): node for k, node in wanted.items()}
    by_rdev = {k.rdev: node for k, node in wanted.items() if k.rdev}
    suffixes = tuple(set(wanted.values()))
    found: set[str] = set()
    complete = True
    own = str(os.getpid())
    try:
        pids = [name for name in os.listdir(proc) if name.isdigit() and name != own]
    except OSError:
        return set(), False
    for pid in pids:
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except PermissionError:
            complete = False
            continue
        except OSError:
            continue  # the process exited meanwhile
        for fd in fds:
            link = fd_dir / fd
            try:
                target = os.readlink(link)
                if not (target.startswith("/dev/") or target.endswith(suffixes)):
                    continue
                st = os.stat(link)
            except OSError:
                continue
            node = by_inode.get((st.st_dev, st.st_ino)) or (by_rdev.get(st.st_rdev) if st.st_rdev else None)
            if node is not None:
                found.add(node)
    return found, complete
