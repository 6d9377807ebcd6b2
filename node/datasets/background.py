"""Imports off the event loop, bounded: how many run at once and how many may wait.

A CSV import of a few hundred megabytes parses for seconds, so ``DatasetStore`` runs it with
``node.offload.in_worker`` (a worker thread on its own store connection) and never on the
node's event loop.

``ImportSlots`` bounds the work: at most ``running`` imports at once, at most ``waiting`` more
queued behind them; past that a request is refused at once with 503 ``imports_busy`` rather
than piling up temporary files and threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from node.errors import UnavailableError


class ImportSlots:
    """At most ``running`` imports at once and ``waiting`` queued; more are ``imports_busy``."""

    def __init__(self, running: int = 2, waiting: int = 4) -> None:
        if running < 1 or waiting < 0:
            raise ValueError("at least one import must be able to run")
        self.running = running
        self.waiting = waiting
        self._semaphore: asyncio.Semaphore | None = None
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Imports running or queued right now."""
        return self._admitted

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one import slot for the block (waiting for one if all are taken)."""
        if self._admitted >= self.running + self.waiting:
            raise UnavailableError(
                "imports_busy",
                "too many imports are running or queued; try again when one has finished",
                {"running": self.running, "waiting": self.waiting},
            )
        if self._semaphore is None:  # made on first use, on the loop that uses it
            self._semaphore = asyncio.Semaphore(self.running)
        self._admitted += 1
        try:
            async with self._semaphore:
                yield
        finally:
            self._admitted -= 1
