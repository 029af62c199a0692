"""Pure rules: which device node is a camera, microphone or speaker, and who made it.

No I/O here. The udev and sysfs readers turn a device node into a ``RawNode``
(its properties and attributes plus those of its parents, nearest first);
``build_device`` turns that into a ``Device``. The ``/proc/asound`` parsers
take file text. Tests feed all of them recorded data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from agent.devices.model import Device

_PCM = re.compile(r"^(?:/dev/)?snd/pcmC(\d+)D(\d+)([cp])$")
_HEX4 = re.compile(r"^(?:0x)?([0-9a-fA-F]{4})$")
# Drivers of sound cards that only loop audio back in software.
VIRTUAL_SOUND_DRIVERS = frozenset({"snd_aloop", "snd-aloop"})


@dataclass(frozen=True)
class Ancestor:
    """A parent of a device node in the sysfs tree (sound card, USB interface, USB device, PCI function)."""

    sys_name: str
    subsystem: str | None
    devtype: str | None = None
    driver: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RawNode:
    """What the readers collect about one device node; the only input of ``build_device``."""

    devpath: str  # below /sys, e.g. /devices/pci0000:00/.../video4linux/video0
    subsystem: str
    properties: Mapping[str, str]
    attributes: Mapping[str, str]
    ancestors: tuple[Ancestor, ...] = ()
    # False when read from sysfs without udev: no ID_* properties to rely on.
    from_udev: bool = True


@dataclass(frozen=True)
class AsoundStatus:
    """One ``/proc/asound/cardN/pcmDx/subS/status`` file."""

    state: str  # "CLOSED", "OPEN", "SETUP", "PREPARED", "RUNNING", "XRUN", "DRAINING", "PAUSED", ...
    owner_pid: int | None = None

    @property
    def in_use(self) -> bool:
        return self.state in ("RUNNING", "DRAINING") and self.owner_pid is not None


def pcm_numbers(devname: str) -> tuple[int, int, str] | None:
    """``/dev/snd/pcmC1D0c`` -> (card 1, device 0, "c")."""
    match = _PCM.match(devname)
    return (int(match[1]), int(match[2]), match[3]) if match else None


def classify(properties: Mapping[str, str], attributes: Mapping[str, str] | None = None,
             from_udev: bool = True) -> str | None:
    """``camera``, ``microphone``, ``speaker`` or None for a device node's udev properties.

    Cameras are video4linux nodes that can capture: a UVC webcam also exposes a
    metadata-only node, which is not a camera. Without udev (no
    ``ID_V4L_CAPABILITIES``) the node's ``index`` stands in: metadata nodes
    come after the capture node of the same device.
    """
    subsystem = properties.get("SUBSYSTEM")
    if subsystem == "video4linux":
        if not properties.get("DEVNAME", "").rpartition("/")[2].startswith("video"):
            return None  # v4l-subdev, radio, vbi, swradio nodes
        if from_udev:
            return "camera" if ":capture:" in properties.get("ID_V4L_CAPABILITIES", "") else None
        return "camera" if (attributes or {}).get("index", "0").strip() == "0" else None
    if subsystem == "sound":
        numbers = pcm_numbers(properties.get("DEVNAME", ""))
        if numbers:
            return "microphone" if numbers[2] == "c" else "speaker"
    return None


def hex4(value: str | None) -> str | None:
    """``0x8086`` / ``046D`` -> ``8086`` / ``046d``; anything else -> None."""
    match = _HEX4.match((value or "").strip())
    return match[1].lower() if match else None


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _usb_device(node: RawNode) -> Ancestor | None:
    return next((a for a in node.ancestors if a.subsystem == "usb" and a.devtype == "usb_device"), None)


def _pci_device(node: RawNode) -> Ancestor | None:
    return next((a for a in node.ancestors if a.subsystem == "pci"), None)


def _sound_card(node: RawNode) -> Ancestor | None:
    return next((a for a in node.ancestors if a.subsystem == "sound" and a.sys_name.startswith("card")), None)


@dataclass(frozen=True)
class Identity:
    bus: str
    vendor_id: str | None
    product_id: str | None
    vendor: str | None
    model: str | None
    serial: str | None
    virtual: bool
    base_id: str  # the stable part of the device id, shared by all nodes of one physical device


def identity(node: RawNode) -> Identity:
    """Maker, model and stable id from the nearest USB device or PCI function above the node."""
    virtual = node.devpath.startswith("/devices/virtual/") or any(
        a.driver in VIRTUAL_SOUND_DRIVERS for a in node.ancestors
    )
    usb = _usb_device(node)
    if usb is not None:
        a, p = usb.attributes, usb.properties
        vid = hex4(a.get("idVendor") or p.get("ID_VENDOR_ID"))
        pid = hex4(a.get("idProduct") or p.get("ID_MODEL_ID"))
        serial = _clean(a.get("serial") or p.get("ID_SERIAL_SHORT"))
        where = node.properties.get("ID_PATH") or p.get("ID_PATH") or f"usb-{usb.sys_name}"
        base = f"usb-{vid}:{pid}-{serial}" if serial else where
        return Identity(
            bus="usb", vendor_id=vid, product_id=pid,
            vendor=_clean(a.get("manufacturer") or p.get("ID_VENDOR_FROM_DATABASE") or p.get("ID_VENDOR")),
            model=_clean(a.get("product") or p.get("ID_MODEL_FROM_DATABASE") or p.get("ID_MODEL")),
            serial=serial, virtual=virtual, base_id=base,
        )
    pci = _pci_device(node)
    if pci is not None:
        a, p = pci.attributes, pci.properties
        return Identity(
            bus="pci", vendor_id=hex4(a.get("vendor")), product_id=hex4(a.get("device")),
            vendor=_clean(p.get("ID_VENDOR_FROM_DATABASE")), model=_clean(p.get("ID_MODEL_FROM_DATABASE")),
            serial=None, virtual=virtual,
            base_id=node.properties.get("ID_PATH") or f"pci-{pci.sys_name}",
        )
    if node.devpath.startswith("/devices/virtual/"):
        return Identity("virtual", None, None, None, None, None, True,
                        base_id=f"virtual-{node.devpath.rpartition('/')[2]}")
    top = node.ancestors[-1].sys_name if node.ancestors else node.devpath.rpartition("/")[2]
    return Identity("platform", None, None, None, None, None, virtual,
                    base_id=node.properties.get("ID_PATH") or f"platform-{top}")


def build_device(node: RawNode, cards: Mapping[int, str] | None = None,
                 pcm_names: Mapping[tuple[int, int, str], str] | None = None) -> Device | None:
    """The ``Device`` for a node, or None when it is neither camera, microphone nor speaker.

    ``cards`` maps ALSA card numbers to their names (``/proc/asound/cards``),
    ``pcm_names`` (card, device, "c"|"p") to the PCM's name (``.../pcmDx/info``).
    ``in_use`` is left unknown: it is I/O, filled in by the caller.
    """
    kind = classify(node.properties, node.attributes, node.from_udev)
    if kind is None:
        return None
    ident = identity(node)
    devname = node.properties.get("DEVNAME", "")
    node_path = devname if devname.startswith("/dev/") else f"/dev/{devname}"
    common = dict(
        kind=kind, node=node_path, bus=ident.bus, vendor_id=ident.vendor_id,
        product_id=ident.product_id, vendor=ident.vendor, model=ident.model,
        serial=ident.serial, virtual=ident.virtual,
    )
    if kind == "camera":
        name = _clean(node.properties.get("ID_V4L_PRODUCT") or node.attributes.get("name"))
        index = (node.attributes.get("index") or "0").strip()
        return Device(id=f"{ident.base_id}/capture{index}", name=name or ident.model or node_path, **common)
    card, number, direction = pcm_numbers(devname) or (0, 0, "c")
    card_anc = _sound_card(node)
    card_name = (cards or {}).get(card) or ident.model or (
        card_anc.attributes.get("id") if card_anc else None) or f"card {card}"
    pcm_name = (pcm_names or {}).get((card, number, direction)) or f"device {number}"
    return Device(
        id=f"{ident.base_id}/pcm{number}{direction}", name=f"{card_name}: {pcm_name}",
        card=card, device=number, **common,
    )


def parse_asound_status(text: str) -> AsoundStatus:
    """Parse a PCM substream ``status`` file: ``closed`` or ``state: RUNNING`` / ``owner_pid : 1234`` lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    if not values:
        return AsoundStatus("CLOSED" if text.strip().lower() == "closed" else text.strip().upper() or "CLOSED")
    owner = values.get("owner_pid", "")
    return AsoundStatus(values.get("state", "OPEN").upper(), int(owner) if owner.isdigit() else None)


def parse_asound_cards(text: str) -> dict[int, str]:
    """``/proc/asound/cards`` -> {card number: short name} (`` 0 [PCH ]: HDA-Intel - HDA Intel PCH``)."""
    cards: dict[int, str] = {}
    for line in text.splitlines():
        match = re.match(r"^\s*(\d+)\s+\[[^\]]*\]:\s*\S+\s+-\s+(.*)$", line)
        if match:
            cards[int(match[1])] = match[2].strip()
    return cards


def parse_pcm_info(text: str) -> str | None:
    """The ``name:`` line of ``/proc/asound/cardN/pcmDx/info`` (e.g. ``ALC892 Analog``)."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "name":
            return value.strip() or None
    return None
