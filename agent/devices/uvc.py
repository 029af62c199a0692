"""Whether a UVC camera is streaming, from sysfs alone (world-readable: no privilege needed).

An isochronous UVC camera's video-streaming interface (bInterfaceClass 0e,
bInterfaceSubClass 02) sits at alternate setting 0, which has no endpoint
and no bandwidth, until a program starts the stream; the kernel then selects
a non-zero ``bAlternateSetting`` and goes back to 0 when the stream stops.
A bulk-only camera streams on alternate setting 0 (its endpoint is there
all the time), so sysfs cannot tell: ``streaming`` says None and the caller
keeps the ``/proc/<pid>/fd`` method.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

VIDEO_CLASS = "0e"
STREAMING_SUBCLASS = "02"


@dataclass(frozen=True)
class UsbInterface:
    """One interface of a USB device as sysfs shows it (its current alternate setting)."""

    name: str  # 1-2:1.1
    interface_class: str  # two hex digits
    subclass: str
    alt_setting: int | None
    endpoint_types: tuple[str, ...] = ()  # "Isoc", "Bulk", "Interrupt", of the current setting

    @property
    def video_streaming(self) -> bool:
        return self.interface_class == VIDEO_CLASS and self.subclass == STREAMING_SUBCLASS


def streaming(interfaces: list[UsbInterface]) -> bool | None:
    """Pure: True when a video-streaming interface is at a non-zero alternate setting.

    False when every streaming interface is idle at setting 0 without a bulk
    endpoint; None when sysfs cannot say (no streaming interface, an unreadable
    setting, or a bulk camera).
    """
    video = [i for i in interfaces if i.video_streaming]
    if not video or any(i.alt_setting is None for i in video):
        return None
    if any(i.alt_setting for i in video):
        return True
    if any("Bulk" in i.endpoint_types for i in video):
        return None
    return False


def _attr(directory: Path, name: str) -> str | None:
    try:
        return (directory / name).read_text(errors="replace").strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text, 10) if text is not None else None
    except ValueError:
        return None


def usb_interfaces(usb_device_dir: Path) -> list[UsbInterface]:
    """The interfaces below a USB device's sysfs directory (``.../usb1/1-2``)."""
    prefix = usb_device_dir.name + ":"
    try:
        names = sorted(n for n in os.listdir(usb_device_dir) if n.startswith(prefix))
    except OSError:
        return []
    found = []
    for name in names:
        directory = usb_device_dir / name
        cls = _attr(directory, "bInterfaceClass")
        if cls is None:
            continue
        try:
            endpoints = sorted(n for n in os.listdir(directory) if n.startswith("ep_"))
        except OSError:
            endpoints = []
        types = tuple(t for ep in endpoints if (t := _attr(directory / ep, "type")))
        found.append(UsbInterface(name, cls.lower(), (_attr(directory, "bInterfaceSubClass") or "").lower(),
                                  _int(_attr(directory, "bAlternateSetting")), types))
    return found
