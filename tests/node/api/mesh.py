"""Three started node services in one data space, linked over real loopback sockets, each with
an authenticated client on its own admin API — for the computation, approval and agreement
route tests.

Node ``a`` governs the data space ``ht`` and issues credentials; ``b`` and ``c`` join with
theirs. Each holds a dataset ``clients`` (an identifier column ``name``) and one policy on it
allowing ``union_size`` for the purpose ``research``, approved automatically unless the node is
named in ``manual``. Every clock is the fixed :data:`NOW`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from node.config import AdminConfig, NodeConfig, PeerConfig
from node.home import create_home
from node.service import NodeService
from tests.node.api.helpers import auth
from tests.node.datasets.helpers import csv_bytes

NOW = 1_780_000_000
SPACE = "ht"
NAMES = ("a", "b", "c")
SCHEMA = {"columns": [{"name": "name", "type": "identifier", "source": "Naam"}]}


def policy(approval: str) -> dict[str, Any]:
    """The policy on ``clients``: union_size for research, with ``approval`` auto or manual."""
    return {
        "id": "pol-clients",
        "dataset": "clients",
        "permission": {
            "action": ["union_size"],
            "constraints": [{"left": "purpose", "op": "eq", "right": "research"}],
        },
        "approval": approval,
    }


@dataclass
class Node:
    """One started node service and a client on its admin API."""

    service: NodeService
    http: aiohttp.ClientSession

    @property
    def node_id(self) -> str:
        """The node's id."""
        return self.service.identity.node_id

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``body`` as JSON to ``/api/v1{path}``; the status and the JSON answer."""
        url = f"{self.service.admin_url}/api/v1{path}"
        headers = auth(self.service.admin_token)
        async with self.http.request(method, url, json=body, headers=headers) as response:
            return response.status, await response.json()

    async def until(
        self, manifest_id: str, ready: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        """The computation's view once ``ready(view)`` holds (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            status, view = await self.call("GET", f"/computations/{manifest_id}")
            if status == 200 and ready(view):
                assert isinstance(view, dict)
                return view
            assert time.monotonic() < deadline, f"not ready in time: {status} {view}"
            await asyncio.sleep(0.05)


def draft(nodes: Sequence[Node], **changes: Any) -> dict[str, Any]:
    """A union_size draft over every node's ``clients``, computed by all three, for ``a``."""
    body: dict[str, Any] = {
        "kind": "union_size",
        "parameters": {},
        "inputs": [
            {"provider": n.node_id, "dataset": "clients", "columns": ["name"], "bound": 100}
            for n in nodes
        ],
        "compute_parties": [n.node_id for n in nodes],
        "recipients": ["self"],
        "purpose": "research",
        "data_space": SPACE,
    }
    body.update(changes)
    return body


def _open(directory: Path, name: str) -> NodeService:
    config = NodeConfig(
        name=name, data_space=SPACE, peer=PeerConfig(port=0), admin=AdminConfig(port=0)
    )
    home, _ = create_home(directory / name, config)
    return NodeService.open(home, clock=lambda: NOW)


def _hold_data(service: NodeService, rows: Sequence[str], approval: str) -> None:
    table = [["Naam"], *([name] for name in rows)]
    service.datasets.import_bytes("clients", csv_bytes(table), now=NOW, schema=SCHEMA)
    service.policies.create(policy(approval), now=NOW)


ROWS = {
    "a": [f"Person {i}" for i in range(0, 12)],
    "b": [f"Person {i}" for i in range(8, 20)],
    "c": [f"Person {i}" for i in range(16, 25)],
}
"""Each node's names: 25 distinct people across the three lists."""


@contextlib.asynccontextmanager
async def mesh(directory: Path, *, manual: Sequence[str] = ()) -> AsyncIterator[list[Node]]:
    """Nodes ``a``, ``b``, ``c`` started, members of ``ht``, linked pairwise; stopped at the end."""
    services: list[NodeService] = []
    async with aiohttp.ClientSession() as http:
        try:
            for name in NAMES:
                services.append(_open(directory, name))
            governor = services[0].dataspaces
            governor.create(SPACE, roles=["lea", "ngo"], purposes=["research"], now=NOW)
            charter = governor.charter(SPACE)
            for index, service in enumerate(services):
                role = "lea" if index == 0 else "ngo"
                credential = governor.issue(SPACE, service.identity.node_id, [role], NOW)
                if index:
                    service.dataspaces.join(charter, credential, [], NOW)
                approval = "manual" if NAMES[index] in manual else "auto"
                _hold_data(service, ROWS[NAMES[index]], approval)
            for service in services:
                await service.start()
            for index, service in enumerate(services):
                for other in services[:index]:
                    assert service.host is not None
                    assert other.peer_url is not None
                    await service.host.connect(other.identity.node_id, other.peer_url)
            yield [Node(service, http) for service in services]
        finally:
            for service in services:
                await service.aclose("test_ended")
