"""Shared helpers for the CLI tests: a real node service with its admin API on a real socket.

The service lives on its own event loop in a thread (its SQLite connection is used from that
thread only); the CLI under test runs in the test's thread and finds the node through
``admin.url`` and ``admin-token`` in the home, exactly as against ``confide run``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import structlog
from aiohttp import web

from node.api import create_app
from node.cli import main
from node.config import NodeConfig
from node.home import Home, create_home
from node.service import NodeService
from tests.node.api.helpers import NOW, compose_missing_parts

T = TypeVar("T")


class RunningNode:
    """A node service and its admin API served from a background thread."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.service: NodeService | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> None:
        """Open the service and serve its API on a free loopback port; publish admin.url."""
        self._thread.start()
        self.call(self._start)

    async def _start(self) -> None:
        self.service = NodeService.open(self.home, clock=lambda: NOW)
        compose_missing_parts(self.service)
        self._runner = web.AppRunner(create_app(self.service, clock=lambda: NOW))
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.home.write_admin_url(f"http://127.0.0.1:{port}")

    def run(self, function: Callable[[NodeService], T]) -> T:
        """``function(service)`` on the service's thread; its result."""

        async def apply() -> T:
            assert self.service is not None
            return function(self.service)

        return self.call(apply)

    def call(self, coroutine: Callable[[], Any]) -> Any:
        """Run ``coroutine()`` on the service's loop and wait for it."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine(), self._loop)
        return future.result(timeout=30)

    def stop(self) -> None:
        """Stop serving, close the service, end the thread."""

        async def stop() -> None:
            self.home.remove_admin_url()
            if self._runner is not None:
                await self._runner.cleanup()
            if self.service is not None:
                await self.service.aclose("test_ended")

        self.call(stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextmanager
def running_node(directory: Path) -> Iterator[RunningNode]:
    """A fresh home in ``directory`` with its node serving the admin API."""
    home, _ = create_home(directory / "home", NodeConfig(name="NGO A"))
    node = RunningNode(home)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``confide *args`` in this process; (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    finally:
        structlog.reset_defaults()  # main configured logging onto this test's captured stderr
    captured = capsys.readouterr()
    return code, captured.out, captured.err
