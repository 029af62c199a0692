"""What every subcommand does first: find and load the configuration, build the context."""

from __future__ import annotations

import argparse
import sys

from agent.checks import CheckContext
from agent.config import AgentConfig, load_config, resolve_config_path
from agent.output import print_json, print_report, report_json
from agent.paths import Paths
from agent.result import CheckResult, overall_status


def load_onsite_config(args: argparse.Namespace) -> AgentConfig:
    """Configuration for the on-site commands, which also work on a not yet enrolled room.

    A missing default file means built-in defaults (said on stderr); a file the
    user named must exist; a file that exists must be valid.
    """
    path, explicit = resolve_config_path(args.config)
    config = load_config(path, explicit=explicit)
    if config.source is None:
        print(f"bridge-agent: no {path}; using built-in defaults", file=sys.stderr)
    return config


def paths_from(args: argparse.Namespace) -> Paths:
    return Paths.under(args.root) if args.root else Paths()


def context_from(args: argparse.Namespace, config: AgentConfig) -> CheckContext:
    return CheckContext(config=config, paths=paths_from(args))


def report(args: argparse.Namespace, config: AgentConfig, results: list[CheckResult]) -> int:
    """Print the results as the user asked and return the exit code of the worst one."""
    if args.json:
        print_json(report_json(config, results))
    else:
        print_report(config, results)
    return overall_status(results).exit_code
