"""Two local data spaces joined by a signed data-space link, set up as their operators would.

Space A (``nl-human-trafficking``: an LEA governing, NGO A) and space B
(``be-human-trafficking``: NGO B governing, a care provider) are created offline; then every
member adopts the other space's charter, the two governances sign one link and every member
adopts it (``confide dataspace adopt``), and the LEA's ``node.toml`` names NGO B as a bootstrap
node, so discovery spreads each space's records to the other. Both spaces are then started as
``confide run`` processes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w

from network.dataspace import DataSpaceLink
from node.audit import AuditLog
from node.config import Bootstrap
from node.dataspaces import DataSpaces
from node.home import Home
from node.localspace import MONITORING, PURPOSES, LocalDataSpace, LocalNode, Member
from node.store import open_store
from node.synthetic.config import SyntheticConfig, monitoring
from node.synthetic.generate import IDENTIFIER, Synthetic, generate
from tests.node.processes import free_port

SPACE_A = "nl-human-trafficking"
SPACE_B = "be-human-trafficking"
MEMBERS_A = (Member("lea", "LEA", "lea"), Member("ngo-a", "NGO A", "ngo"))
MEMBERS_B = (Member("ngo-b", "NGO B", "ngo"), Member("care", "Care provider", "care"))


def four_organisations(people: int, seed: int) -> SyntheticConfig:
    """An LEA, two NGOs and a care provider with overlapping lists."""
    return SyntheticConfig(monitoring(people, seed=seed).organisations[:4], seed=seed)


@contextmanager
def dataspaces_of(home: Path) -> Iterator[DataSpaces]:
    """The data-space state of a stopped node's home, as ``confide dataspace`` opens it."""
    owner = Home(home)
    identity = owner.identity()
    connection = open_store(owner.store_path)
    try:
        yield DataSpaces(connection, identity, audit=AuditLog(connection, identity))
    finally:
        connection.close()


def link_spaces(a: LocalDataSpace, b: LocalDataSpace, now: int) -> DataSpaceLink:
    """Every member adopts the other charter; the governances sign a link; everyone adopts it."""
    with dataspaces_of(a.nodes[0].home) as spaces:
        charter_a = spaces.charter(a.data_space)
    with dataspaces_of(b.nodes[0].home) as spaces:
        charter_b = spaces.charter(b.data_space)
    for node in (*a.nodes, *b.nodes):  # members join their own space only at start
        with dataspaces_of(node.home) as spaces:
            spaces.adopt(charter_a, now)
            spaces.adopt(charter_b, now)
    with dataspaces_of(a.nodes[0].home) as spaces:
        half = spaces.link(a.data_space, b.data_space, PURPOSES, now)
    with dataspaces_of(b.nodes[0].home) as spaces:
        link = spaces.sign(half)
    assert isinstance(link, DataSpaceLink)
    for node in (*a.nodes, *b.nodes):
        with dataspaces_of(node.home) as spaces:
            spaces.adopt(link, now)
    return link


def bootstrap_across(a: LocalDataSpace, b: LocalDataSpace) -> None:
    """B's governance listens on a fixed port that A's governance bootstraps from."""
    port = free_port()
    governance_b, governance_a = b.nodes[0], a.nodes[0]
    rewrite(governance_b, lambda c: dataclasses.replace(c, peer=_port(c.peer, port)))
    entry = Bootstrap(governance_b.node_id, f"ws://127.0.0.1:{port}/confide/v1")
    rewrite(governance_a, lambda c: dataclasses.replace(c, bootstrap=(*c.bootstrap, entry)))


def _port(peer: Any, port: int) -> Any:
    return dataclasses.replace(peer, port=port)


def rewrite(node: LocalNode, change: Any) -> None:
    """Edit a stopped node's ``node.toml`` as an operator would."""
    home = Home(node.home)
    config = change(home.config())
    home.config_path.write_text(tomli_w.dumps(config.to_toml()), encoding="utf-8")


@contextmanager
def linked_spaces(
    root: Path, data: Synthetic
) -> Iterator[tuple[LocalDataSpace, LocalDataSpace, dict[str, int]]]:
    """Both spaces running and linked, every organisation's list imported; rows per slug."""
    a = LocalDataSpace(root / "a", MEMBERS_A, data_space=SPACE_A)
    b = LocalDataSpace(root / "b", MEMBERS_B, data_space=SPACE_B)
    now = int(time.time())
    a.create(now)
    b.create(now)
    link_spaces(a, b, now)
    bootstrap_across(a, b)
    try:
        b.start(now)
        a.start(now)
        nodes = [*a.nodes, *b.nodes]
        wait_discovered(nodes, timeout=60)
        rows = {}
        for space in (a, b):
            for node in space.nodes:
                slug = node.member.slug
                org = data.organisation(slug)
                report = space.import_dataset(
                    slug, slug, org.csv, schema=org.schema, delimiter=org.delimiter
                )
                rows[slug] = int(report["dataset"]["row_count"])
        yield a, b, rows
    finally:
        a.stop()
        b.stop()


def wait_discovered(nodes: Sequence[LocalNode], timeout: float) -> None:
    """Wait until every node has a valid record of every other (across both spaces)."""
    deadline = time.monotonic() + timeout
    while True:
        missing = []
        for node in nodes:
            peers = {p["node_id"]: p for p in node.client().get("/peers")["peers"]}
            for other in nodes:
                if other is not node and not peers.get(other.node_id, {}).get("discovered"):
                    missing.append((node.member.slug, other.member.slug))
        if not missing:
            return
        assert time.monotonic() < deadline, f"not discovered in time: {missing}"
        time.sleep(0.2)


def cross_policy(dataset: str, actions: Sequence[str], spaces: Sequence[str]) -> dict[str, Any]:
    """An automatic policy on ``dataset`` for ``actions`` in the data spaces ``spaces`` (naming
    the other space opts in to it)."""
    return {
        "id": f"{dataset}-{'-'.join(actions)}-{len(spaces)}".replace("_", "-"),
        "dataset": dataset,
        "permission": {
            "action": list(actions),
            "constraints": [
                {"left": "purpose", "op": "eq", "right": MONITORING},
                {"left": "columns", "op": "isPartOf", "right": [IDENTIFIER]},
                {"left": "data_space", "op": "isAnyOf", "right": list(spaces)},
                {"left": "compute_party_role", "op": "isPartOf", "right": ["care", "lea", "ngo"]},
            ],
        },
        "approval": "auto",
    }


def draft(
    kind: str, providers: Sequence[LocalNode], compute: Sequence[LocalNode], rows: dict[str, int]
) -> dict[str, Any]:
    """A monitoring draft proposed in space A by its LEA, the result to the LEA."""
    return {
        "kind": kind,
        "parameters": {},
        "inputs": [
            {
                "provider": node.node_id,
                "dataset": node.member.slug,
                "columns": [IDENTIFIER],
                "bound": max(100, -(-rows[node.member.slug] // 100) * 100),
            }
            for node in providers
        ],
        "compute_parties": sorted(node.node_id for node in compute),
        "recipients": ["self"],
        "purpose": MONITORING,
        "data_space": SPACE_A,
    }


def generated(people: int, seed: int) -> Synthetic:
    """The four organisations' lists."""
    return generate(four_organisations(people, seed))
