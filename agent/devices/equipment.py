"""The room profile against what is plugged in: present, missing, undeclared. Pure: no I/O.

A profile (``[[equipment]]`` entries, see ``agent.config.EquipmentEntry``)
names what the room must have. ``match`` pairs each entry with one detected
device of its role; a device of a declared role that no entry took is
*undeclared* (drift: someone swapped the camera). ``profile_from`` turns the
devices attached now into entries, ``render`` writes them as TOML.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any

from agent.config import EQUIPMENT_TEXT_MAX, AgentConfig, EquipmentEntry
from agent.devices.model import KINDS, Device, Inventory

ONBOARD_BUSES = ("pci", "platform")
# The heartbeat's bound on undeclared devices (three kinds of at most 64 each; a room with
# that many has bigger problems than its displays, so the bound stays for older collectors).
UNDECLARED_MAX = 192


def onboard_audio(device: Device) -> bool:
    """Analog and HDMI audio of the PC itself: its PCMs exist whether or not anything is plugged in."""
    return device.kind in ("microphone", "speaker") and device.bus in ONBOARD_BUSES and not device.virtual


@dataclass(frozen=True)
class Counting:
    """Which devices count for the room without a declaration (``[policy]``)."""

    count_virtual: bool = False
    count_onboard_audio: bool = False

    def counts(self, device: Device) -> bool:
        if device.virtual and not self.count_virtual:
            return False
        return self.count_onboard_audio or not onboard_audio(device)


def usb_id(device: Device) -> str | None:
    if device.bus != "usb" or not device.vendor_id or not device.product_id:
        return None
    return f"{device.vendor_id}:{device.product_id}"


def _like(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value.casefold(), pattern.casefold())


def matches(entry: EquipmentEntry, device: Device) -> bool:
    """Pure: the entry describes the device (role, then USB id and serial, or bus and name patterns)."""
    if entry.role != device.kind:
        return False
    if entry.usb is not None:
        return usb_id(device) == entry.usb and (entry.serial is None or entry.serial == device.serial)
    return ((entry.bus is None or _like(device.bus, entry.bus))
            and (entry.name is None or _like(device.name, entry.name))
            and (entry.serial is None or entry.serial == device.serial)
            and (entry.connector is None or _like(device.connector or "", entry.connector)))


def describe(entry: EquipmentEntry) -> str:
    """How a technician recognises the entry: "Jabra SPEAK 510 USB (0b0e:0422)"."""
    if entry.usb is not None:
        ids = entry.usb + (f", serial {entry.serial}" if entry.serial else "")
        return f"{entry.model} ({ids})" if entry.model else ids
    pattern = " ".join(p for p in (entry.bus, f"'{entry.name}'" if entry.name else None,
                                   f"serial {entry.serial}" if entry.serial else None,
                                   f"on {entry.connector}" if entry.connector else None) if p)
    return f"{entry.model} ({pattern})" if entry.model else pattern


@dataclass(frozen=True)
class Pairing:
    entry: EquipmentEntry
    device: Device | None  # None: missing

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {k: v for k, v in (
            ("role", self.entry.role), ("label", self.entry.label), ("usb", self.entry.usb),
            ("serial", self.entry.serial), ("bus", self.entry.bus), ("name", self.entry.name),
            ("connector", self.entry.connector), ("model", self.entry.model)) if v not in (None, "")}
        doc["state"] = "present" if self.device else "missing"
        doc["device_id"] = self.device.id if self.device else None
        doc["device_name"] = self.device.name if self.device else None
        return doc

    def missing_text(self) -> str:
        label = f", declared '{self.entry.label}'" if self.entry.label else ""
        return f"missing: {describe(self.entry)}{label}"


@dataclass(frozen=True)
class EquipmentReport:
    pairings: list[Pairing] = field(default_factory=list)
    undeclared: list[Device] = field(default_factory=list)

    def of_kind(self, kind: str) -> tuple[list[Pairing], list[Device]]:
        return ([p for p in self.pairings if p.entry.role == kind],
                [d for d in self.undeclared if d.kind == kind])

    def to_json(self) -> dict[str, Any]:
        return {
            "declared": [p.to_json() for p in self.pairings],
            "undeclared": [{"role": d.kind, "device_id": d.id, "name": d.name, "node": d.node, "usb": usb_id(d)}
                           for d in self.undeclared[:UNDECLARED_MAX]],
        }


def _precedence(entry: EquipmentEntry) -> int:
    """The most specific entries choose first, so a pattern does not take a serial's device."""
    return 0 if entry.serial else 1 if entry.usb else 2


def match(entries: tuple[EquipmentEntry, ...], inventory: Inventory, counting: Counting) -> EquipmentReport:
    """Pair each entry with one device; undeclared: counted devices of a declared role left over."""
    taken: set[str] = set()
    chosen: dict[int, Device | None] = {}
    for index in sorted(range(len(entries)), key=lambda i: _precedence(entries[i])):
        entry = entries[index]
        candidates = (d for d in inventory.of_kind(entry.role or "") if d.id not in taken)
        device = next((d for d in candidates if matches(entry, d)), None)
        if device is not None:
            taken.add(device.id)
        chosen[index] = device
    roles = {e.role for e in entries}
    undeclared = [d for d in inventory.all() if d.kind in roles and d.id not in taken and counting.counts(d)]
    return EquipmentReport([Pairing(e, chosen[i]) for i, e in enumerate(entries)], undeclared)


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def entry_for(device: Device) -> EquipmentEntry:
    """The entry that declares ``device``: its USB id when it has one, else its bus and exact name.

    No serial: a like-for-like replacement of a broken device keeps the room ok.
    """
    model = (device.model or device.name)[:EQUIPMENT_TEXT_MAX]
    if device.kind == "display":
        # By the EDID's name alone: another unit of the same monitor, on any port, keeps the room ok.
        return EquipmentEntry(role="display", name=_glob_escape(device.name)[:EQUIPMENT_TEXT_MAX],
                              model=device.name[:EQUIPMENT_TEXT_MAX])
    if (ids := usb_id(device)) is not None:
        return EquipmentEntry(role=device.kind, usb=ids, model=model)
    return EquipmentEntry(role=device.kind, bus=device.bus, name=_glob_escape(device.name)[:EQUIPMENT_TEXT_MAX],
                          model=model)


def profile_from(inventory: Inventory, counting: Counting) -> tuple[EquipmentEntry, ...]:
    """The devices attached now that count for the room, as entries (cameras, microphones, speakers, displays)."""
    return tuple(entry_for(d) for kind in KINDS for d in inventory.of_kind(kind) if counting.counts(d))


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render(entries: tuple[EquipmentEntry, ...], header: str) -> str:
    """TOML text of ``entries``; ``header`` becomes comment lines at the top."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for entry in entries:
        lines += ["", "[[equipment]]", f"role = {_toml_string(entry.role or '')}"]
        for key in ("usb", "serial", "bus", "name", "connector", "model"):
            value = getattr(entry, key)
            if value is not None:
                lines.append(f"{key} = {_toml_string(value)}")
        lines.append(f"label = {_toml_string(entry.label)}" if entry.label else
                     '# label = "where it is, e.g. on the table"')
    return "\n".join(lines) + "\n"


def equipment_json(config: AgentConfig, inventory: Inventory | None) -> dict[str, Any] | None:
    """The heartbeat's ``equipment`` object; None without a profile or without an inventory yet."""
    if not config.equipment or inventory is None:
        return None
    counting = Counting(config.policy.count_virtual, config.policy.count_onboard_audio)
    return match(config.equipment, inventory, counting).to_json()
