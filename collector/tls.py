"""Who may listen how: TLS by default, plain HTTP only on loopback or when asked for.

``serve`` and ``probe-serve`` carry room tokens (heartbeats, probe transfers), so
beyond loopback they speak TLS (``--tls-cert``/``--tls-key``), optionally asking
every client for a certificate from ``--tls-client-ca`` (mutual TLS). Plain HTTP
beyond loopback needs ``--insecure-http``, and is then reminded in the log at
start and every hour, so nobody forgets a test setting in production.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from collector.errors import UsageError

log = logging.getLogger("collector")

INSECURE_REMINDER_S = 3600.0


@dataclass(frozen=True)
class ListenerTls:
    """The TLS options of one HTTP listener, as given on the command line."""

    cert: str | None = None
    key: str | None = None
    client_ca: str | None = None
    insecure_http: bool = False

    @property
    def enabled(self) -> bool:
        return self.cert is not None


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    """The same four options on every subcommand that listens for HTTP."""
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain (with --tls-key)")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key")
    parser.add_argument("--tls-client-ca", metavar="FILE",
                        help="require a client certificate issued by this PEM CA (mutual TLS)")
    parser.add_argument("--insecure-http", action="store_true",
                        help="serve plain HTTP beyond loopback (tokens travel in clear; warned hourly)")


def tls_from_args(args: argparse.Namespace) -> ListenerTls:
    return ListenerTls(args.tls_cert, args.tls_key, args.tls_client_ca, args.insecure_http)


def is_loopback(host: str) -> bool:
    """``::1``, ``127.0.0.0/8`` and ``localhost``; ``::`` and ``0.0.0.0`` are every address."""
    if host == "localhost":
        return True
    return ipaddress.ip_address(host).is_loopback


def check_listener(listen: str, host: str, tls: ListenerTls) -> None:
    """Pure: refuse option combinations that would expose tokens, naming the fix."""
    if (tls.cert is None) != (tls.key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if tls.client_ca and not tls.enabled:
        raise UsageError("--tls-client-ca needs --tls-cert and --tls-key (client certificates are part of TLS)")
    if tls.insecure_http and tls.enabled:
        raise UsageError("--insecure-http contradicts --tls-cert: give one or the other")
    if not tls.enabled and not tls.insecure_http and not is_loopback(host):
        raise UsageError(
            f"refusing plain HTTP on {listen}: room tokens would cross the network in clear. "
            "Give --tls-cert FILE --tls-key FILE (see bridge-collector(8) to make a certificate), "
            "or --insecure-http to serve plain HTTP anyway")


def server_context(tls: ListenerTls) -> ssl.SSLContext:
    """Load the files now, so a wrong path or key is a usage error naming it, not a traceback."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(tls.cert, tls.key)  # type: ignore[arg-type]
    except (OSError, ssl.SSLError) as err:
        raise UsageError(f"--tls-cert {tls.cert} / --tls-key {tls.key}: {_words(err)}") from None
    if tls.client_ca:
        try:
            context.load_verify_locations(tls.client_ca)
        except (OSError, ssl.SSLError) as err:
            raise UsageError(f"--tls-client-ca {tls.client_ca}: {_words(err)}") from None
    return context


def _words(err: OSError | ssl.SSLError) -> str:
    if isinstance(err, ssl.SSLError):
        return f"not a usable PEM certificate/key ({err.reason or err})"
    return err.strerror or str(err)


def uvicorn_tls(tls: ListenerTls) -> dict[str, Any]:
    """``uvicorn.run`` keyword arguments for ``tls`` (empty for plain HTTP)."""
    if not tls.enabled:
        return {}
    server_context(tls)
    options: dict[str, Any] = {"ssl_certfile": tls.cert, "ssl_keyfile": tls.key}
    if tls.client_ca:
        options.update(ssl_ca_certs=tls.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def remind_insecure(listen: str, tls: ListenerTls, every_s: float = INSECURE_REMINDER_S) -> threading.Event | None:
    """Warn now and every ``every_s`` while plain HTTP is served beyond loopback; set the event to stop."""
    if not tls.insecure_http:
        return None
    stop = threading.Event()

    def warn() -> None:
        while True:
            log.warning("--insecure-http: serving plain HTTP on %s; room tokens cross the network in clear. "
                        "Give --tls-cert and --tls-key instead", listen)
            if stop.wait(every_s):
                return

    threading.Thread(target=warn, name="insecure-http-reminder", daemon=True).start()
    return stop
