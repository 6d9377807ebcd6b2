"""The runs in flight at this node and how each one ends: completed, or aborted with one reason.

:class:`ActiveRuns` keeps one :class:`Run` per run session and drives its body under the deadline
and the run's stop event (:meth:`ActiveRuns.life`). Whatever ends a run early — a refusal, a lost
link, a peer's abort, an engine check, the deadline, shutdown — ends it here with one reason code:
the usage reservation is released (or committed if output was already being opened), the run is
recorded ``aborted``, ``Abort`` goes to every peer of the run and its sessions close, so every
participant ends it too, well within the deadline. Nothing partial is stored. A run that completes
commits its usage and stores its result (at a recipient) in one transaction.

Each end is one summary line, ``run.completed`` or ``run.aborted``, with the run's duration, the
rounds of its program and the payload bytes sent to and received from each peer — ids, counts
and codes only — besides the event and the audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import structlog

from network.errors import NetworkError
from network.host import PeerHost
from node.computations import wire
from node.computations.channels import Channels, Connect, Stop, settle_turns
from node.computations.control import RunAbortedError
from node.computations.plan import Plan
from node.computations.progress import Progress
from node.computations.results import RunStore
from node.consent.agreements import Agreements
from node.consent.manifest import Manifest
from node.errors import NodeError

Authorize = Callable[[str, str], None]
"""``authorize(manifest_id, run_id)``: this provider's policies still allow the manifest; reserve
its usage (``ConsentProtocol.authorize_run``). Raises a ``NodeError`` with a code to refuse."""
Publish = Callable[[str, Mapping[str, Any]], None]
Body: TypeAlias = dict[str, Any] | None
"""What a run's program returns: the result body at a recipient, ``None`` elsewhere."""

_log = structlog.get_logger("node.computations")


def wall_clock() -> int:
    """Unix seconds now."""
    return int(time.time())


@dataclass
class Run:
    """One run in flight at this node."""

    run_id: str
    manifest: Manifest
    deadline: int
    coordinator: str
    channels: Channels
    progress: Progress
    stop: Stop
    plan: Plan | None = None
    reserved: bool = False
    shape: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def session_id(self) -> int:
        """The run's session id on every link."""
        return wire.session_id(self.manifest.id, self.run_id)


class ActiveRuns:
    """The runs in flight at this node, and the end of each."""

    def __init__(
        self,
        node_id: str,
        host: PeerHost,
        agreements: Agreements,
        runs: RunStore,
        publish: Publish | None,
        clock: Callable[[], int],
        link_timeout: float,
        connect: Connect,
        progress_interval: float,
    ) -> None:
        self.node_id = node_id
        self.host = host
        self.agreements = agreements
        self.runs = runs
        self.publish = publish
        self.clock = clock
        self.link_timeout = link_timeout
        self.connect = connect
        self.progress_interval = progress_interval
        self.by_session: dict[int, Run] = {}
        self._done: dict[str, asyncio.Event] = {}

    def open(self, run_id: str, manifest: Manifest, deadline: int, coordinator: str) -> Run:
        """A new run, registered as in flight (its row must exist in the run store)."""
        stop = Stop()
        sid = wire.session_id(manifest.id, run_id)
        channels = Channels(
            run_id, sid, self.node_id, coordinator, self.host, self.connect, self.link_timeout, stop
        )
        progress = Progress(
            run_id, manifest.id, self.runs, self.publish, interval=self.progress_interval
        )
        run = Run(run_id, manifest, deadline, coordinator, channels, progress, stop)
        self.by_session[sid] = run
        self._done[run_id] = asyncio.Event()
        return run

    def __len__(self) -> int:
        return len(self.by_session)

    def __contains__(self, session_id: int) -> bool:
        return session_id in self.by_session

    async def wait_done(self, run_id: str, timeout: float) -> None:
        """Return once ``run_id`` has ended here (at once if it is not in flight)."""
        done = self._done.get(run_id)
        if done is not None:
            await asyncio.wait_for(done.wait(), timeout)

    async def stop_all(self, reason: str) -> None:
        """Stop every run in flight with ``reason`` and wait (a while) until each has ended."""
        for run in list(self.by_session.values()):
            run.stop.set(reason, None)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.link_timeout):
                while self.by_session:
                    await asyncio.sleep(0.01)

    async def life(self, run: Run, body: Coroutine[Any, Any, Body]) -> None:
        """Run ``body`` under the deadline and the stop event; settle the run either way."""
        work = asyncio.ensure_future(body)
        stopped = asyncio.ensure_future(run.stop.event.wait())
        remaining = max(0, run.deadline - self.clock())
        try:
            done, _ = await asyncio.wait(
                {work, stopped}, timeout=remaining, return_when="FIRST_COMPLETED"
            )
            if work in done:
                self._completed(run, work.result())
                return
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
            raise run.stop.or_else("deadline_passed", None)
        except RunAbortedError as error:
            await self._aborted(run, error.code, error.party)
        except NetworkError:
            await settle_turns()
            await self._aborted(run, *(run.stop.reason or ("party_lost", None)))
        except NodeError as error:
            await self._aborted(run, error.code, self.node_id)
        except Exception:
            _log.exception("run.failed", run_id=run.run_id)
            await self._aborted(run, "internal_error", self.node_id)
        finally:
            stopped.cancel()
            if not work.done():
                work.cancel()
            await run.channels.aclose()
            self.by_session.pop(run.session_id, None)
            self._done[run.run_id].set()

    def _completed(self, run: Run, body: Body) -> None:
        now = self.clock()
        if run.reserved:
            self.agreements.commit(run.run_id, now)
            run.reserved = False
        rounds = run.progress.computing_rounds if run.shape is not None else None
        self.runs.complete(run.run_id, body, now, shape=run.shape, rounds=rounds)
        data = {"run_id": run.run_id, "manifest_id": run.manifest.id, "result": body is not None}
        _log.info("run.completed", **data, **self._summary(run))
        if self.publish is not None:
            self.publish("run.completed", {**data, "phase": "completed", "percent": 100})

    async def _aborted(self, run: Run, reason: str, party: str | None) -> None:
        now = self.clock()
        if run.reserved:
            with contextlib.suppress(NodeError):
                opened = run.progress.output_started
                settle = self.agreements.commit if opened else self.agreements.release
                settle(run.run_id, now)
            run.reserved = False
        if not self.runs.abort(run.run_id, reason, party, now):
            return
        data = {"run_id": run.run_id, "manifest_id": run.manifest.id, "reason": reason}
        summary = self._summary(run)
        _log.warning("run.aborted", party=party, phase=run.progress.phase, **data, **summary)
        if self.publish is not None:
            self.publish("run.aborted", {**data, "party": party, "phase": run.progress.phase})
        await run.channels.abort(reason, party)

    def _summary(self, run: Run) -> dict[str, Any]:
        """Duration, rounds and traffic per peer: the counts of the run's summary line."""
        traffic = [
            {"party": node, "sent": t.sent, "received": t.received}
            for node, t in sorted(run.channels.traffic.items())
        ]
        return {
            "duration": round(time.monotonic() - run.started, 3),
            "rounds": run.progress.rounds,
            "traffic": traffic,
        }
