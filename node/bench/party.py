"""One party of an engine benchmark, run as its own OS process.

``python -m node.bench.party --task lt --size 1000 --party 0 --ports 7001,7002,7003 --seed 1``
links to the other parties on loopback over the encrypted links (websocket, Noise XX, frames;
``node.mesh``), agrees session keys, synchronises, runs the task and prints one JSON line:
seconds, rounds, bytes sent, peak RSS and (party 0) correctness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

import numpy as np

from network.driver import DriverStatistics, drive
from network.mpc import SessionTransport
from node.bench.tasks import N_PARTIES, TASKS
from node.mesh import join_mesh
from node.runtime import tune_allocator
from protocols.program import Context, Exchange, Program, key_setup
from protocols.randomness import SystemRandomSource
from protocols.shamir import Committee


def _barrier(ctx: Context) -> Program[None]:
    ping = (np.zeros(1, dtype=np.uint64),)
    yield Exchange("sync", dict.fromkeys(ctx.others, ping), dict.fromkeys(ctx.others, 1))


async def run_party(
    task: str, size: int, party: int, ports: list[int], seed: int
) -> dict[str, object]:
    """Run one party of ``task`` and return its measurements."""
    mesh = await join_mesh(party, ports, f"bench|{task}|{size}|{seed}")
    transport = mesh.transport
    ctx = Context(party, Committee(N_PARTIES), SystemRandomSource())
    ctx.install_keys(await drive(key_setup(ctx), transport))
    definition = TASKS[task]
    mine = definition.prepare(party, seed, size)
    await drive(_barrier(ctx), transport)
    sent_before = _bytes_sent(transport)
    stats = DriverStatistics()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = await drive(definition.program(ctx, mine, size), transport, stats)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    sent = _bytes_sent(transport) - sent_before
    await drive(_barrier(ctx), transport)
    await mesh.aclose()
    report: dict[str, object] = {
        "party": party,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rounds": stats.rounds,
        "bytes_sent": sent,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if party == 0:
        report["correct"] = definition.check(result, definition.expected(seed, size))
    return report


def _bytes_sent(transport: SessionTransport) -> int:
    return transport.bytes_sent


def main(argv: list[str] | None = None) -> int:
    """Entry point of a party process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--party", type=int, required=True)
    parser.add_argument("--ports", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    tune_allocator()
    ports = [int(p) for p in args.ports.split(",")]
    report = asyncio.run(run_party(args.task, args.size, args.party, ports, args.seed))
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
