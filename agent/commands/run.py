"""``bridge-agent run``: the service. Foreground; systemd runs it (Type=notify).

An invalid configuration file exits 78 so systemd does not restart it
(RestartPreventExitStatus=78). A valid file that does not enrol the room yet
(no room.id, central.url or token, as right after installation) keeps the
service up, "waiting for configuration", until the file is edited.
"""

from __future__ import annotations

import argparse
import os
import sys

# httpx's optional command-line client pulls in rich, pygments and click (about 7 MB of
# resident memory, a sixth of the service's budget) when they happen to be installed;
# the service never uses it. Marking the module absent makes httpx skip it, as it
# does when those packages are missing. Must run before anything imports httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from agent.commands.common import paths_from
from agent.config import load_config, resolve_config_path


def main(args: argparse.Namespace) -> int:
    path, _ = resolve_config_path(args.config)
    # The service needs a file, even at the default path: a missing one is a configuration error.
    config = load_config(path, explicit=True)
    # Imported here: the on-site commands need neither httpx nor watchdog.
    from agent.daemon import logfmt
    from agent.daemon.service import Service

    logfmt.setup(config.agent.log_level)
    code = Service(path, config, paths_from(args)).run()
    sys.stderr.flush()
    # Worker threads may be blocked in a check or a request: leave without waiting for them
    # (every heartbeat write is complete; see Service._shutdown).
    os._exit(code)
