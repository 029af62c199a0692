"""Reading device nodes through libudev (pyudev): the normal case on a room PC.

udev adds what the kernel does not say: ``ID_V4L_CAPABILITIES`` (capture or
metadata node), vendor and model names from the hardware database, ``ID_PATH``.
In a container without udevd these are missing; ``udev_usable`` notices and
the caller falls back to sysfs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from agent.devices.classify import Ancestor, RawNode

if TYPE_CHECKING:
    import pyudev

SUBSYSTEMS = ("video4linux", "sound")
NODE_ATTRIBUTES = ("name", "index")
# Attributes of parents that identity() reads; reading all of them would be slow.
PARENT_ATTRIBUTES = ("idVendor", "idProduct", "manufacturer", "product", "serial", "vendor", "device", "id")


def _attrs(device: "pyudev.Device", names: Iterable[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in names:
        try:
            values[name] = device.attributes.asstring(name)
        except (KeyError, UnicodeDecodeError, OSError):
            continue
    return values


def _ancestor(device: "pyudev.Device") -> Ancestor:
    return Ancestor(
        sys_name=device.sys_name,
        subsystem=device.subsystem,
        devtype=device.device_type,
        driver=device.driver,
        properties=dict(device.properties),
        attributes=_attrs(device, PARENT_ATTRIBUTES),
    )


def raw_node(device: "pyudev.Device") -> RawNode:
    """Everything ``build_device`` needs about one node, up to its USB device or PCI function."""
    ancestors: list[Ancestor] = []
    parent = device.parent
    while parent is not None:
        ancestors.append(_ancestor(parent))
        if parent.subsystem == "pci" or (parent.subsystem == "usb" and parent.device_type == "usb_device"):
            break
        parent = parent.parent
    return RawNode(
        devpath=device.device_path,
        subsystem=device.subsystem or "",
        properties=dict(device.properties),
        attributes=_attrs(device, NODE_ATTRIBUTES),
        ancestors=tuple(ancestors),
        from_udev=True,
    )


def media_nodes(context: "pyudev.Context") -> list["pyudev.Device"]:
    """Video and sound device nodes (only those with a /dev node), in a stable order."""
    found = []
    for subsystem in SUBSYSTEMS:
        found += [d for d in context.list_devices(subsystem=subsystem) if d.device_node is not None]
    return sorted(found, key=lambda d: d.device_path)


def udev_usable(context: "pyudev.Context", nodes: list["pyudev.Device"], udev_data_dir_exists: bool) -> bool:
    """udevd is there (its database exists) or the nodes carry udev's own properties.

    ``ID_*`` and ``USEC_INITIALIZED`` are only ever set by udevd, never by the
    kernel; a container sees the kernel's devices without them.
    """
    if udev_data_dir_exists:
        return True
    candidates = nodes or list(context.list_devices(subsystem="usb"))[:20]
    return any(
        key == "USEC_INITIALIZED" or key.startswith("ID_")
        for device in candidates
        for key in device.properties
    )
