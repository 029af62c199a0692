"""The one registry of checks, in the order they run and are reported.

Adding a check: write ``agent/checks/<area>_<what>.py`` with a function
``check_<what>(ctx) -> CheckResult`` and list it here. Nothing is discovered
by import magic.
"""

from __future__ import annotations

from agent.checks.base import Check, CheckContext, run_checks
from agent.checks.config_check import check_config
from agent.checks.devices import check_cameras, check_microphones, check_speakers
from agent.checks.host_clock import check_clock
from agent.checks.host_disk import check_disk
from agent.checks.host_memory import check_memory
from agent.checks.host_temperature import check_temperature

__all__ = ["Check", "CheckContext", "REGISTRY", "run_checks", "select"]

REGISTRY: tuple[Check, ...] = (
    Check("config", "config", check_config),
    # -- devices: agent/checks/devices.py --
    Check("devices.cameras", "devices", check_cameras),
    Check("devices.microphones", "devices", check_microphones),
    Check("devices.speakers", "devices", check_speakers),
    # -- network chain, in order: agent/checks/net_*.py, mcu_*.py, probe_*.py --
    # -- host --
    Check("host.disk", "host", check_disk),
    Check("host.memory", "host", check_memory),
    Check("host.temperature", "host", check_temperature),
    Check("host.clock", "host", check_clock),
)


def select(*areas: str, bandwidth: bool = True) -> list[Check]:
    """The registered checks of ``areas`` (all when none given), in registry order."""
    return [
        check
        for check in REGISTRY
        if (not areas or check.area in areas) and (bandwidth or not check.bandwidth)
    ]
