"""The bandwidth test against a collector behind https:// (the default target), over real TLS on [::1].

The responder's probe app runs under uvicorn with a certificate from a private
CA, on a socket bound here at port 0 and handed to it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from agent.checks.base import CheckContext
from agent.checks.probe_bandwidth import check_download, check_upload
from agent.config import parse_config
from agent.result import Status
from tests.conftest import REPO
from tests.daemon_helpers import Pki, make_pki

SERVE = (
    "import sys, uvicorn\n"
    "from collector.probe.server import probe_app\n"
    "uvicorn.run(probe_app(), fd=int(sys.argv[1]), ssl_certfile=sys.argv[2], ssl_keyfile=sys.argv[3],"
    " log_level='warning', access_log=False)\n"
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def https_responder(pki: Pki) -> Iterator[int]:
    listener = socket.socket(socket.AF_INET6)
    listener.bind(("::1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(listener.fileno()), str(pki.server_cert), str(pki.server_key)],
        cwd=REPO, pass_fds=(listener.fileno(),), stderr=subprocess.PIPE,
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        listener.close()
        if proc.stderr:
            proc.stderr.close()


def context(tmp_path: Path, port: int, ca: Path | None) -> CheckContext:
    (tmp_path / "token").write_text("t0k3n\n")
    ca_line = f'ca_file = "{ca}"\n' if ca else ""
    config = parse_config(
        f'[central]\nurl = "https://[::1]:{port}/api/v1/heartbeat"\ntoken_file = "{tmp_path / "token"}"\n{ca_line}'
        '[mcu]\nhost = "::1"\n'
        "[probe]\nduration_s = 1\nstreams = 2\n[policy]\nmin_upload_mbps = 1\nmin_download_mbps = 1\n"
    )
    return CheckContext(config=config)


def test_bandwidth_to_the_collector_over_https(tmp_path: Path, pki: Pki, https_responder: int) -> None:
    ctx = context(tmp_path, https_responder, pki.ca)
    for check in (check_download, check_upload):
        result = check(ctx)
        assert result.status is Status.OK, result.summary
        assert result.summary.endswith(f"to https://[::1]:{https_responder}")
        assert result.observed > 1


def test_untrusted_certificate_is_named(tmp_path: Path, https_responder: int) -> None:
    result = check_download(context(tmp_path, https_responder, None))
    assert result.status is Status.FAIL
    assert "TLS certificate is not trusted" in result.summary and "central.ca_file" in result.summary
