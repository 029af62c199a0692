"""Exception tree of the agent; every message is written for a technician.

    AgentError                  base of everything the agent raises on purpose
    ├── ConfigError             the configuration cannot be used (exit 78)
    ├── UsageError              the command line is wrong (exit 64)
    ├── DeviceError             device enumeration failed (udev, sysfs)
    ├── NetworkError            a network stage failed; names the stage
    └── DeliveryError           a heartbeat could not be spooled or sent
"""

from __future__ import annotations

from dataclasses import dataclass

EX_USAGE = 64
EX_CONFIG = 78


class AgentError(Exception):
    """Base class for errors the agent reports to the technician."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with one key of one configuration file."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        # "key = value: expected ..." reads as an assignment; other messages follow a colon.
        separator = " " if self.message.startswith("= ") else ": "
        return f"{where}{separator}{self.message}"


class ConfigError(AgentError):
    """The configuration is unusable; carries every problem found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(AgentError):
    """The command line asks for something the agent cannot do."""


class DeviceError(AgentError):
    """Cameras, microphones or speakers could not be enumerated."""


class NetworkError(AgentError):
    """A stage of the network chain failed; the message names the stage and cause."""


class DeliveryError(AgentError):
    """A heartbeat could not be written to the spool or delivered."""
