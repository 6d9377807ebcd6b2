"""Shared steps of the end-to-end tests: a started local data space with data, polling, restart."""

from __future__ import annotations

import dataclasses
import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from node import localqueries
from node.client import AdminClient
from node.localspace import LocalDataSpace, LocalNode, default_members
from node.synthetic.config import SyntheticConfig
from node.synthetic.generate import Synthetic, generate
from tests.node.helpers import confide


@contextmanager
def running_space(
    root: Path, config: SyntheticConfig
) -> Iterator[tuple[LocalDataSpace, Synthetic, dict[str, int]]]:
    """Every organisation of ``config`` as a node process, its CSV and standing policies in."""
    data = generate(config)
    space = LocalDataSpace(root, default_members(len(data.organisations)))
    now = int(time.time())
    space.create(now)
    try:
        space.start(now)
        rows = {}
        for org in data.organisations:
            report = space.import_dataset(
                org.name, org.name, org.csv, schema=org.schema, delimiter=org.delimiter
            )
            rows[org.name] = int(report["dataset"]["row_count"])
            space.create_policies(org.name, org.name)
        yield space, data, rows
    finally:
        space.stop()


def expected(space: LocalDataSpace, query: localqueries.Query, data: Synthetic) -> Any:
    """The plaintext answer with the providers in the manifest's order (sorted by node id):
    the order in which a deduplicated aggregate counts a person's first row."""
    if query.kind != "aggregate":  # the others do not depend on the order (the querier first)
        return localqueries.expected(query, data)
    order = sorted(query.providers, key=lambda slug: space.node(slug).node_id)
    return localqueries.expected(dataclasses.replace(query, providers=tuple(order)), data)


def wait_for(
    client: AdminClient, manifest_id: str, ready: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """The computation's view once ``ready(view)`` holds (AssertionError after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = client.get(f"/computations/{manifest_id}")
        if ready(view):
            return view
        assert time.monotonic() < deadline, f"not ready in time: {view['state']} {view['run']}"
        time.sleep(0.1)


def run_ended(view: dict[str, Any]) -> bool:
    """Whether the latest run completed or aborted (or the negotiation ended)."""
    run = view["run"]
    ended = run is not None and run["state"] in ("completed", "aborted")
    return ended or view["state"] in ("TERMINATED", "RETIRED")


def cli(node: LocalNode, *args: str, timeout: float = 180.0) -> tuple[int, Any, str]:
    """``confide ARGS --home HOME --json`` against ``node``: exit code, JSON answer, stderr."""
    done = confide(*args, "--home", str(node.home), "--json", timeout=timeout)
    body = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, body, done.stderr


def write_json(path: Path, body: Any) -> str:
    """``body`` written to ``path`` as JSON; the path as text."""
    path.write_text(json.dumps(body), encoding="utf-8")
    return str(path)


def restart(
    space: LocalDataSpace, node: LocalNode, *, kill: bool = False, connected: bool = True
) -> None:
    """Stop ``node`` (SIGTERM, or SIGKILL with ``kill``) and start it again on the same home;
    with ``connected``, wait until the mesh is whole again."""
    assert node.process is not None
    node.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    node.process.wait(timeout=30)
    stop(node)
    start(space, node, connected=connected)


def stop(node: LocalNode) -> None:
    """Forget a stopped node's process; keep its log under another name."""
    node.process = None
    node.admin = None
    if node.log_path.exists():
        node.log_path.rename(node.log_path.with_suffix(f".{time.monotonic_ns()}.log"))


def start(space: LocalDataSpace, node: LocalNode, *, connected: bool = True) -> None:
    """Launch ``node`` again and wait until it is ready (and, with ``connected``, linked).

    The local space restarts no single node itself, so this uses its launch and ready steps."""
    space._launch(node)
    space._wait_ready([node])
    if connected:
        space.wait_connected()


def logs(space: LocalDataSpace) -> str:
    """Every log line every node of ``space`` wrote (current and earlier runs)."""
    return "\n".join(p.read_text(errors="replace") for p in (space.root / "logs").glob("*.log"))
