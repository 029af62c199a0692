"""``bridge-agent diagnose``: every registered check once, for the technician on site.

The camera and microphone checks read each idle device for about 1.5 s; they
run only with ``--av`` (and never open a device in use).
"""

from __future__ import annotations

import argparse

from agent.checks import run_checks, select
from agent.commands.common import context_from, load_onsite_config, report


def main(args: argparse.Namespace) -> int:
    config = load_onsite_config(args)
    ctx = context_from(args, config)
    results = run_checks(select(bandwidth=not args.no_bandwidth, av=args.av), ctx)
    return report(args, config, results)
