"""The test responder rooms measure against: STAMP reflector and HTTP bandwidth endpoints.

    StampReflector(host, port)   RFC 8762 session-reflector, unauthenticated, stateless
    routes(store_of, limit)      Starlette routes GET /api/v1/probe/download, POST /api/v1/probe/upload,
                                 for enrolled rooms only, ``limit`` transfers at once
    run_probe_server(...)        both together: ``bridge-collector probe-serve``
"""

from collector.probe.http import DEFAULT_MAX_TRANSFERS, MAX_BYTES, routes
from collector.probe.server import run_probe_server
from collector.probe.stamp import StampReflector

__all__ = ["DEFAULT_MAX_TRANSFERS", "MAX_BYTES", "StampReflector", "routes", "run_probe_server"]
