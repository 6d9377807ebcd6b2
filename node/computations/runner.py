"""Running agreed computations at this node: as the proposer that coordinates, and as a participant.

The run protocol (``docs/spec/run-protocol.md``): the proposer of a FINALIZED manifest picks a run
id, opens the run's session (:func:`~node.computations.wire.session_id`) to every participant —
dialling it on demand (:mod:`~node.computations.channels`) — and sends ``Start`` with the
finalised bundle and a deadline. Each participant — the proposer too — checks every signature of
the bundle itself, that its own agreement is live, loads and checks its input and reserves its
usage counter, then answers ``Ready`` (or ``Refused`` with a code). Once all are ready the
proposer sends ``Go`` and everyone runs its program (:mod:`~node.computations.execute`) over the
same sessions; outputs are opened to the recipients only, who store the result. Every control
message passes the run's transition table (:mod:`~node.computations.control`).

How a run ends at this node — completed, or aborted with one reason code, usage settled, every
peer told — is :mod:`~node.computations.lifecycle`. A new run id retries.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Final

import structlog

from network.errors import NetworkError
from network.host import PeerHost
from network.identity import Identity
from network.link import Link, Session
from network.tasks import TaskSet
from node.computations import wire
from node.computations.channels import Connect, Observe, all_of
from node.computations.control import RunAbortedError
from node.computations.execute import Prepared, execute, prepare
from node.computations.lifecycle import ActiveRuns, Authorize, Body, Publish, Run, wall_clock
from node.computations.plan import plan_for
from node.computations.progress import INTERVAL
from node.computations.results import COORDINATOR, PARTICIPANT, Result, RunRecord, RunStore
from node.consent import messages
from node.consent.agreements import Agreements
from node.datasets import DatasetStore
from node.errors import ForbiddenError, NodeError, UnavailableError
from protocols.randomness import RandomSource, SystemRandomSource

__all__ = ["Authorize", "Computations", "Connect", "Observe", "Publish", "RunAbortedError"]

MAX_ACTIVE: Final = 16
"""Runs (and unverified incoming run sessions) one node serves at once."""
RUN_TIMEOUT: Final = 600

_log = structlog.get_logger("node.computations")


class Computations:
    """Starts runs of agreed manifests and takes part in runs other nodes start."""

    def __init__(
        self,
        host: PeerHost,
        identity: Identity,
        agreements: Agreements,
        datasets: DatasetStore,
        runs: RunStore,
        authorize: Authorize,
        publish: Publish | None = None,
        *,
        clock: Callable[[], int] = wall_clock,
        run_timeout: int = RUN_TIMEOUT,
        link_timeout: float = 10.0,
        source: Callable[[], RandomSource] = SystemRandomSource,
        observe: Observe | None = None,
        connect: Connect | None = None,
        progress_interval: float = INTERVAL,
    ) -> None:
        """``connect(node_id, deadline)`` gives a link to a participant this node has none to
        (the service passes ``Discovery.connect``); by default the run waits for the peer to
        dial. ``progress_interval``: seconds between two percentages published within a phase."""
        self.host = host
        self.node_id = identity.node_id
        self.agreements = agreements
        self.datasets = datasets
        self.runs = runs
        self.authorize = authorize
        self.clock = clock
        self.run_timeout = run_timeout
        self.link_timeout = link_timeout
        self.source = source
        self.observe = observe
        self.active = ActiveRuns(
            self.node_id,
            host,
            agreements,
            runs,
            publish,
            clock,
            link_timeout,
            connect or self._wait_for_link,
            progress_interval,
        )
        self._joining: set[int] = set()
        self._tasks = TaskSet()

    # --- entry points -------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """After a restart: abort runs a crash left running and give their usage back."""
        now = self.clock()
        ended = self.runs.recover(now)
        for run_id in ended:
            with contextlib.suppress(NodeError):
                self.agreements.release(run_id, now)
        return ended

    def start(self, manifest_id: str) -> str:
        """Start a run of ``manifest_id``, which this node proposed; returns the run id at once.

        ``NotFoundError`` / ``ForbiddenError`` from :meth:`Agreements.require_active`,
        ``ForbiddenError`` ``not_proposer``, ``InvalidError`` ``unsupported_computation``,
        ``UnavailableError`` ``busy``.
        """
        now = self.clock()
        agreement = self.agreements.require_active(manifest_id, now)
        manifest = agreement.manifest
        if manifest.proposer != self.node_id:
            raise ForbiddenError("not_proposer", "only the proposer of a manifest starts its runs")
        plan = plan_for(manifest)
        self._check_capacity()
        run_id = wire.new_run_id(os.urandom(16))
        self.runs.begin(run_id, manifest.id, manifest.kind, COORDINATOR, now)
        run = self.active.open(run_id, manifest, now + self.run_timeout, self.node_id)
        run.plan = plan
        self._tasks.spawn(self.active.life(run, self._coordinate(run, agreement.bundle)))
        return run_id

    async def wait(self, run_id: str, timeout: float) -> RunRecord:
        """The run once it has ended here (``TimeoutError`` after ``timeout`` seconds)."""
        await self.active.wait_done(run_id, timeout)
        return self.runs.get(run_id)

    def run(self, run_id: str) -> RunRecord:
        """One run as this node saw it."""
        return self.runs.get(run_id)

    def result(self, run_id: str) -> Result:
        """The result this node received as a recipient (``no_result`` otherwise)."""
        return self.runs.result(run_id)

    def on_session(self, session: Session) -> None:
        """Host hook: a peer opened a session; a run session starts :meth:`_join`."""
        sid = session.session_id
        if session.kind != "run" or not sid & wire.SESSION_BIT:
            return
        if sid in self.active or sid in self._joining:
            return  # a peer of a run we know opened its side of the session
        if len(self.active) + len(self._joining) >= MAX_ACTIVE:
            session.close()
            _log.warning("run.refused", peer=session.link.peer.node_id, reason="busy")
            return
        self._joining.add(sid)
        self._tasks.spawn(self._join(session))

    async def aclose(self, reason: str = "shutdown") -> None:
        """Abort every run in flight with ``reason`` and stop."""
        await self.active.stop_all(reason)
        await self._tasks.aclose()

    # --- coordinator --------------------------------------------------------------------------

    async def _coordinate(self, run: Run, bundle: messages.Finalized) -> Body:
        plan = run.plan
        assert plan is not None
        peers = [node for node in plan.parties if node != self.node_id]
        for node in peers:
            await run.channels.send(node, wire.Start(run.run_id, bundle, run.deadline))
        prepared = None
        if plan.index(self.node_id) is not None:
            prepared = self._prepare(run, bundle)
        await all_of([self._reply(run, node) for node in peers])
        run.progress.enter("ready")
        for node in peers:
            await run.channels.send(node, wire.Go(run.run_id))
        if prepared is not None:
            return await self._execute(run, prepared)
        for node in peers:
            await run.channels.receive(node, wire.FINISHED)
        return None

    async def _reply(self, run: Run, node: str) -> None:
        message = await run.channels.receive(node, wire.REPLY)
        if isinstance(message, wire.Refused):
            raise RunAbortedError(message.reason, node)

    # --- participant --------------------------------------------------------------------------

    async def _join(self, session: Session) -> None:
        coordinator = session.link.peer.node_id
        try:
            start = wire.decode(await session.receive(wire.START, self.link_timeout))
            if not isinstance(start, wire.Start):
                raise wire.WireError("$.type", "expected start")
            manifest = start.bundle.manifest
            if session.session_id != wire.session_id(manifest.id, start.run_id):
                raise wire.WireError("$.run", "the run does not match its session")
            now = self.clock()
            self.runs.begin(start.run_id, manifest.id, manifest.kind, PARTICIPANT, now)
        except (NodeError, NetworkError) as error:
            code = error.code if isinstance(error, NodeError) else "no_start"
            _log.warning("run.refused", peer=coordinator, reason=code)
            session.close()
            return
        finally:
            self._joining.discard(session.session_id)
        run = self.active.open(start.run_id, manifest, start.deadline, coordinator)
        run.channels.attach(coordinator, session)
        run.channels.conversations[coordinator].received(start)
        self._tasks.spawn(self.active.life(run, self._participate(run, start.bundle)))

    async def _participate(self, run: Run, bundle: messages.Finalized) -> Body:
        try:
            prepared = self._prepare(run, bundle)
        except NodeError as error:
            with contextlib.suppress(NodeError):
                await run.channels.send(run.coordinator, wire.Refused(run.run_id, error.code))
            raise RunAbortedError(error.code, self.node_id) from None
        await run.channels.send(run.coordinator, wire.Ready(run.run_id))
        run.progress.enter("ready")
        await run.channels.receive(run.coordinator, wire.GO)
        body = await self._execute(run, prepared)
        if prepared.plan.index(run.coordinator) is None:
            await run.channels.send(run.coordinator, wire.Finished(run.run_id))
        return body

    def _prepare(self, run: Run, bundle: messages.Finalized) -> Prepared:
        run.progress.enter("verifying")
        prepared = prepare(
            bundle, run.coordinator, self.node_id, self.agreements, self.datasets, self.clock()
        )
        run.plan = prepared.plan
        if prepared.mine is not None:
            self.authorize(run.manifest.id, run.run_id)
            run.reserved = True
        return prepared

    async def _execute(self, run: Run, prepared: Prepared) -> Body:
        return await execute(run, prepared, self.node_id, self.source(), self.runs, self.observe)

    # --- helpers ------------------------------------------------------------------------------

    def _check_capacity(self) -> None:
        if len(self.active) + len(self._joining) >= MAX_ACTIVE:
            raise UnavailableError("busy", "this node runs as many computations as it can")

    async def _wait_for_link(self, node_id: str, deadline: float) -> Link:
        """The default ``connect``: wait for the peer to dial."""
        return await self.host.wait_for_link(node_id, deadline)
