"""Start the three party processes of one benchmark run on loopback and gather their reports."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass

from node.bench.tasks import N_PARTIES


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago on 127.0.0.1."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class RunReport:
    """What the three processes measured for one task."""

    seconds: float
    rounds: int
    bytes_per_party: int
    peak_rss_bytes: int
    correct: bool


def run_parties(module: str, task: str, size: int, seed: int, timeout: float) -> RunReport:
    """Run ``python -m module`` once per party and combine their JSON lines.

    ``seconds`` is the slowest party's; ``bytes_per_party`` the mean of what each sent.
    """
    ports = ",".join(str(p) for p in free_ports(N_PARTIES))
    children = [
        subprocess.Popen(  # noqa: S603  # our own interpreter and module, fixed arguments
            [
                sys.executable,
                "-m",
                module,
                "--task",
                task,
                "--size",
                str(size),
                "--party",
                str(party),
                "--ports",
                ports,
                "--seed",
                str(seed),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for party in range(N_PARTIES)
    ]
    reports = []
    try:
        for child in children:
            out, err = child.communicate(timeout=timeout)
            if child.returncode != 0:
                last = err.strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"party process failed: {last[0]}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return RunReport(
        seconds=max(r["seconds"] for r in reports),
        rounds=int(reports[0]["rounds"]),
        bytes_per_party=int(sum(r["bytes_sent"] for r in reports) / len(reports)),
        peak_rss_bytes=max(int(r["peak_rss_bytes"]) for r in reports),
        correct=bool(reports[0].get("correct", False)),
    )
