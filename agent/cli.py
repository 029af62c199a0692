"""``bridge-agent``: the command line, for the systemd service and the technician alike.

The parser lives here; each subcommand's work lives in ``agent.commands.<name>``
as ``main(args) -> exit code``. Exit codes: 0 ok, 1 warn, 2 fail, 64 usage,
78 configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn, Sequence

from agent import __version__
from agent.errors import EX_CONFIG, EX_USAGE, ConfigError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    # --config is accepted before or after the subcommand; SUPPRESS keeps a value
    # given before the subcommand from being overwritten by the subparser's default.
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="configuration file (default: $BRIDGE_AGENT_CONFIG or /etc/bridge-agent/agent.toml)")
    parser.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS,
                        help="read /sys, /proc, /dev and /run/udev below DIR (fixture trees, mounted images)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bridge-agent",
        description="Meeting-room health agent: devices, IPv6 path to the MCU, heartbeats to the control centre.",
        epilog="exit codes: 0 ok, 1 warning, 2 failure, 64 usage error, 78 configuration error",
    )
    parser.add_argument("--version", action="version", version=f"bridge-agent {__version__}")
    _common(parser, json_flag=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    diagnose = sub.add_parser("diagnose", help="run every check once and report")
    _common(diagnose)
    diagnose.add_argument("--no-bandwidth", action="store_true", help="skip the bandwidth test")
    diagnose.add_argument("--av", action="store_true",
                          help="also read each idle camera and microphone for about 1.5 s (frames, sound level)")

    devices = sub.add_parser("devices", help="list cameras, microphones and speakers")
    _common(devices)
    devices.add_argument("--watch", action="store_true", help="print each hot-plug change until interrupted")

    netcheck = sub.add_parser("netcheck", help="test the IPv6 path to the MCU and the test responder")
    _common(netcheck)
    netcheck.add_argument("--no-bandwidth", action="store_true", help="skip the bandwidth test")

    profile = sub.add_parser("profile", help="the room profile: what the room must have")
    profile_sub = profile.add_subparsers(dest="profile_command", metavar="ACTION", parser_class=_Parser)
    save = profile_sub.add_parser("save", help="write the devices attached now as the room's profile")
    _common(save, json_flag=False)
    save.add_argument("--yes", action="store_true", help="overwrite an existing profile without asking")
    show = profile_sub.add_parser("show", help="compare the declared equipment with what is plugged in")
    _common(show)

    status = sub.add_parser("status", help="what the running agent last saw")
    _common(status)

    run = sub.add_parser("run", help="run as the service: check, heartbeat, repeat")
    _common(run, json_flag=False)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", parser_class=_Parser)
    check = config_sub.add_parser("check", help="validate the configuration for running as the service")
    _common(check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("config", "root"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EX_USAGE
    module_name = args.command
    if args.command == "config":
        if args.config_command is None:
            parser.parse_args(["config", "--help"])
        module_name = "config_check"
    if args.command == "profile" and args.profile_command is None:
        parser.parse_args(["profile", "--help"])
    module = importlib.import_module(f"agent.commands.{module_name}")
    try:
        return int(module.main(args))
    except ConfigError as err:
        print("bridge-agent: configuration error:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return EX_CONFIG
    except UsageError as err:
        print(f"bridge-agent: {err}", file=sys.stderr)
        return EX_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
