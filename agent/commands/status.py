"""``bridge-agent status``: what the running service last saw, from its state file.

Exit code: the last overall status (0 ok, 1 warn, 2 fail); 2 as well when the
service is not running or has not finished a cycle yet.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agent.commands.common import load_onsite_config
from agent.daemon.state import pid_alive, read_state, state_path
from agent.output import format_result, print_json, use_colour
from agent.result import CheckResult, Status

EXIT_NOT_RUNNING = 2


def main(args: argparse.Namespace) -> int:
    config = load_onsite_config(args)
    runtime_dir = config.agent.runtime_dir
    doc = read_state(runtime_dir)
    if doc is None:
        doc = {"state": "not running", "detail": f"no state file {state_path(runtime_dir)}"}
    elif doc.get("state") != "stopped" and not pid_alive(doc.get("pid")):
        doc["state"] = "not running"
        doc["detail"] = f"process {doc.get('pid')} is gone; figures are from {doc.get('updated_at')}"
    if args.json:
        print_json(doc)
    else:
        print_human(doc)
    if doc.get("state") != "running" or doc.get("status") not in ("ok", "warn", "fail"):
        return EXIT_NOT_RUNNING
    return Status(doc["status"]).exit_code


def print_human(doc: dict[str, Any]) -> None:
    out = sys.stdout
    state = doc.get("state")
    out.write(f"bridge-agent service: {state}" + (f" ({doc['detail']})" if doc.get("detail") else "") + "\n")
    if doc.get("room_id"):
        out.write(f"room:            {doc['room_id']}\n")
    for problem in doc.get("problems", []):
        out.write(f"  needs:         {problem}\n")
    if doc.get("config_error"):
        out.write(f"config rejected: {doc['config_error']}\n")
    if doc.get("token_error"):
        out.write(f"token unusable:  {doc['token_error']} (still sending with the previous token)\n")
    if "seq" not in doc:
        return
    spool, delivered, error = doc["spool"], doc["last_delivery"], doc["last_error"]
    out.write(f"overall:         {doc.get('status') or 'no cycle yet'} (updated {doc.get('updated_at')})\n")
    if doc.get("agent_instance"):
        out.write(f"agent instance:  {doc['agent_instance']}\n")
    out.write(f"last seq:        {doc['seq']}\n")
    rejected = f" (kept in {spool['rejected_dir']})" if spool.get("rejected") and spool.get("rejected_dir") else ""
    out.write(f"spool:           {spool['depth']} waiting, {spool['dropped']} dropped unreported,"
              f" {spool['rejected']} rejected{rejected}\n")
    out.write(f"last delivery:   {delivered['at'] or 'never'}" + (f" (seq {delivered['seq']})" if delivered["seq"] else "") + "\n")
    if error.get("message"):
        out.write(f"last error:      {error['message']} at {error['at']}"
                  + (f", {error['failures']} failed tries in a row" if error.get("failures") else "") + "\n")
        if error.get("problem"):
            # A link problem fixed since (a delivery reset the failures) is history, not advice;
            # a heartbeat set aside stays a problem.
            standing = error.get("failures") or error.get("kind") == "rejected"
            label = "problem:" if standing else "was:"
            out.write(f"{label:<17}{error['problem']}\n")
    results = [CheckResult(c["name"], Status(c["status"]), c["summary"]) for c in doc.get("checks", [])]
    width = max((len(r.name) for r in results), default=0)
    colour = use_colour(out)
    for result in results:
        out.write(format_result(result, width, colour) + "\n")
