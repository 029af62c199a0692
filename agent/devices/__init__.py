"""Cameras, microphones, speakers and displays: what is plugged in, who made it, whether a meeting uses it.

``scan()`` takes one inventory; ``DeviceWatcher`` calls back on hot-plug
changes. Enumeration goes through udev (pyudev) and falls back to sysfs when
udev is not available. No device node is ever opened. Whether a camera is in
use comes from its USB streaming interface in sysfs (``uvc``), else from open
handles in ``/proc`` (``proc``); ``Inventory.busy()`` is True, False or None
(unknown: possibly a meeting) and ``in_use_reason()`` says which signal decided.
Displays are the connected DRM connectors (``agent.devices.drm``), named by their EDID.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.av.display import read_connectors
from agent.devices.classify import RawNode, build_device, classify, parse_asound_status, pcm_numbers
from agent.devices.drm import display_devices
from agent.devices.model import KINDS, Device, DeviceEvent, Inventory, diff
from agent.devices.proc import alsa_in_use, asound_cards, node_key, open_nodes, pcm_name
from agent.devices.uvc import streaming, usb_interfaces
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


def usb_device_path(raw: RawNode) -> str | None:
    """Pure: the devpath of the USB device above a node (``/devices/.../usb1/1-2``), or None."""
    usb = next((a for a in raw.ancestors if a.subsystem == "usb" and a.devtype == "usb_device"), None)
    if usb is None:
        return None
    head, sep, _ = raw.devpath.partition(f"/{usb.sys_name}/")
    return head + "/" + usb.sys_name if sep else None


def _fill_in_use(devices: list[Device], usb_paths: dict[str, str], paths: Paths) -> None:
    """ALSA state for sound; for cameras sysfs streaming first, then open handles in /proc.

    Streaming (a non-zero alternate setting) or a handle held open means in use;
    an isochronous camera idle at setting 0 is not in use even when the other
    processes cannot be seen; otherwise unknown unless every process was read.
    """
    for device in devices:
        if device.card is not None and device.device is not None:
            device.in_use = alsa_in_use(paths.proc, device.card, device.device, device.node[-1])
            device.in_use_signal = "alsa" if device.in_use is not None else None
    cameras = [d for d in devices if d.kind == "camera"]
    streams: dict[str, bool | None] = {}
    keys = {}
    for camera in cameras:
        usb_path = usb_paths.get(camera.id)
        streams[camera.id] = streaming(usb_interfaces(paths.sys / usb_path.lstrip("/"))) if usb_path else None
        key = node_key(_dev_path(paths, camera.node))
        if key is not None:
            keys[key] = camera.node
    held, complete = open_nodes(paths.proc, keys)
    for camera in cameras:
        stream = streams[camera.id]
        if stream:
            camera.in_use, camera.in_use_signal = True, "usb-streaming"
        elif camera.node in held:
            camera.in_use, camera.in_use_signal = True, "open-handle"
        elif stream is False:
            camera.in_use, camera.in_use_signal = False, "usb-streaming"
        elif complete and camera.node in keys.values():
            camera.in_use, camera.in_use_signal = False, "open-handle"


def scan(paths: Paths = Paths(), context: "pyudev.Context | None" = None) -> Inventory:
    """One inventory of the room's cameras, microphones, speakers and connected displays."""
    warnings: list[str] = []
    raws = _udev_nodes(paths, context, warnings)
    source = "udev"
    if raws is None:
        from agent.devices.sysfs import raw_nodes

        raws, source = raw_nodes(paths.sys), "sysfs"
    cards = asound_cards(paths.proc)
    devices: list[Device] = []
    usb_paths: dict[str, str] = {}
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
        if device.kind == "camera" and (usb_path := usb_device_path(raw)):
            usb_paths[device.id] = usb_path
    _fill_in_use(devices, usb_paths, paths)
    devices += display_devices(read_connectors(paths.sys))
    inventory = Inventory(source=source, warnings=warnings)
    for device in devices:
        inventory.of_kind(device.kind).append(device)
    return inventory
