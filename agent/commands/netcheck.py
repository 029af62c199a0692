"""``bridge-agent netcheck``: the network chain, stage by stage, with its figures.

On a terminal (and without ``--json``) a live progress line shows the stage
running and, during the STAMP session and bandwidth runs, how far it got; it
is erased before the report is printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO

from agent.checks import run_checks, select
from agent.checks.net_common import PROGRESS_KEY
from agent.commands.common import context_from, load_onsite_config, report
from agent.result import CheckResult

AREAS = ("net", "mcu", "probe")


class ProgressLine:
    """One line on a terminal, rewritten in place with ``\\r``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.width = 0

    def show(self, name: str, text: str) -> None:
        line = f"{name}: {text}"[:100]
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def main(args: argparse.Namespace) -> int:
    config = load_onsite_config(args)
    ctx = context_from(args, config)
    checks = select(*AREAS, bandwidth=not args.no_bandwidth)
    if args.json or not sys.stdout.isatty():
        results = run_checks(checks, ctx)
        return report(args, config, results)
    line = ProgressLine(sys.stdout)
    ctx.memo(PROGRESS_KEY, lambda: line.show)
    results: list[CheckResult] = []
    try:
        for check in checks:
            line.show(check.name, "running")
            results.extend(run_checks([check], ctx))
    finally:
        line.clear()
    return report(args, config, results)
