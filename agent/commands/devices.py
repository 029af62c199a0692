"""``bridge-agent devices``: not available in this build yet."""

from __future__ import annotations

import argparse

from agent.errors import UsageError


def main(args: argparse.Namespace) -> int:
    raise UsageError("'devices' is not implemented in this version yet")
