"""SIP OPTIONS ("ping") to the MCU over UDP or TCP (RFC 3261 §11).

Any SIP response, even 404 or 483, proves a SIP stack answers at that
address and port: reachability is what is checked, not authorisation.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from dataclasses import dataclass

from agent.net.route import os_error_words
from agent.output import printable

_URI_RE = re.compile(
    r"(?P<scheme>sips?):(?:[^@;]+@)?(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[A-Za-z0-9.-]+))"
    r"(?::(?P<port>\d{1,5}))?(?P<params>;.*)?"
)
_STATUS_RE = re.compile(rb"SIP/2\.0 (\d{3}) ?([^\r\n]*)\r?\n")
# RFC 3261 timer T1: UDP requests are retransmitted at T1, 2*T1, 4*T1, ...
T1 = 0.5


@dataclass(frozen=True)
class SipTarget:
    host: str
    port: int
    transport: str  # "udp" or "tcp"
    secure: bool  # sips: TLS, which this probe does not speak


@dataclass(frozen=True)
class SipOutcome:
    target: SipTarget
    address: str
    ok: bool
    ms: float
    status: int | None = None
    reason: str = ""
    error: str | None = None


def parse_sip_uri(uri: str) -> SipTarget:
    """``sip:[2001:db8::10]:5070;transport=tcp`` -> SipTarget; ValueError when malformed."""
    match = _URI_RE.fullmatch(uri.strip())
    if not match:
        raise ValueError(f"not a SIP URI: {uri!r}")
    secure = match["scheme"] == "sips"
    params = (match["params"] or "").lower()
    transport_match = re.search(r";transport=([a-z]+)", params)
    transport = transport_match.group(1) if transport_match else ("tcp" if secure else "udp")
    port = int(match["port"]) if match["port"] else (5061 if secure else 5060)
    return SipTarget(match["v6"] or match["host"], port, transport, secure)


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def build_options(
    target: SipTarget, local: tuple[str, int], call_id: str, branch: str, tag: str
) -> bytes:
    """An OPTIONS request from ``local`` (address, port) to ``target``."""
    host = _bracket(target.host)
    me = f"{_bracket(local[0])}:{local[1]}"
    lines = [
        f"OPTIONS sip:{host}:{target.port} SIP/2.0",
        f"Via: SIP/2.0/{target.transport.upper()} {me};branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:bridge-agent@{me}>;tag={tag}",
        f"To: <sip:{host}:{target.port}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:bridge-agent@{me};transport={target.transport}>",
        "Accept: application/sdp",
        "User-Agent: bridge-agent",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def parse_sip_response(data: bytes) -> tuple[int, str] | None:
    """(status code, reason phrase) of a SIP response, or None if ``data`` is not one."""
    match = _STATUS_RE.match(data)
    if not match:
        return None
    return int(match.group(1)), printable(match.group(2).decode("utf-8", "replace"))


def _ids() -> tuple[str, str, str]:
    return secrets.token_hex(8) + "@bridge-agent", secrets.token_hex(6), secrets.token_hex(4)


def _udp(target: SipTarget, address: str, timeout: float) -> tuple[int, str]:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.connect((address, target.port))
        call_id, branch, tag = _ids()
        request = build_options(target, sock.getsockname()[:2], call_id, branch, tag)
        deadline = time.monotonic() + timeout
        wait = T1
        while True:
            sock.send(request)
            sock.settimeout(max(0.001, min(wait, deadline - time.monotonic())))
            try:
                while True:
                    data = sock.recv(65535)
                    parsed = parse_sip_response(data)
                    if parsed and call_id.encode() in data:
                        return parsed
            except socket.timeout:
                if time.monotonic() >= deadline:
                    raise
                wait *= 2  # retransmit, RFC 3261 timer E


def _tcp(target: SipTarget, address: str, timeout: float) -> tuple[int, str]:
    with socket.create_connection((address, target.port), timeout=timeout) as sock:
        call_id, branch, tag = _ids()
        sock.sendall(build_options(target, sock.getsockname()[:2], call_id, branch, tag))
        data = b""
        while b"\r\n" not in data:
            piece = sock.recv(4096)
            if not piece:
                raise ConnectionResetError("connection closed without a SIP response")
            data += piece
        parsed = parse_sip_response(data)
        if parsed is None:
            raise ValueError("the answer is not SIP: " + printable(data[:40].decode("latin-1")))
        return parsed


def sip_options(target: SipTarget, address: str, timeout: float = 3.0) -> SipOutcome:
    """Send one OPTIONS to ``address`` (the resolved target host) and time the first response."""
    started = time.perf_counter()
    try:
        send = _tcp if target.transport == "tcp" else _udp
        status, reason = send(target, address, timeout)
    except OSError as err:
        ms = (time.perf_counter() - started) * 1000
        words = "no SIP response" if isinstance(err, socket.timeout) else os_error_words(err)
        return SipOutcome(target, address, False, round(ms, 2), error=words)
    except ValueError as err:
        ms = (time.perf_counter() - started) * 1000
        return SipOutcome(target, address, False, round(ms, 2), error=str(err))
    ms = (time.perf_counter() - started) * 1000
    return SipOutcome(target, address, True, round(ms, 2), status=status, reason=reason)
