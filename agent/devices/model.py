"""The values the device layer hands out: a device, the inventory, a hot-plug event.

Their JSON shapes are the ``devices`` part of the heartbeat
(``collector/schema/heartbeat-v1.schema.json``) and of ``bridge-agent devices --json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

KINDS = ("camera", "microphone", "speaker", "display")
PLURAL = {"camera": "cameras", "microphone": "microphones", "speaker": "speakers", "display": "displays"}


@dataclass
class Device:
    """One camera, microphone, speaker or display as a technician and the control centre see it."""

    kind: str  # "camera" | "microphone" | "speaker" | "display"
    id: str  # stable across re-plugging: vendor:product+serial, else the port path
    name: str
    node: str  # /dev/video0, /dev/snd/pcmC1D0c; a display: its DRM connector, card0-HDMI-A-1
    bus: str  # "usb" | "pci" | "platform" | "virtual" | "drm"
    vendor_id: str | None = None  # 4 lowercase hex digits
    product_id: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    virtual: bool = False
    in_use: bool | None = None  # None: could not be determined (no permission, no /proc)
    card: int | None = None  # ALSA only
    device: int | None = None  # ALSA only
    # What decided ``in_use``: "usb-streaming" (sysfs alternate setting), "open-handle"
    # (/proc/<pid>/fd), "alsa" (/proc/asound); None when nothing could tell.
    in_use_signal: str | None = None
    connector: str | None = None  # DRM only: "HDMI-A-1"

    def to_json(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "kind"}
        if self.card is None:
            del doc["card"], doc["device"]
        if self.connector is None:
            del doc["connector"]
        return doc

    def identity(self) -> tuple[Any, ...]:
        """Everything but ``in_use``: what a hot-plug change is about."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name not in ("in_use", "in_use_signal"))

    def in_use_text(self) -> str:
        """Which signal said what, for a technician: "camera C920 streaming"."""
        what = f"{self.kind} {self.model or self.name}"
        if self.in_use is None:
            why = ("no permission to see other processes" if self.kind == "camera"
                   else "/proc/asound does not say")
            return f"{what}: in use unknown ({why})"
        verbs = {"usb-streaming": "streaming", "open-handle": "open in a program",
                 "alsa": "recording" if self.kind == "microphone" else "playing"}
        verb = verbs.get(self.in_use_signal or "", "in use")
        return f"{what} {verb}" if self.in_use else f"{what} not in use"


@dataclass
class Inventory:
    cameras: list[Device] = field(default_factory=list)
    microphones: list[Device] = field(default_factory=list)
    speakers: list[Device] = field(default_factory=list)
    # Connected monitors (DRM connectors with status "connected"); never in use, never opened.
    displays: list[Device] = field(default_factory=list)
    source: str = "udev"  # "udev" or "sysfs" (udev not available, e.g. in a container)
    warnings: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Device]:
        return getattr(self, PLURAL[kind])

    def all(self) -> list[Device]:
        return [*self.cameras, *self.microphones, *self.speakers, *self.displays]

    def to_json(self) -> dict[str, Any]:
        return {plural: [d.to_json() for d in self.of_kind(kind)] for kind, plural in PLURAL.items()}

    def any_in_use(self) -> bool:
        """A camera or microphone is in use: a meeting is probably running."""
        return any(d.in_use for d in [*self.cameras, *self.microphones])

    def busy(self) -> bool | None:
        """Tri-state: True a meeting is probably running, None it may be (some in-use state unknown)."""
        states = [d.in_use for d in [*self.cameras, *self.microphones]]
        if any(states):
            return True
        return None if None in states else False

    def in_use_reason(self) -> str:
        """The signal behind ``busy()``: "meeting in progress: camera C920 streaming"."""
        meeting = [*self.cameras, *self.microphones]
        used = [d for d in meeting if d.in_use]
        if used:
            return "meeting in progress: " + ", ".join(d.in_use_text() for d in used)
        unknown = [d for d in meeting if d.in_use is None]
        if unknown:
            return "; ".join(d.in_use_text() for d in unknown)
        return "room idle: no camera or microphone in use"


@dataclass
class DeviceEvent:
    event: str  # "added" | "removed" | "changed"
    kind: str
    device: Device

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "kind": self.kind, "device": self.device.to_json()}


def diff(old: Inventory, new: Inventory) -> list[DeviceEvent]:
    """The hot-plug changes from ``old`` to ``new``, by stable id; ``in_use`` alone is no change."""
    events: list[DeviceEvent] = []
    for kind in KINDS:
        before = {d.id: d for d in old.of_kind(kind)}
        after = {d.id: d for d in new.of_kind(kind)}
        events += [DeviceEvent("removed", kind, d) for i, d in before.items() if i not in after]
        for i, d in after.items():
            if i not in before:
                events.append(DeviceEvent("added", kind, d))
            elif before[i].identity() != d.identity():
                events.append(DeviceEvent("changed", kind, d))
    return events
