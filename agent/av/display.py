"""Monitors as the kernel sees them: DRM connectors with their EDID, and the ALSA ELD of HDMI/DP audio.

Everything here reads world-readable files under ``/sys/class/drm`` and
``/proc/asound``; no device node is opened. The parsers are pure and take the
file contents, so fixture trees and recorded blobs test them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

EDID_HEADER = bytes.fromhex("00ffffffffffff00")

# PNP manufacturer ids of the display makers a room is likely to have; others stay as the id.
VENDORS = {
    "SAM": "Samsung", "SEC": "Samsung", "GSM": "LG", "LGD": "LG", "DEL": "Dell", "HWP": "HP",
    "PHL": "Philips", "SNY": "Sony", "NEC": "NEC", "ACR": "Acer", "AUS": "ASUS", "BNQ": "BenQ",
    "VSC": "ViewSonic", "LEN": "Lenovo", "SHP": "Sharp", "PNR": "Planar", "IVM": "Iiyama",
    "EIZ": "EIZO", "HIS": "Hisense", "TCL": "TCL", "PAN": "Panasonic", "TSB": "Toshiba",
}


@dataclass(frozen=True)
class Edid:
    """What a technician needs from an EDID base block: who made the monitor, which one it is."""

    manufacturer: str  # PNP id, three letters
    product_code: int
    serial_number: int | None  # the numeric serial in bytes 12-15; None when zero
    name: str | None  # display product name descriptor (0xFC)
    serial: str | None  # display product serial descriptor (0xFF)
    year: int | None

    @property
    def vendor(self) -> str:
        return VENDORS.get(self.manufacturer, self.manufacturer)

    @property
    def label(self) -> str:
        """"Samsung SyncMaster": the vendor and the model name, without repeating the vendor."""
        if not self.name:
            return f"{self.vendor} {self.product_code:04x}"
        if self.name.lower().startswith(self.vendor.lower()):
            return self.name
        return f"{self.vendor} {self.name}"


def decode_edid(blob: bytes) -> Edid | None:
    """Pure: the base block of an EDID, or None when it is not one (short, bad header or checksum)."""
    if len(blob) < 128 or blob[:8] != EDID_HEADER or sum(blob[:128]) % 256 != 0:
        return None
    word = int.from_bytes(blob[8:10], "big")
    manufacturer = "".join(chr(ord("A") - 1 + ((word >> shift) & 0x1F)) for shift in (10, 5, 0))
    texts: dict[int, str] = {}
    for start in range(54, 126, 18):
        desc = blob[start:start + 18]
        # A display descriptor: pixel clock 0, then its tag; the text ends at a line feed.
        if desc[0] == 0 and desc[1] == 0 and desc[3] in (0xFC, 0xFF, 0xFE):
            text = desc[5:18].split(b"\n", 1)[0].decode("ascii", "replace").strip()
            texts.setdefault(desc[3], text)
    serial_number = int.from_bytes(blob[12:16], "little")
    return Edid(
        manufacturer=manufacturer,
        product_code=int.from_bytes(blob[10:12], "little"),
        serial_number=serial_number or None,
        name=texts.get(0xFC) or None,
        serial=texts.get(0xFF) or None,
        year=1990 + blob[17] if blob[17] else None,
    )


@dataclass(frozen=True)
class Connector:
    """One DRM connector (``card0-HDMI-A-1``) and what is plugged into it."""

    name: str  # "HDMI-A-1"
    card: str  # "card0"
    status: str  # "connected", "disconnected", "unknown"
    enabled: bool | None
    edid: Edid | None

    @property
    def connected(self) -> bool:
        return self.status == "connected"

    def text(self) -> str:
        what = self.edid.label if self.edid else "a display without EDID"
        return f"{what} on {self.name}"

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"connector": self.name, "card": self.card, "status": self.status,
                                  "enabled": self.enabled}
        if self.edid:
            doc.update(vendor=self.edid.vendor, model=self.edid.name, serial=self.edid.serial,
                       product_code=f"{self.edid.product_code:04x}")
        return doc


CONNECTOR_DIR = re.compile(r"^(card\d+)-(.+)$")


def parse_connector(dir_name: str, status: str | None, enabled: str | None, edid: bytes | None) -> Connector | None:
    """Pure: a connector from its sysfs directory name and attribute files; None for a non-connector."""
    match = CONNECTOR_DIR.match(dir_name)
    if match is None or status is None:
        return None
    state = (enabled or "").strip()
    return Connector(
        name=match.group(2),
        card=match.group(1),
        status=status.strip() or "unknown",
        enabled={"enabled": True, "disabled": False}.get(state),
        edid=decode_edid(edid) if edid else None,
    )


@dataclass(frozen=True)
class Eld:
    """The ELD an HDMI/DP sink hands the sound card: whether a monitor is there and its name."""

    card: int
    entry: str  # "eld#0.0"
    monitor_present: bool
    monitor_name: str | None


def parse_eld(card: int, entry: str, text: str) -> Eld:
    """Pure: ``/proc/asound/cardN/eld#D.S`` (``key<TAB>value`` lines)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition("\t")
        if key:
            fields[key.strip()] = value.strip()
    return Eld(card, entry, fields.get("monitor_present") == "1", fields.get("monitor_name") or None)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def read_connectors(sys: Path) -> list[Connector] | None:
    """The DRM connectors under ``sys``; None when there is no DRM at all (no graphics driver)."""
    drm = sys / "class/drm"
    if not drm.is_dir():
        return None
    found = []
    for directory in sorted(drm.iterdir()):
        try:
            edid = (directory / "edid").read_bytes()
        except OSError:
            edid = None
        connector = parse_connector(directory.name, _read_text(directory / "status"),
                                    _read_text(directory / "enabled"), edid)
        if connector is not None:
            found.append(connector)
    return found


def read_elds(proc: Path) -> list[Eld]:
    """Every ELD entry of every sound card under ``proc/asound``."""
    found = []
    for path in sorted((proc / "asound").glob("card*/eld#*")):
        card = path.parent.name.removeprefix("card")
        text = _read_text(path)
        if card.isdigit() and text is not None:
            found.append(parse_eld(int(card), path.name, text))
    return found
