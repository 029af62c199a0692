"""``bridge-agent profile save|show``: the room profile, what the room must have.

``save`` writes the devices attached now that count for the room (installation
day) to ``agent.equipment_file`` (default: equipment.toml beside agent.toml),
printing what it writes; it asks before overwriting an existing profile
(``--yes`` for scripts; without a terminal and without ``--yes`` it refuses).
``show`` compares the declared equipment with what is plugged in: present,
missing, undeclared. Its exit code is the device checks' worst status.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from agent import __version__
from agent.checks import run_checks, select
from agent.checks.devices import counting, equipment, inventory
from agent.commands.common import context_from, load_onsite_config
from agent.config import load_config, parse_equipment, resolve_config_path
from agent.devices.equipment import EquipmentReport, describe, profile_from, render, usb_id
from agent.errors import UsageError
from agent.output import format_result, print_json, room_line, use_colour, utc_now
from agent.result import Status, overall_status


def _write(path: Path, text: str) -> None:
    """Replace ``path`` in one step: a half-written profile is never read."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _confirm(path: Path, stream: IO[str]) -> bool:
    stream.write(f"{path} already holds the room profile; overwrite it? [y/N] ")
    stream.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def save(args: argparse.Namespace) -> int:
    path, explicit = resolve_config_path(args.config)
    main_only = load_config(path, explicit=explicit, with_equipment=False)
    if main_only.equipment:
        raise UsageError(f"{main_only.source} declares [[equipment]] itself; profile save writes"
                         f" {main_only.equipment_path}: move or remove those entries first, or edit them there")
    target = main_only.equipment_path
    exists = target.exists()
    if exists and not args.yes and not sys.stdin.isatty():
        raise UsageError(f"{target} exists: not overwriting the room profile without asking;"
                         " run on a terminal to confirm, or add --yes")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} does not exist: create it or set agent.equipment_file")
    ctx = context_from(args, main_only)
    inv = inventory(ctx)
    entries = profile_from(inv, counting(ctx))
    if not entries:
        print("bridge-agent: no camera, microphone, speaker or display that counts for the room is attached;"
              " nothing saved", file=sys.stderr)
        return Status.FAIL.exit_code
    header = (f"Room profile of {room_line(main_only)}: what the room must have.\n"
              f"Written by bridge-agent {__version__} profile save on {utc_now()} from the devices attached then.\n"
              "Edit the labels; see bridge-agent.toml(5), EQUIPMENT.")
    text = render(entries, header)
    assert parse_equipment(text, str(target)) == entries, "the profile does not read back as written"
    sys.stdout.write(text)
    sys.stdout.flush()
    for warning in inv.warnings:
        print(f"bridge-agent: warning: {warning}", file=sys.stderr)
    if exists and not args.yes and not _confirm(target, sys.stderr):
        print(f"bridge-agent: not saved; {target} is unchanged", file=sys.stderr)
        return Status.WARN.exit_code
    _write(target, text)
    print(f"bridge-agent: wrote {len(entries)} entries to {target}", file=sys.stderr)
    return 0


def _rows(report: EquipmentReport) -> list[tuple[str, str, str, str, str]]:
    """(state, role, what, label, node) for the table, declared first."""
    rows = []
    for pairing in report.pairings:
        device = pairing.device
        rows.append(("present" if device else "missing", pairing.entry.role or "", describe(pairing.entry),
                     pairing.entry.label, device.node if device else ""))
    for device in report.undeclared:
        ids = usb_id(device)
        rows.append(("undeclared", device.kind, device.name + (f" ({ids})" if ids else ""), "", device.node))
    return rows


def show_json(path: Path, report: EquipmentReport | None, status: Status) -> dict[str, Any]:
    doc = report.to_json() if report is not None else {"declared": [], "undeclared": []}
    return {"file": str(path), "profile": report is not None, "status": status.value, **doc}


def show(args: argparse.Namespace) -> int:
    config = load_onsite_config(args)
    ctx = context_from(args, config)
    inv = inventory(ctx)
    report = equipment(ctx)
    checks = select("devices")
    if any(entry.role == "display" for entry in config.equipment):
        # Displays are judged by display.connected (the only non-disturbing check of the av area).
        checks += select("av", av=False)
    results = run_checks(checks, ctx)
    status = overall_status(results)
    if args.json:
        print_json(show_json(config.equipment_path, report, status))
        return status.exit_code
    out = sys.stdout
    out.write(f"bridge-agent {__version__}, {room_line(config)}\n")
    if report is None:
        out.write(f"no room profile: {config.equipment_path} does not exist;"
                  " 'bridge-agent profile save' writes the devices attached now\n")
    else:
        out.write(f"room profile: {config.equipment_path} ({len(report.pairings)} declared)\n")
        for state, role, what, label, node in _rows(report):
            label = f"'{label}'" if label else ""
            out.write(f"{state:<10}  {role:<10}  {what:<44}  {label:<30}  {node}".rstrip() + "\n")
    for warning in inv.warnings:
        out.write(f"warning: {warning}\n")
    width = max(len(r.name) for r in results)
    colour = use_colour(out)
    for result in results:
        out.write(format_result(result, width, colour) + "\n")
    out.flush()
    return status.exit_code


def main(args: argparse.Namespace) -> int:
    return save(args) if args.profile_command == "save" else show(args)

