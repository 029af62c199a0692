"""``bridge-agent config check``: is the file valid *and* enough to run the service?"""

from __future__ import annotations

import argparse
import sys

from agent.checks.config_check import IPV6_ONLY
from agent.config import enrolment_problems, load_config, resolve_config_path
from agent.errors import ConfigError
from agent.output import print_json


def main(args: argparse.Namespace) -> int:
    path, _ = resolve_config_path(args.config)
    # The service needs a file: a missing one is an error here even at the default path.
    config = load_config(path, explicit=True)
    problems = enrolment_problems(config)
    if problems:
        raise ConfigError(problems)
    target = config.probe_target
    measures = target.describe(config.probe.stamp_port) if target else "nothing yet (set mcu.host; probe.host for a separate responder)"
    notes = [] if config.policy.require_ipv6 else [IPV6_ONLY]
    if args.json:
        print_json({"status": "ok", "config": str(path), "room": config.room_json(), "probe_target": measures,
                    "notes": notes})
    else:
        print(f"{path}: configuration OK for room {config.room.id}", file=sys.stdout)
        print(f"  latency and bandwidth measured against {measures}", file=sys.stdout)
        for note in notes:
            print(f"  note: {note}", file=sys.stdout)
    return 0
