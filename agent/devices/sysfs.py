"""Reading device nodes straight from sysfs, for when udev is not available.

Containers often have ``/sys`` but no udevd. The kernel's own ``uevent``
files give the node name and driver; names and capture capability that udev
would add are missing (see ``classify``'s ``index`` rule), so the inventory
carries a warning.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.devices.classify import Ancestor, RawNode
from agent.devices.udev import NODE_ATTRIBUTES, PARENT_ATTRIBUTES, SUBSYSTEMS

# Keys the kernel itself writes into uevent files; anything else is not the kernel's.
KERNEL_KEYS = frozenset({"MAJOR", "MINOR", "DEVNAME", "DEVTYPE", "DRIVER", "PRODUCT", "TYPE",
                         "INTERFACE", "BUSNUM", "DEVNUM", "PCI_ID", "PCI_SLOT_NAME", "MODALIAS"})


def _uevent(directory: Path) -> dict[str, str]:
    try:
        text = (directory / "uevent").read_text(errors="replace")
    except OSError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines())
    return {k: v for k, sep, v in pairs if sep and k in KERNEL_KEYS}


def _attrs(directory: Path, names: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for name in names:
        try:
            values[name] = (directory / name).read_text(errors="replace").strip()
        except OSError:
            continue
    return values


def _link_name(path: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def _ancestors(directory: Path, devices_root: Path) -> tuple[Ancestor, ...]:
    found: list[Ancestor] = []
    parent = directory.parent
    while parent != devices_root and devices_root in parent.parents:
        if (parent / "uevent").exists():
            props = _uevent(parent)
            subsystem = _link_name(parent / "subsystem")
            found.append(Ancestor(
                sys_name=parent.name, subsystem=subsystem, devtype=props.get("DEVTYPE"),
                driver=props.get("DRIVER") or _link_name(parent / "driver"),
                properties=props, attributes=_attrs(parent, PARENT_ATTRIBUTES),
            ))
            if subsystem == "pci" or (subsystem == "usb" and props.get("DEVTYPE") == "usb_device"):
                break
        parent = parent.parent
    return tuple(found)


def raw_nodes(sys_root: Path) -> list[RawNode]:
    """Every video and sound node under ``sys_root/class``, resolved to its place in ``devices/``."""
    sys_root = Path(os.path.realpath(sys_root))
    devices_root = sys_root / "devices"
    nodes: list[RawNode] = []
    for subsystem in SUBSYSTEMS:
        class_dir = sys_root / "class" / subsystem
        try:
            entries = sorted(class_dir.iterdir())
        except OSError:
            continue
        for entry in entries:
            directory = Path(os.path.realpath(entry))
            props = _uevent(directory)
            if "DEVNAME" not in props or devices_root not in directory.parents:
                continue
            props["SUBSYSTEM"] = subsystem
            props["DEVNAME"] = "/dev/" + props["DEVNAME"].removeprefix("/dev/")
            nodes.append(RawNode(
                devpath="/" + str(directory.relative_to(sys_root)),
                subsystem=subsystem, properties=props,
                attributes=_attrs(directory, NODE_ATTRIBUTES),
                ancestors=_ancestors(directory, devices_root), from_udev=False,
            ))
    return sorted(nodes, key=lambda n: n.devpath)
