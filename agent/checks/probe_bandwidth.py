"""probe.upload, probe.download: goodput to the responder (HTTP streams or the iperf3 client).

Heavy on the link by design: registered with ``bandwidth=True`` so the service
runs them rarely and never during a meeting.
"""

from __future__ import annotations

import ssl

from agent.checks.base import CheckContext
from agent.checks.net_common import bracket, host_address, progress, skip
from agent.checks.probe_stamp import NO_RESPONDER
from agent.config import AgentConfig, ProbeTarget, read_token
from agent.errors import ConfigError
from agent.net.bandwidth import Responder, http_bandwidth
from agent.net.iperf3 import IPERF3_PORT, iperf3_bandwidth, server_busy
from agent.result import CheckResult, Status


def assess_bandwidth(
    name: str, mbps: float | None, error: str | None, minimum: float, where: str, details: dict
) -> CheckResult:
    direction = name.split(".")[1]
    if mbps is None:
        return CheckResult(
            name,
            Status.FAIL,
            f"{direction} to {where}: {error}",
            threshold=minimum,
            unit="Mbit/s",
            details=details,
            code="bandwidth.failed",
            params={"direction": direction, "where": where, "error": error},
        )
    summary = f"{direction} {mbps:.1f} Mbit/s to {where}"
    status = Status.OK if mbps >= minimum else Status.FAIL
    if status is Status.FAIL:
        summary = f"{direction} too slow: {summary}, need at least {minimum:g} Mbit/s"
    return CheckResult(
        name, status, summary, observed=mbps, threshold=minimum, unit="Mbit/s", details=details,
        code="bandwidth.ok" if status is Status.OK else "bandwidth.too_slow",
        params={"direction": direction, "mbps": round(mbps, 1), "minimum": minimum, "where": where},
    )


def _measure(ctx: CheckContext, name: str, direction: str, minimum: float) -> CheckResult:
    probe = ctx.config.probe
    target = ctx.config.probe_target
    if target is None:
        return skip(name, NO_RESPONDER)
    host = target.host
    address = host_address(ctx, host)
    if address is None:
        return CheckResult(name, Status.FAIL, f"{direction}: responder {host} has no IPv6 address",
                           code="net.no_aaaa", params={"host": host})
    report = progress(ctx)
    details: dict = {"mode": probe.mode, "streams": probe.streams, "duration_s": probe.duration_s}
    if probe.mode == "iperf3":
        where = f"iperf3 at {bracket(address)}:{IPERF3_PORT}"
        report(name, f"{direction}: {where}, {probe.duration_s:g} s")
        result = iperf3_bandwidth(address, direction, probe.duration_s, probe.streams)
        if result.mbps is None and result.error and server_busy(result.error):
            # Still busy after its own retries: another room's test, nothing about this link.
            busy = skip(name, f"{direction}: {where} was busy with another room's test; measured at the next run")
            busy.code, busy.params = "bandwidth.responder_busy", {"direction": direction, "responder": where}
            return busy
        return assess_bandwidth(name, result.mbps, result.error, minimum, where, details)
    try:
        responder = _responder(ctx.config, target, address)
    except ConfigError as err:
        return CheckResult(name, Status.FAIL, f"{direction}: {err}", threshold=minimum, unit="Mbit/s",
                           details=details, code="bandwidth.failed",
                           params={"direction": direction, "where": host, "error": str(err)})
    except (OSError, ssl.SSLError) as err:  # unreadable CA or client certificate
        return CheckResult(name, Status.FAIL, f"{direction}: central.ca_file/client_cert unusable: {err}",
                           threshold=minimum, unit="Mbit/s", details=details, code="bandwidth.tls_files",
                           params={"direction": direction, "error": str(err)})
    where = responder.url

    def tick(fraction: float, mbps: float | None) -> None:
        figure = f", {mbps:.1f} Mbit/s" if mbps is not None else ""
        report(name, f"{direction} {fraction * 100:3.0f}%{figure}")

    measured = http_bandwidth(direction, responder, probe.duration_s, probe.streams, progress=tick)
    details.update(bytes=measured.bytes_measured, seconds=measured.seconds)
    if measured.busy:
        # Other rooms were measuring: says nothing about this room's link.
        return skip(name, f"{direction}: the responder at {where} was busy with other rooms' transfers; "
                          "measured at the next run", "check.skipped.responder_busy")
    return assess_bandwidth(
        name, measured.mbps, "; ".join(measured.errors), minimum, where, details
    )


def _responder(config: AgentConfig, target: ProbeTarget, address: str) -> Responder:
    """The room's token (ConfigError naming central.token_file) and, for an https target (probe.tls,
    and an https:// central.url when the responder is the collector), TLS trusting central.ca_file
    (else the system store) with the room's client certificate if set."""
    central = config.central
    token = read_token(central.token_file)
    tls = None
    if target.scheme == "https":
        tls = ssl.create_default_context(cafile=str(central.ca_file) if central.ca_file else None)
        if central.client_cert and central.client_key:
            tls.load_cert_chain(central.client_cert, central.client_key)
    return Responder(address, target.http_port, token, tls, server_name=target.host.strip("[]"))


def check_upload(ctx: CheckContext) -> CheckResult:
    return _measure(ctx, "probe.upload", "upload", ctx.config.policy.min_upload_mbps)


def check_download(ctx: CheckContext) -> CheckResult:
    return _measure(ctx, "probe.download", "download", ctx.config.policy.min_download_mbps)
