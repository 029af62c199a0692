"""Displays for the inventory: each connected DRM connector as a ``Device`` of kind "display".

The connectors come from ``agent.av.display`` (sysfs only, nothing opened); this
module only says how a monitor looks as an inventory device, so the room
profile pairs and counts it like a camera. Pure.
"""

from __future__ import annotations

from agent.av.display import Connector
from agent.devices.model import Device


def display_id(connector: Connector) -> str:
    """Stable across re-plugging into another port: the EDID's maker, product and serial, else the port."""
    edid = connector.edid
    if edid is None:
        return f"drm-{connector.card}-{connector.name}"
    serial = edid.serial or (str(edid.serial_number) if edid.serial_number else None)
    base = f"edid-{edid.manufacturer}:{edid.product_code:04x}"
    return f"{base}-{serial}" if serial else f"{base}@{connector.name}"


def display_device(connector: Connector) -> Device:
    """The device a connected connector stands for: "Samsung SyncMaster" on card0-HDMI-A-1."""
    edid = connector.edid
    return Device(
        kind="display",
        id=display_id(connector),
        name=edid.label if edid else "display without EDID",
        node=f"{connector.card}-{connector.name}",
        bus="drm",
        vendor=edid.vendor if edid else None,
        model=edid.name if edid else None,
        serial=(edid.serial or (str(edid.serial_number) if edid.serial_number else None)) if edid else None,
        # A monitor is never "in use" by a meeting in the sense the room gate means.
        in_use=False,
        connector=connector.name,
    )


def display_devices(connectors: list[Connector] | None) -> list[Device]:
    """The connected connectors as devices; none without DRM."""
    return [display_device(c) for c in connectors or [] if c.connected]
