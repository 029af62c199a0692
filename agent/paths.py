"""Host paths in one value, so tests and ``--root`` point every reader at a fixture tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    sys: Path = Path("/sys")
    proc: Path = Path("/proc")
    dev: Path = Path("/dev")
    udev_data: Path = Path("/run/udev/data")

    @classmethod
    def under(cls, root: str | Path) -> "Paths":
        """All host paths below ``root`` (a fixture tree or a mounted system image)."""
        base = Path(root)
        return cls(
            sys=base / "sys",
            proc=base / "proc",
            dev=base / "dev",
            udev_data=base / "run/udev/data",
        )
