"""``confide bench network``: the links measured against a plain aiohttp websocket, as ratios.

Every two-party row runs a responder and an initiator as two OS processes on loopback
(``node.bench.net_party``), then — for the anchored rows — the same operation on a plain aiohttp
websocket, again two processes (``node.bench.net_anchor``), in the same run and one after the
other, so only two benchmark processes are busy at any time. ``ratio = anchor_seconds /
seconds`` (above 1: Confide is faster). Each row also carries its target and whether the
measurement met it; nothing here fails on timing.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import IO, Any

PARTY_MODULE = "node.bench.net_party"
ANCHOR_MODULE = "node.bench.net_anchor"
MESH_NODES = 30
MESH_PROCESSES = 3
MESSAGE_BYTES = 1 << 20


@dataclass(frozen=True)
class NetCase:
    """One row: its sizes (operations timed), untimed warm-up, design round trips and target."""

    name: str
    size: int
    quick_size: int
    warmup: int
    rounds: int
    anchored: bool
    target: str | None
    met: Callable[[dict[str, Any]], bool | None]


def _ratio_at_least(limit: float) -> Callable[[dict[str, Any]], bool | None]:
    return lambda row: None if row["ratio"] is None else row["ratio"] >= limit


def _seconds_at_most(limit: float) -> Callable[[dict[str, Any]], bool | None]:
    return lambda row: row["seconds"] <= limit


SUITE: tuple[NetCase, ...] = (
    NetCase("handshake", 500, 30, 5, 4, True, "median ≤ 3 ms", _seconds_at_most(0.003)),
    NetCase("rtt", 5000, 300, 100, 1, True, "ratio ≥ 0.5 (≤ 2x raw)", _ratio_at_least(0.5)),
    NetCase("throughput", 2048, 256, 8, 1, True, "ratio ≥ 0.6 (MB/s)", _ratio_at_least(0.6)),
    NetCase("rtt_under_load", 2000, 150, 20, 1, False, "median ≤ 1 ms", _seconds_at_most(0.001)),
    NetCase("mesh_30", 870, 870, 0, 5, False, "≤ 5 s", _seconds_at_most(5.0)),
)
MEDIAN_ROWS = {"handshake", "rtt", "rtt_under_load"}


class _Child:
    """One benchmark process: JSON lines in on stdin, out on stdout; stderr kept for errors."""

    def __init__(self, module: str, *args: str) -> None:
        self.role = f"{module.rsplit('.', 1)[-1]} {args[0]}"
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # closed in finish()/kill()
        self.process = subprocess.Popen(  # noqa: S603  # our own interpreter and modules
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    def read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line; the process is killed if none comes within ``timeout``."""
        watchdog = threading.Timer(timeout, self.process.kill)
        watchdog.start()
        try:
            line = self._stdout.readline()
        finally:
            watchdog.cancel()
        if not line:
            self.process.wait()
            raise RuntimeError(f"{self.role} process failed: {self._last_error()}")
        try:
            document: dict[str, Any] = json.loads(line)
        except ValueError:
            raise RuntimeError(f"{self.role} process wrote {line[:200]!r}") from None
        return document

    def write(self, document: dict[str, Any]) -> None:
        """Send one JSON line."""
        self._stdin.write(json.dumps(document).encode() + b"\n")
        self._stdin.flush()

    def finish(self, timeout: float) -> None:
        """Close stdin (the process's signal to stop) and wait for it to exit cleanly."""
        self._stdin.close()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"{self.role} process did not stop") from None
        if code != 0:
            raise RuntimeError(f"{self.role} process failed: {self._last_error()}")
        self._close_files()

    def kill(self) -> None:
        """Kill the process if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_files()

    def _close_files(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self._stderr):
            if stream is not None and not stream.closed:
                stream.close()

    @property
    def _stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def _stdin(self) -> IO[bytes]:
        assert self.process.stdin is not None
        return self.process.stdin

    def _last_error(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {self.process.returncode}, no output"


@contextmanager
def _children() -> Iterator[list[_Child]]:
    """A list to start processes into; any still running at the end are killed."""
    started: list[_Child] = []
    try:
        yield started
    finally:
        for child in started:
            child.kill()


def _run_pair(module: str, case: NetCase, size: int, seed: str, timeout: float) -> dict[str, Any]:
    """Start ``module``'s server and client together, hand the port over, return the report."""
    options = ["--row", case.name, "--size", str(size), "--warmup", str(case.warmup)]
    with _children() as children:
        children.append(_Child(module, "server", "--seed", seed))
        children.append(_Child(module, "client", *options, "--seed", seed))
        server, client = children
        client.write(server.read(timeout))
        report = client.read(timeout)
        client.finish(timeout)
        server.finish(timeout)
    return report


def _summary(case: NetCase, report: dict[str, Any]) -> dict[str, Any]:
    """``seconds`` (median or total), bytes per party and the latency figures of one report."""
    operations = report["operations"]
    out, back = report["sent"] / operations, report["received"] / operations
    summary = {
        "bytes_per_party": round((out + back) / 2),
        "initiator_bytes": round(out),
        "responder_bytes": round(back),
        "correct": bool(report["correct"]),
    }
    if "load_bytes_per_s" in report:
        summary["load_mb_per_s"] = report["load_bytes_per_s"] / 1e6
    if case.name in MEDIAN_ROWS:
        samples = sorted(report["samples"])
        summary["seconds"] = statistics.median(samples)
        summary["p90_ms"] = samples[int(0.9 * (len(samples) - 1))] * 1e3
        summary["min_ms"] = samples[0] * 1e3
    else:
        summary["seconds"] = report["seconds"]
    return summary


