"""host.temperature: the hottest sensor against its own high and critical trip points.

Reads hwmon (``/sys/class/hwmon/*/temp*_input``), as lm-sensors and psutil do,
but below ``Paths.sys`` so fixture trees can stand in for real hardware. The
thresholds are the hardware's own (``temp*_max``/``temp*_crit``), not ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.checks.base import CheckContext
from agent.result import CheckResult, Status

NAME = "host.temperature"


@dataclass(frozen=True)
class Sensor:
    chip: str
    label: str
    celsius: float
    high: float | None
    critical: float | None


def _millidegrees(path: Path) -> float | None:
    try:
        return int(path.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def read_hwmon(sys_root: Path) -> list[Sensor]:
    sensors: list[Sensor] = []
    for chip_dir in sorted((sys_root / "class/hwmon").glob("hwmon*")):
        try:
            chip = (chip_dir / "name").read_text().strip()
        except OSError:
            chip = chip_dir.name
        for input_file in sorted(chip_dir.glob("temp*_input")):
            prefix = input_file.name.removesuffix("_input")
            celsius = _millidegrees(input_file)
            if celsius is None:
                continue
            try:
                label = (chip_dir / f"{prefix}_label").read_text().strip()
            except OSError:
                label = prefix
            sensors.append(
                Sensor(
                    chip=chip,
                    label=label,
                    celsius=celsius,
                    high=_millidegrees(chip_dir / f"{prefix}_max"),
                    critical=_millidegrees(chip_dir / f"{prefix}_crit"),
                )
            )
    return sensors


def assess_temperature(sensors: list[Sensor]) -> CheckResult:
    if not sensors:
        return CheckResult(NAME, Status.SKIP, "no temperature sensors on this machine",
                           code="host.temperature.no_sensors")

    def level(s: Sensor) -> int:
        if s.critical is not None and s.celsius >= s.critical:
            return 2
        if s.high is not None and s.celsius >= s.high:
            return 1
        return 0

    hottest = max(sensors, key=lambda s: (level(s), s.celsius))
    status = (Status.OK, Status.WARN, Status.FAIL)[level(hottest)]
    limit = hottest.critical if status is Status.FAIL else (hottest.high or hottest.critical)
    name = f"{hottest.chip} {hottest.label}"
    summary = f"hottest sensor {name} at {hottest.celsius:.0f}°C"
    if status is Status.FAIL:
        summary = f"overheating: {summary}, at or above its critical {hottest.critical:.0f}°C"
    elif status is Status.WARN:
        summary = f"running hot: {summary}, at or above its high mark {hottest.high:.0f}°C"
    return CheckResult(
        name=NAME,
        status=status,
        summary=summary,
        observed=hottest.celsius,
        threshold=limit,
        unit="°C",
        details={"sensors": [f"{s.chip}/{s.label}={s.celsius:g}" for s in sensors]},
        code="host.temperature." + {Status.OK: "ok", Status.WARN: "hot", Status.FAIL: "critical"}[status],
        params={"sensor": name, "celsius": round(hottest.celsius), "limit": None if limit is None else round(limit)},
    )


def check_temperature(ctx: CheckContext) -> CheckResult:
    return assess_temperature(read_hwmon(ctx.paths.sys))
