"""A UDP relay that injects known faults, run as its own process by the STAMP tests.

``python -m tests.udp_relay --delay-ms 10 --drop 3,17 --duplicate 10 --hold 20:50``
starts a STAMP reflector on [::1] and a relay in front of it, prints the
relay's port on stdout, and serves until stdin closes. Every test packet is
delayed by the given time on the way out; packets are dropped, duplicated or
held back by their STAMP sequence number. ``--drop-random 0.004 --seed 7``
also drops a random share of the packets (seeded: the same run every time);
a line ``drop-random 0.03`` on stdin changes that share while it runs. Being a
separate process keeps its timing free of the sender's interpreter.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import select
import socket
import struct
import sys
import time

from collector.probe import StampReflector


def _ints(text: str) -> set[int]:
    return {int(x) for x in text.split(",") if x}


def _holds(text: str) -> dict[int, float]:
    pairs = (item.split(":") for item in text.split(",") if item)
    return {int(seq): float(ms) / 1000 for seq, ms in pairs}


def serve(
    delay_s: float,
    drop: set[int],
    duplicate: set[int],
    hold: dict[int, float],
    drop_random: float = 0.0,
    seed: int = 0,
) -> None:
    rng = random.Random(seed)
    pending = b""
    reflector = StampReflector("::1", 0).start()
    front = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    front.bind(("::1", 0))
    back = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    back.connect(("::1", reflector.port))
    print(front.getsockname()[1], flush=True)
    queue: list[tuple[float, int, bytes]] = []
    order = 0
    client = None
    while True:
        now = time.perf_counter()
        while queue and queue[0][0] <= now:
            back.send(heapq.heappop(queue)[2])
        # Sleep until 1 ms before the next release, then poll: select() wakes late by
        # the timer slack, which would add to the injected delay.
        wait = min(0.05, queue[0][0] - now - 0.001) if queue else 0.05
        readable, _, _ = select.select([front, back, sys.stdin], [], [], max(0.0, wait))
        for sock in readable:
            if sock is sys.stdin:
                chunk = os.read(sys.stdin.fileno(), 4096)
                if not chunk:
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    words = line.split()
                    if len(words) == 2 and words[0] == b"drop-random":
                        drop_random = float(words[1])
            elif sock is front:
                data, client = front.recvfrom(2048)
                arrived = time.perf_counter()
                seq = struct.unpack_from("!I", data)[0]
                if seq in drop or (drop_random and rng.random() < drop_random):
                    continue
                for extra in (
                    [hold.get(seq, 0.0), 0.0] if seq in duplicate else [hold.get(seq, 0.0)]
                ):
                    order += 1
                    heapq.heappush(queue, (arrived + delay_s + extra, order, data))
            elif client is not None:
                front.sendto(back.recv(2048), client)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--drop", type=_ints, default=set())
    parser.add_argument("--duplicate", type=_ints, default=set())
    parser.add_argument("--hold", type=_holds, default={})
    parser.add_argument("--drop-random", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    serve(args.delay_ms / 1000, args.drop, args.duplicate, args.hold, args.drop_random, args.seed)


if __name__ == "__main__":
    main()
