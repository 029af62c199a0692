"""Cameras, microphones and speakers: what is plugged in, who made it, whether a meeting uses it.

``scan()`` takes one inventory; ``DeviceWatcher`` calls back on hot-plug
changes. Enumeration goes through udev (pyudev) and falls back to sysfs when
udev is not available. No device node is ever opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.devices.classify import RawNode, build_device, classify, parse_asound_status, pcm_numbers
from agent.devices.model import KINDS, Device, DeviceEvent, Inventory, diff
from agent.devices.proc import alsa_in_use, asound_cards, node_key, open_nodes, pcm_name
from agent.devices.watch import DeviceWatcher
from agent.paths import Paths

if TYPE_CHECKING:
    import pyudev

__all__ = [
    "KINDS", "Device", "DeviceEvent", "DeviceWatcher", "Inventory",
    "classify", "diff", "parse_asound_status", "scan",
]


def _udev_nodes(paths: Paths, context: "pyudev.Context | None", warnings: list[str]) -> list[RawNode] | None:
    """The nodes as udev sees them, or None (with the reason in ``warnings``) to read sysfs instead."""
    if context is None:
        if paths.sys != Paths().sys:
            warnings.append(f"read from {paths.sys}, not through udev: names and capture capability are guesses")
            return None
        try:
            import pyudev

            context = pyudev.Context()
        except Exception as exc:  # ImportError, or libudev missing: both mean "no udev"
            warnings.append(f"udev not available ({exc}); devices read from sysfs, names may be incomplete")
            return None
    from agent.devices.udev import media_nodes, raw_node, udev_usable

    nodes = media_nodes(context)
    if not udev_usable(context, nodes, paths.udev_data.exists()):
        warnings.append("udev database not found (udevd not running?); devices read from sysfs,"
                        " names may be incomplete")
        return None
    raws = []
    for device in nodes:
        try:
            raws.append(raw_node(device))
        except Exception:  # unplugged while being read (a burst of remove events): it is gone
            continue
    return raws


def _dev_path(paths: Paths, node: str) -> Path:
    return paths.dev / node.removeprefix("/dev/")


def _fill_in_use(devices: list[Device], paths: Paths) -> None:
    for device in devices:
        if device.card is not None and device.device is not None:
            device.in_use = alsa_in_use(paths.proc, device.card, device.device, device.node[-1])
    cameras = [d for d in devices if d.kind == "camera"]
    keys = {}
    for camera in cameras:
        key = node_key(_dev_path(paths, camera.node))
        if key is not None:
            keys[key] = camera.node
    held, complete = open_nodes(paths.proc, keys)
    for camera in cameras:
        if camera.node in held:
            camera.in_use = True
        elif complete and camera.node in keys.values():
            camera.in_use = False


def scan(paths: Paths = Paths(), context: "pyudev.Context | None" = None) -> Inventory:
    """One inventory of the room's cameras, microphones and speakers."""
    warnings: list[str] = []
    raws = _udev_nodes(paths, context, warnings)
    source = "udev"
    if raws is None:
        from agent.devices.sysfs import raw_nodes

        raws, source = raw_nodes(paths.sys), "sysfs"
    cards = asound_cards(paths.proc)
    devices: list[Device] = []
    seen: set[str] = set()
    for raw in raws:
        devname = raw.properties.get("DEVNAME", "")
        names = {}
        if raw.subsystem == "sound":
            numbers = pcm_numbers(devname)
            if numbers and (name := pcm_name(paths.proc, *numbers)):
                names[numbers] = name
        device = build_device(raw, cards, names)
        if device is None:
            continue
        if device.id in seen:  # identical devices with the same serial: tell them apart by node
            device.id = f"{device.id}@{device.node}"
        seen.add(device.id)
        devices.append(device)
    _fill_in_use(devices, paths)
    inventory = Inventory(source=source, warnings=warnings)
    for device in devices:
        inventory.of_kind(device.kind).append(device)
    return inventory
