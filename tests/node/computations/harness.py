"""In-process nodes over real loopback links, each with its own store, for the run tests.

Each node has a peer host, a SQLite store with audit log, agreements, datasets (one identifier
list imported from CSV) and the run store, and a ``Computations``. ``agree`` builds a FINALIZED
agreement with real Ed25519 signatures (each provider signs its decision, the proposer
counter-signs) and stores it at every participant, with a usage limit at every provider so
reservations can be counted. Every engine message a node receives is recorded.

Nodes may be started with a shared ``directory`` (node id → peer URL), standing in for the
signed discovery records: a run then dials a participant it has no link to, as
``Discovery.connect`` does in the service.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty, allow_nodes
from network.host import PeerHost
from network.identity import Identity
from network.link import Link, Session
from network.tasks import TaskSet
from node.audit import AuditLog
from node.computations import Computations, RunStore
from node.computations.channels import Connect
from node.consent import messages
from node.consent.agreements import Agreements
from node.consent.manifest import Manifest, parse_manifest
from node.consent.negotiation import UsageLimit
from node.datasets import DatasetStore
from node.store import open_store
from protocols.field import Array

SPACE = "test-space"
POLICY = "pol-lists"
LISTS_OF_FOUR: dict[str, list[str] | None] = {
    "lea": ["José García", "Anna Kowalska", "Lin Wei", "Ioana Radu", "Petr Novák", "Nadia Haddad"],
    "ngo-a": ["jose garcia", "Chidi Obi"],
    "ngo-b": ["Lin Wei", "Yusuf Demir"],
    "rogue": ["Ana Pereira"],
}
"""Lists of three honest nodes and a fourth that will misbehave."""
SCHEMA = {"version": 1, "columns": [{"name": "name", "type": "identifier", "source": "Name"}]}


def clock() -> int:
    """Unix seconds now."""
    return int(time.time())


@dataclass
class Node:
    """One in-process node."""

    name: str
    identity: Identity
    path: Path
    agreements: Agreements
    datasets: DatasetStore
    runs: RunStore
    host: PeerHost
    computations: Computations
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    received: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        """The node's id."""
        return self.identity.node_id

    def usage(self) -> int:
        """Runs counted against the provider's policy now (reserved or committed)."""
        return self.agreements.usage(POLICY, 86400, clock())


async def start_node(
    tmp_path: Path,
    name: str,
    identity: Identity,
    allowed: list[str],
    rows: list[str] | None,
    directory: dict[str, str] | None = None,
    run_timeout: int = 60,
) -> Node:
    """A node with its store under ``tmp_path/name``; imports ``rows`` as dataset ``people``.

    With a ``directory`` the node enters its URL there and dials peers it finds in it."""
    connection = open_store(tmp_path / f"{name}.sqlite")
    audit = AuditLog(connection, identity)
    agreements = Agreements(connection, identity.node_id, audit)
    datasets = DatasetStore(connection, audit)
    if rows is not None and "people" not in {d.name for d in datasets.datasets()}:
        csv = ("Name\n" + "\n".join(f'"{row}"' for row in rows) + "\n").encode()
        datasets.import_bytes("people", csv, now=clock(), schema=SCHEMA)
    runs = RunStore(connection, audit)
    holder: list[Node] = []
    local = LocalParty(identity, X25519PrivateKey.generate(), (SPACE,))
    host = PeerHost(
        local,
        allow_nodes(allowed),
        on_session=lambda s: holder[0].computations.on_session(s),  # noqa: PLW0108  # bound later
    )
    await host.start()
    connect = None
    if directory is not None:
        directory[identity.node_id] = host.url
        connect = _dialler(host, directory)
    node = Node(name, identity, tmp_path, agreements, datasets, runs, host, None)  # type: ignore[arg-type]
    node.computations = Computations(
        host,
        identity,
        agreements,
        datasets,
        runs,
        lambda manifest_id, run_id: agreements.reserve(manifest_id, run_id, clock()),
        lambda kind, data: node.events.append((kind, dict(data))),
        clock=clock,
        run_timeout=run_timeout,
        link_timeout=5.0,
        observe=lambda run_id, sender, label, arrays: _record(node, run_id, sender, label, arrays),
        connect=connect,
        progress_interval=0.0,
    )
    node.computations.recover()
    holder.append(node)
    return node


def _dialler(host: PeerHost, directory: dict[str, str]) -> Connect:
    """``connect(node_id, deadline)`` over the directory (``LookupError`` for an unknown node)."""

    async def connect(node_id: str, deadline: float) -> Link:
        url = directory.get(node_id)
        if url is None:
            raise LookupError("no address for that node")
        return await host.connect(node_id, url, deadline)

    return connect


def _record(node: Node, run_id: str, sender: int, label: str, arrays: tuple[Array, ...]) -> None:
    node.received.append((run_id, sender, label))


