"""The heartbeat's ``network`` object, read from the network checks' results.

Flat and schema-friendly (numbers, strings, lists, null): a figure that was
not measured in this run (check skipped, failed before measuring, or not run)
is None.
"""

from __future__ import annotations

from typing import Any, Iterable

from agent.result import CheckResult

FIELDS = (
    "ipv6_addresses",
    "source_address",
    "interface",
    "dns_ms",
    "rtt_min_ms",
    "rtt_avg_ms",
    "rtt_p95_ms",
    "jitter_ms",
    "loss_pct",
    "upload_mbps",
    "download_mbps",
)

# figure -> (check name, where the value is: "observed" or a details key)
_SOURCES: dict[str, tuple[str, str]] = {
    "source_address": ("net.ipv6_route", "source_address"),
    "interface": ("net.ipv6_route", "interface"),
    "dns_ms": ("net.dns_aaaa", "observed"),
    "rtt_min_ms": ("probe.rtt", "rtt_min_ms"),
    "rtt_avg_ms": ("probe.rtt", "rtt_avg_ms"),
    "rtt_p95_ms": ("probe.rtt", "rtt_p95_ms"),
    # The last session's figures; the verdicts' window figures are the checks' observed values.
    "jitter_ms": ("probe.jitter", "jitter_ms"),
    "loss_pct": ("probe.loss", "loss_pct"),
    "upload_mbps": ("probe.upload", "observed"),
    "download_mbps": ("probe.download", "observed"),
}


def _scalar(value: Any) -> Any:
    return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None


def network_figures(results: Iterable[CheckResult]) -> dict[str, Any]:
    """``{"ipv6_addresses": [...], "rtt_avg_ms": 12.3, ...}``; every field of FIELDS present."""
    by_name = {result.name: result for result in results}
    figures: dict[str, Any] = dict.fromkeys(FIELDS)
    addresses = by_name.get("net.ipv6_address")
    if addresses is not None:
        usable = addresses.details.get("usable")
        figures["ipv6_addresses"] = [str(a) for a in usable] if isinstance(usable, list) else None
    for figure, (check, where) in _SOURCES.items():
        result = by_name.get(check)
        if result is None:
            continue
        figures[figure] = _scalar(
            result.observed if where == "observed" else result.details.get(where)
        )
    return figures
