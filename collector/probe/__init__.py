"""The test responder rooms measure against: STAMP reflector and HTTP bandwidth endpoints.

    StampReflector(host, port)   RFC 8762 session-reflector, unauthenticated, stateless
    routes()                     Starlette routes GET /api/v1/probe/download, POST /api/v1/probe/upload
    run_probe_server(...)        both together: ``bridge-collector probe-serve``
"""

from collector.probe.http import routes
from collector.probe.server import run_probe_server
from collector.probe.stamp import StampReflector

__all__ = ["StampReflector", "routes", "run_probe_server"]