def run_case(
    case: NetCase,
    quick: bool,
    seed: int,
    with_anchor: bool,
    progress: Callable[[str], None],
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Measure one row (and its anchor) and return its result row."""
    if case.name.startswith("mesh_"):
        progress(f"{case.name}: {MESH_NODES} nodes in {MESH_PROCESSES} processes …")
        return run_mesh(case, seed, timeout)
    size = case.quick_size if quick else case.size
    identity_seed = f"bench-network|{seed}"
    progress(f"{case.name} {size:,}: confide …")
    ours = _summary(case, _run_pair(PARTY_MODULE, case, size, identity_seed, timeout))
    row: dict[str, Any] = {
        "name": case.name,
        "parties": 2,
        "size": size,
        "seconds": ours.pop("seconds"),
        "rounds": case.rounds,
        "bytes_per_party": ours.pop("bytes_per_party"),
        "anchor": None,
        "anchor_seconds": None,
        "anchor_bytes_per_party": None,
        "ratio": None,
        **ours,
        "processes": 2,
    }
    if case.anchored and with_anchor:
        progress(f"{case.name} {size:,}: raw aiohttp …")
        theirs = _summary(case, _run_pair(ANCHOR_MODULE, case, size, identity_seed, timeout))
        row["anchor"] = f"aiohttp-{version('aiohttp')} websocket"
        row["anchor_seconds"] = theirs["seconds"]
        row["anchor_bytes_per_party"] = theirs["bytes_per_party"]
        row["ratio"] = theirs["seconds"] / row["seconds"] if row["seconds"] > 0 else None
        row["correct"] = row["correct"] and theirs["correct"]
    if case.name == "throughput":
        row["message_bytes"] = MESSAGE_BYTES
        row["mb_per_s"] = size * MESSAGE_BYTES / row["seconds"] / 1e6
        if row["anchor_seconds"] is not None:
            row["anchor_mb_per_s"] = size * MESSAGE_BYTES / row["anchor_seconds"] / 1e6
    else:
        row["median_ms"] = row["seconds"] * 1e3
    return _with_target(case, row)


def _with_target(case: NetCase, row: dict[str, Any]) -> dict[str, Any]:
    row["target"] = case.target
    row["target_met"] = case.met(row)
    return row


def run_mesh(case: NetCase, seed: int, timeout: float) -> dict[str, Any]:
    """``MESH_NODES`` nodes of one data space in ``MESH_PROCESSES`` processes, converging by gossip.

    Every node but node 0 is given node 0's address only and joins it; links are admitted by
    data-space membership credentials. The clock runs from the moment the bootstrap address is
    written to the processes until the last node holds the records of all ``MESH_NODES``
    (``time.monotonic`` is system-wide on Linux).
    """
    identity_seed = f"bench-network-mesh|{seed}"
    per_process = -(-MESH_NODES // MESH_PROCESSES)
    with _children() as children:
        for first in range(0, MESH_NODES, per_process):
            count = min(per_process, MESH_NODES - first)
            options = ["--first", str(first), "--count", str(count), "--nodes", str(MESH_NODES)]
            children.append(_Child(PARTY_MODULE, "mesh", *options, "--seed", identity_seed))
        ports = [port for child in children for port in child.read(timeout)["ports"]]
        start = time.monotonic()
        for child in children:
            child.write({"bootstrap": ports[0]})
        reports = [child.read(timeout) for child in children]
        for child in children:
            child.write({"verify": True})
        known = sum(int(child.read(timeout)["known"]) for child in children)
        for child in children:
            child.finish(timeout)
    row: dict[str, Any] = {
        "name": case.name,
        "parties": MESH_NODES,
        "size": MESH_NODES * (MESH_NODES - 1),
        "seconds": max(float(r["done"]) for r in reports) - start,
        "rounds": case.rounds,
        "bytes_per_party": round(sum(int(r["sent"]) for r in reports) / MESH_NODES),
        "anchor": None,
        "anchor_seconds": None,
        "anchor_bytes_per_party": None,
        "ratio": None,
        "correct": known == MESH_NODES * MESH_NODES,
        "records_held": known,
        "bootstrap_addresses": 1,
        "processes": len(reports),
    }
    return _with_target(case, row)


def run_suite(
    quick: bool,
    seed: int = 1,
    with_anchor: bool = True,
    only: Sequence[str] = (),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run every selected row; the JSON document of ``confide bench network --json``."""
    cases = [c for c in SUITE if not only or c.name in only]
    results = [run_case(c, quick, seed, with_anchor, progress) for c in cases]
    return {"suite": "network", "quick": quick, "results": results}


def _figure(row: dict[str, Any], seconds: float | None) -> str:
    if seconds is None:
        return ""
    if row["name"] == "throughput":
        return f"{row['size'] * MESSAGE_BYTES / seconds / 1e6:.0f} MB/s"
    if row["name"] in MEDIAN_ROWS:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.2f} s"


def _amount(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} B"


def format_table(document: dict[str, Any]) -> str:
    """The readable table of the suite's results."""
    header = (
        f"{'name':<19}{'parties':>8}{'size':>7}{'confide':>13}{'raw':>13}{'ratio':>7}"
        f"{'bytes/party':>13}  {'target':<24}{'met':<5}ok"
    )
    lines = [header, "-" * len(header)]
    for row in document["results"]:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        met = {True: "yes", False: "NO", None: ""}[row["target_met"]]
        lines.append(
            f"{row['name']:<19}{row['parties']:>8}{row['size']:>7,}"
            f"{_figure(row, row['seconds']):>13}{_figure(row, row['anchor_seconds']):>13}"
            f"{ratio:>7}{_amount(row['bytes_per_party']):>13}  {row['target'] or '':<24}"
            f"{met:<5}{'yes' if row['correct'] else 'NO'}"
        )
    return "\n".join(lines)
