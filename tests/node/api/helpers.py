"""Shared helpers for the admin API tests: a node service of real parts, an app on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from network.identity import Identity
from node.api.app import create_app
from node.api.routes import Route
from node.config import NodeConfig
from node.consent.policies import PolicyStore
from node.events import EventBus
from node.home import create_home
from node.service import NodeService

TOKEN = "test-admin-token-0123456789abcdef"
"""The admin token of the test apps (at least 16 characters, as create_app demands)."""

NOW = 1_780_000_000
"""The fixed clock of the test apps (2026-05-28)."""


@dataclass
class MiniService:
    """The parts of a node service the framework needs: identity, config, event bus, token."""

    identity: Identity = field(default_factory=Identity.generate)
    config: NodeConfig = field(default_factory=lambda: NodeConfig(name="NGO A"))
    events: EventBus = field(default_factory=lambda: EventBus(history=16, queue_size=4))
    admin_token: str = TOKEN
    started_at: int = NOW - 60


def auth(token: str = TOKEN) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def serve(
    service: Any | None = None,
    *,
    table: Sequence[Route] | None = None,
    clock: Callable[[], int] = lambda: NOW,
) -> AsyncIterator[TestClient[Any, Any]]:
    """The admin API of ``service`` listening on a real loopback socket, with a client."""
    app = create_app(service or MiniService(), clock=clock, table=table)
    async with TestClient(TestServer(app)) as client:
        yield client


@asynccontextmanager
async def node_service(directory: Path) -> AsyncIterator[NodeService]:
    """A real node service on a fresh home in ``directory`` (not started: no ports open)."""
    home, _ = create_home(directory / "home", NodeConfig(name="NGO A"))
    service = NodeService.open(home, clock=lambda: NOW)
    compose_missing_parts(service)
    try:
        yield service
    finally:
        await service.aclose("test_ended")


def compose_missing_parts(service: NodeService) -> None:
    """Fill the parts the service does not compose yet, built as their owners document."""
    if service.policies is None:
        service.policies = PolicyStore(
            service.connection, audit=service.audit, publish=service.events.publish
        )
