"""The one registry of checks, in the order they run and are reported.

Adding a check: write ``agent/checks/<area>_<what>.py`` with a function
``check_<what>(ctx) -> CheckResult`` and list it here. Nothing is discovered
by import magic.
"""

from __future__ import annotations

from agent.checks.av_camera import check_camera_frames
from agent.checks.av_display import check_display_connected
from agent.checks.av_microphone import check_microphone_level
from agent.checks.base import Check, CheckContext, run_checks
from agent.checks.config_check import check_config
from agent.checks.devices import check_cameras, check_microphones, check_speakers
from agent.checks.host_clock import check_clock
from agent.checks.host_disk import check_disk
from agent.checks.host_memory import check_memory
from agent.checks.host_temperature import check_temperature
from agent.checks.mcu_icmp import check_icmp
from agent.checks.mcu_sip import check_sip
from agent.checks.mcu_tcp import check_tcp
from agent.checks.net_common import GATE
from agent.checks.net_dns_aaaa import check_dns_aaaa
from agent.checks.net_ipv6_address import check_ipv6_address
from agent.checks.net_ipv6_route import check_ipv6_route
from agent.checks.net_link import check_link
from agent.checks.probe_bandwidth import check_download, check_upload
from agent.checks.probe_stamp import check_jitter, check_loss, check_rtt

__all__ = ["Check", "CheckContext", "REGISTRY", "run_checks", "select"]

REGISTRY: tuple[Check, ...] = (
    Check("config", "config", check_config),
    # -- devices: agent/checks/devices.py --
    Check("devices.cameras", "devices", check_cameras),
    Check("devices.microphones", "devices", check_microphones),
    Check("devices.speakers", "devices", check_speakers),
    # -- does the equipment work: agent/checks/av_*.py. The display check only reads sysfs and
    # runs every cycle; the camera and microphone ones open the device, at most every probe.av_every_s --
    Check("display.connected", "av", check_display_connected),
    Check("camera.frames", "av", check_camera_frames, av=True),
    Check("microphone.level", "av", check_microphone_level, av=True),
    # -- network chain, in order: agent/checks/net_*.py, mcu_*.py, probe_*.py --
    # Stages 1-4 gate everything after them; MCU and probe stages are independent.
    Check("net.link", "net", check_link),
    Check("net.ipv6_address", "net", check_ipv6_address, requires=GATE[:1]),
    Check("net.ipv6_route", "net", check_ipv6_route, requires=GATE[:2]),
    Check("net.dns_aaaa", "net", check_dns_aaaa, requires=GATE[:3]),
    Check("mcu.tcp", "mcu", check_tcp, requires=GATE),
    Check("mcu.sip", "mcu", check_sip, requires=GATE),
    Check("mcu.icmp", "mcu", check_icmp, requires=GATE),
    Check("probe.rtt", "probe", check_rtt, requires=GATE),
    Check("probe.jitter", "probe", check_jitter, requires=GATE),
    Check("probe.loss", "probe", check_loss, requires=GATE),
    Check("probe.upload", "probe", check_upload, requires=GATE, bandwidth=True),
    Check("probe.download", "probe", check_download, requires=GATE, bandwidth=True),
    # -- host --
    Check("host.disk", "host", check_disk),
    Check("host.memory", "host", check_memory),
    Check("host.temperature", "host", check_temperature),
    Check("host.clock", "host", check_clock),
)


def select(*areas: str, bandwidth: bool = True, av: bool = True) -> list[Check]:
    """The registered checks of ``areas`` (all when none given), in registry order."""
    return [
        check
        for check in REGISTRY
        if (not areas or check.area in areas) and (bandwidth or not check.bandwidth) and (av or not check.av)
    ]
