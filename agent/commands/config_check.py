"""``bridge-agent config check``: is the file valid *and* enough to run the service?"""

from __future__ import annotations

import argparse
import sys

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
    if args.json:
        print_json({"status": "ok", "config": str(path), "room": config.room_json()})
    else:
        print(f"{path}: configuration OK for room {config.room.id}", file=sys.stdout)
    return 0
