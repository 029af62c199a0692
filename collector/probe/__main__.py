"""``python -m collector.probe --listen [::]:8080 --stamp-port 862``: the responder alone."""

from __future__ import annotations

import argparse
import logging
import sys

from collector.listen import ListenError, parse_listen
from collector.probe.server import run_probe_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.probe", description=__doc__)
    parser.add_argument("--listen", default="[::]:8080", help="HTTP probe address, [IPV6]:PORT")
    parser.add_argument("--stamp-port", type=int, default=862, help="UDP port of the STAMP reflector (0: none)")
    args = parser.parse_args(argv)
    try:
        host, port = parse_listen(args.listen)
    except ListenError as err:
        parser.error(str(err))
    if not 0 <= args.stamp_port <= 65535:
        parser.error("--stamp-port must be 0-65535")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    run_probe_server(host, port, args.stamp_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