async def start_nodes(
    tmp_path: Path,
    lists: dict[str, list[str] | None],
    *,
    unlinked: tuple[tuple[str, str], ...] = (),
    directory: dict[str, str] | None = None,
    run_timeout: int = 60,
) -> list[Node]:
    """One node per entry of ``lists`` (name → identifiers, or None), every pair linked but
    the ``unlinked`` pairs of names."""
    identities = {name: Identity.generate() for name in lists}
    allowed = [i.node_id for i in identities.values()]
    nodes = [
        await start_node(
            tmp_path, name, identities[name], allowed, rows, directory, run_timeout=run_timeout
        )
        for name, rows in lists.items()
    ]
    await link_all(nodes, unlinked)
    return nodes


async def link_all(nodes: list[Node], unlinked: tuple[tuple[str, str], ...] = ()) -> None:
    """Connect every pair of nodes but the ``unlinked`` pairs of names."""
    skip = {frozenset(pair) for pair in unlinked}
    for a, b in itertools.combinations(nodes, 2):
        if frozenset((a.name, b.name)) in skip:
            continue
        await a.host.connect(b.node_id, b.host.url)
        await b.host.wait_for_link(a.node_id, 5)


async def stop_nodes(nodes: list[Node]) -> None:
    """Stop every node and close its store."""
    for node in nodes:
        await node.computations.aclose()
        await node.host.aclose()
        node.agreements.connection.close()


def set_difference(
    proposer: Node, others: list[Node], compute: list[Node], limit: int, bound: int = 64
) -> Manifest:
    """The proof-of-concept manifest: the proposer's list against the others' lists."""
    return set_difference_of(
        proposer.node_id, [n.node_id for n in others], [n.node_id for n in compute], limit, bound
    )


def set_difference_of(
    proposer: str, others: list[str], compute: list[str], limit: int, bound: int = 64
) -> Manifest:
    """The proof-of-concept manifest between node ids."""
    now = clock()
    return parse_manifest(
        {
            "version": 1,
            "kind": "set_difference",
            "parameters": {"limit": limit, "reveal_size": False},
            "inputs": [
                {"provider": node, "dataset": "people", "columns": ["name"], "bound": bound}
                for node in [proposer, *others]
            ],
            "compute_parties": compute,
            "recipients": [proposer],
            "proposer": proposer,
            "purpose": "victim-support",
            "data_space": SPACE,
            "created_at": now - 5,
            "expires_at": now + 3600,
            "nonce": secrets.token_hex(16),
        }
    )


def agree(
    proposer: Node, providers: list[Node], everyone: list[Node], manifest: Manifest, forge: bool
) -> None:
    """Store a FINALIZED agreement on ``manifest`` at every node; ``forge`` breaks one
    provider's signature in the proposer's copy."""
    now = clock()
    decisions = tuple(
        sorted(
            (
                messages.sign_decision(
                    p.identity,
                    manifest.id,
                    agreed=True,
                    valid_until=now + 3000,
                    max_runs=3,
                    now=now,
                )
                for p in providers
            ),
            key=lambda d: d.provider,
        )
    )
    signature = messages.countersign(proposer.identity, manifest, decisions)
    bundle = messages.Finalized(manifest, decisions, signature)
    for node in everyone:
        copy = bundle
        if forge and node is proposer:
            bad = decisions[-1]
            forged = replace(bad, signature=bytes(64))
            copy = messages.Finalized(manifest, (*decisions[:-1], forged), signature)
        node.agreements.finalize(copy, now)
        if node in providers:
            mine = next(d for d in decisions if d.provider == node.node_id)
            node.agreements.put_decision(mine)
            node.agreements.set_limits(manifest.id, [UsageLimit(POLICY, 10, 86400)])


async def eventually(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until ``predicate()`` holds, failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while not predicate():
        if loop.time() > give_up:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def crash(node: Node) -> None:
    """Stop ``node`` as a crash would: its runs end where they are, telling no peer why (their
    rows stay ``running``), then its links drop; its store is closed."""
    await node.computations._tasks.aclose()  # a crash skips the orderly abort
    await node.host.aclose()
    node.agreements.connection.close()


async def ended(nodes: list[Node], run_id: str, timeout: float = 30.0) -> None:
    """Wait until ``run_id`` is no longer running at any of ``nodes``."""
    for node in nodes:
        await eventually(lambda n=node: n.runs.get(run_id).state != "running", timeout)


def result_rows(node: Node, run_id: str) -> int:
    """Rows of ``run_id`` in ``node``'s result table (read directly, not through the API)."""
    row = node.runs.connection.execute(
        "SELECT COUNT(*) FROM computation_results WHERE run_id = ?", (run_id,)
    ).fetchone()
    return int(row[0])


def misbehave(node: Node, behaviour: Callable[[Session], Awaitable[None]]) -> TaskSet:
    """Make ``node`` answer every run session with ``behaviour`` instead of its runner (a
    participant that breaks the protocol); the returned tasks are the caller's to close."""
    tasks = TaskSet()

    def on_session(session: Session) -> None:
        if session.kind == "run":
            tasks.spawn(behaviour(session))

    node.computations.on_session = on_session  # type: ignore[method-assign]  # a test double
    return tasks
