"""Running agreed computations at this node: as the proposer that coordinates, and as a participant.

The run protocol (``docs/spec/run-protocol.md``): the proposer of a FINALIZED manifest picks a run
id, opens the run's session (:func:`~node.computations.wire.session_id`) to every participant and
sends ``Start`` with the finalised bundle and a deadline. Each participant — the proposer too —
checks every signature of the bundle itself, that its own agreement is live, loads and checks its
input and reserves its usage counter, then answers ``Ready`` (or ``Refused`` with a code). Once
all are ready the proposer sends ``Go`` and everyone runs its program (``plan.party_program``)
over the same sessions; outputs are opened to the recipients only, who store the result.

Any failure — a refusal, a lost link, a peer's abort, an engine check, the deadline, shutdown —
ends the run at this node with one reason code: the run is recorded ``aborted``, its usage is
released (or committed if output was already being opened), ``Abort`` goes to every peer of the
run and its sessions close, so every participant ends it too, well within the deadline. Nothing
partial is stored. A new run id retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from network.driver import drive
from network.errors import NetworkError
from network.host import PeerHost
from network.identity import Identity
from network.link import Session
from network.tasks import TaskSet
from node.computations import wire
from node.computations.inputs import ProviderInput, load_identifiers
from node.computations.plan import Plan, party_program, plan_for
from node.computations.progress import Progress, engine_failure
from node.computations.results import COORDINATOR, PARTICIPANT, Result, RunRecord, RunStore
from node.consent import messages
from node.consent.agreements import Agreements
from node.consent.manifest import Manifest
from node.datasets import DatasetStore
from node.errors import ForbiddenError, NodeError, UnavailableError
from protocols.errors import MPCError
from protocols.field import Array
from protocols.program import Context
from protocols.randomness import RandomSource, SystemRandomSource

Authorize = Callable[[str, str], None]
"""``authorize(manifest_id, run_id)``: this provider's policies still allow the manifest; reserve
its usage (``ConsentProtocol.authorize_run``). Raises a ``NodeError`` with a code to refuse."""
Publish = Callable[[str, Mapping[str, Any]], None]
Observe = Callable[[str, int, str, tuple[Array, ...]], None]
"""``observe(run_id, sender, label, arrays)``: every engine message this node receives."""

MAX_ACTIVE: Final = 16
"""Runs (and unverified incoming run sessions) one node serves at once."""
RUN_TIMEOUT: Final = 600
SETTLE_TURNS: Final = 3
"""Loop turns a failing run waits for a peer's ``Abort`` already delivered (it names the cause)."""

_log = structlog.get_logger("node.computations")


def _wall_clock() -> int:
    return int(time.time())


class RunAbortedError(UnavailableError):
    """A run ended without a result; ``code`` is the reason, ``party`` the node at fault."""

    def __init__(self, reason: str, party: str | None = None) -> None:
        super().__init__(reason, "the run was aborted", {"party": party} if party else None)
        self.party = party


@dataclass
class _Run:
    """One run in flight at this node."""

    run_id: str
    manifest: Manifest
    deadline: int
    coordinator: str
    plan: Plan | None = None
    sessions: dict[str, Session] = field(default_factory=dict)
    watchers: TaskSet = field(default_factory=TaskSet)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: tuple[str, str | None] | None = None
    reserved: bool = False
    progress: Progress | None = None

    @property
    def session_id(self) -> int:
        return wire.session_id(self.manifest.id, self.run_id)

    def stop(self, reason: str, party: str | None) -> None:
        """End the run with ``reason`` (the first reason wins)."""
        if self.stop_reason is None:
            self.stop_reason = (reason, party)
        self.stopped.set()


@dataclass(frozen=True)
class _Prepared:
    plan: Plan
    mine: ProviderInput | None


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
        clock: Callable[[], int] = _wall_clock,
        run_timeout: int = RUN_TIMEOUT,
        link_timeout: float = 10.0,
        source: Callable[[], RandomSource] = SystemRandomSource,
        observe: Observe | None = None,
    ) -> None:
        self.host = host
        self.node_id = identity.node_id
        self.agreements = agreements
        self.datasets = datasets
        self.runs = runs
        self.authorize = authorize
        self.publish = publish
        self.clock = clock
        self.run_timeout = run_timeout
        self.link_timeout = link_timeout
        self.source = source
        self.observe = observe
        self._active: dict[int, _Run] = {}
        self._joining: set[int] = set()
        self._done: dict[str, asyncio.Event] = {}
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
        run = _Run(run_id, manifest, now + self.run_timeout, self.node_id, plan)
        self.runs.begin(run_id, manifest.id, manifest.kind, COORDINATOR, now)
        self._register(run)
        self._spawn(run, self._coordinate(run, agreement.bundle))
        return run_id

    async def wait(self, run_id: str, timeout: float) -> RunRecord:
        """The run once it has ended here (``TimeoutError`` after ``timeout`` seconds)."""
        done = self._done.get(run_id)
        if done is not None:
            await asyncio.wait_for(done.wait(), timeout)
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
        if sid in self._active or sid in self._joining:
            return  # a peer of a run we know opened its side of the session
        if len(self._active) + len(self._joining) >= MAX_ACTIVE:
            session.close()
            _log.warning("run.refused", peer=session.link.peer.node_id, reason="busy")
            return
        self._joining.add(sid)
        self._tasks.spawn(self._join(session))

    async def aclose(self, reason: str = "shutdown") -> None:
        """Abort every run in flight with ``reason`` and stop."""
        for run in list(self._active.values()):
            run.stop(reason, None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle(), self.link_timeout)
        await self._tasks.aclose()

    async def _idle(self) -> None:
        while self._active:
            await asyncio.sleep(0.01)

    # --- coordinator --------------------------------------------------------------------------

    async def _coordinate(self, run: _Run, bundle: messages.Finalized) -> dict[str, Any] | None:
        plan = run.plan
        assert plan is not None
        peers = [node for node in plan.parties if node != self.node_id]
        for node in peers:
            await self._send(run, node, wire.Start(run.run_id, bundle, run.deadline))
        prepared = None
        if plan.index(self.node_id) is not None:
            prepared = self._prepare(run, bundle)
        await _all([self._reply(run, node) for node in peers])
        self._progress(run, "ready")
        for node in peers:
            await self._send(run, node, wire.Go(run.run_id))
        if prepared is not None:
            return await self._execute(run, prepared)
        for node in peers:
            message = await self._receive(run, node, wire.FINISHED)
            if not isinstance(message, wire.Finished):
                raise RunAbortedError("unexpected_message", node)
        return None

    async def _reply(self, run: _Run, node: str) -> None:
        message = await self._receive(run, node, wire.REPLY)
        if isinstance(message, wire.Refused):
            raise RunAbortedError(message.reason, node)
        if not isinstance(message, wire.Ready):
            raise RunAbortedError("unexpected_message", node)

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
        except (NetworkError, NodeError) as error:
            code = error.code if isinstance(error, NodeError) else "no_start"
            _log.warning("run.refused", peer=coordinator, reason=code)
            session.close()
            return
        finally:
            self._joining.discard(session.session_id)
        run = _Run(start.run_id, manifest, start.deadline, coordinator)
        self._register(run)
        self._attach(run, coordinator, session)
        self._spawn(run, self._participate(run, start.bundle))

    async def _participate(self, run: _Run, bundle: messages.Finalized) -> dict[str, Any] | None:
        try:
            prepared = self._prepare(run, bundle)
        except NodeError as error:
            with contextlib.suppress(NetworkError):
                await self._send(run, run.coordinator, wire.Refused(run.run_id, error.code))
            raise RunAbortedError(error.code, self.node_id) from None
        await self._send(run, run.coordinator, wire.Ready(run.run_id))
        self._progress(run, "ready")
        message = await self._receive(run, run.coordinator, wire.GO)
        if not isinstance(message, wire.Go):
            raise RunAbortedError("unexpected_message", run.coordinator)
        body = await self._execute(run, prepared)
        if prepared.plan.index(run.coordinator) is None:
            await self._send(run, run.coordinator, wire.Finished(run.run_id))
        return body

    def _prepare(self, run: _Run, bundle: messages.Finalized) -> _Prepared:
        """Everything a party checks before it touches a share; raises ``NodeError`` to refuse."""
        self._progress(run, "verifying")
        now = self.clock()
        manifest = bundle.manifest
        messages.check_bundle(bundle, run.coordinator, now)
        plan = plan_for(manifest)
        if plan.index(self.node_id) is None and self.node_id != manifest.proposer:
            raise ForbiddenError("not_participant", "this node takes no part in the manifest")
        if self.agreements.agreement(manifest.id) is None:
            self.agreements.finalize(bundle, now, actor=run.coordinator)
        self.agreements.require_active(manifest.id, now)
        run.plan = plan
        item = plan.input_of(self.node_id)
        mine = None
        if item is not None:
            mine = load_identifiers(self.datasets, item, plan.column_of(item), now)
            self.authorize(manifest.id, run.run_id)
            run.reserved = True
        return _Prepared(plan, mine)

    # --- the program --------------------------------------------------------------------------

    async def _execute(self, run: _Run, prepared: _Prepared) -> dict[str, Any] | None:
        plan = prepared.plan
        me = plan.index(self.node_id)
        assert me is not None
        for node in plan.parties:
            if node != self.node_id:
                await self._session(run, node)
        ctx = Context(me, plan.committee, self.source(), n_participants=len(plan.parties))
        assert run.progress is not None
        program = run.progress.watch(party_program(ctx, plan, prepared.mine, run.progress.enter))
        transport = _Transport(self, run, plan)
        try:
            return await drive(program, transport)
        except MPCError as error:
            await _settle_turns()
            if run.stop_reason is not None:
                raise RunAbortedError(*run.stop_reason) from None
            reason, index = engine_failure(error)
            party = None if index is None or index >= len(plan.parties) else plan.parties[index]
            raise RunAbortedError(reason, party) from None

    # --- one run's life -----------------------------------------------------------------------

    def _register(self, run: _Run) -> None:
        run.progress = Progress(run.run_id, run.manifest.id, self.runs, self.publish)
        self._active[run.session_id] = run
        self._done[run.run_id] = asyncio.Event()

    def _spawn(self, run: _Run, body: Coroutine[Any, Any, dict[str, Any] | None]) -> None:
        self._tasks.spawn(self._life(run, body))

    async def _life(self, run: _Run, body: Coroutine[Any, Any, dict[str, Any] | None]) -> None:
        """Run ``body`` under the deadline and the stop event; settle the run either way."""
        work = asyncio.ensure_future(body)
        stop = asyncio.ensure_future(run.stopped.wait())
        remaining = max(0, run.deadline - self.clock())
        try:
            done, _ = await asyncio.wait(
                {work, stop}, timeout=remaining, return_when="FIRST_COMPLETED"
            )
            if work in done:
                result = work.result()
                self._completed(run, result)
                return
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
            raise RunAbortedError(*(run.stop_reason or ("deadline_passed", None)))
        except RunAbortedError as error:
            await self._aborted(run, error.code, error.party)
        except NetworkError:
            await _settle_turns()
            await self._aborted(run, *(run.stop_reason or ("party_lost", None)))
        except NodeError as error:
            await self._aborted(run, error.code, self.node_id)
        except Exception:
            _log.exception("run.failed", run_id=run.run_id)
            await self._aborted(run, "internal_error", self.node_id)
        finally:
            stop.cancel()
            if not work.done():
                work.cancel()
            await run.watchers.aclose()
            for session in run.sessions.values():
                session.close()
            self._active.pop(run.session_id, None)
            self._done[run.run_id].set()

    def _completed(self, run: _Run, body: dict[str, Any] | None) -> None:
        now = self.clock()
        if run.reserved:
            self.agreements.commit(run.run_id, now)
            run.reserved = False
        self.runs.complete(run.run_id, body, now)
        data = {"run_id": run.run_id, "manifest_id": run.manifest.id, "result": body is not None}
        _log.info("run.completed", **data)
        if self.publish is not None:
            self.publish("run.completed", data)

    async def _aborted(self, run: _Run, reason: str, party: str | None) -> None:
        now = self.clock()
        opened = run.progress is not None and run.progress.output_started
        if run.reserved:
            with contextlib.suppress(NodeError):
                settle = self.agreements.commit if opened else self.agreements.release
                settle(run.run_id, now)
            run.reserved = False
        if not self.runs.abort(run.run_id, reason, party, now):
            return
        data = {"run_id": run.run_id, "manifest_id": run.manifest.id, "reason": reason}
        _log.warning("run.aborted", party=party, **data)
        if self.publish is not None:
            self.publish("run.aborted", {**data, "party": party})
        notice = wire.encode(wire.Abort(run.run_id, reason, party))
        for session in run.sessions.values():
            with contextlib.suppress(NetworkError, OSError, TimeoutError):
                await asyncio.wait_for(session.send(wire.ABORT, (notice,)), 1.0)

    def _progress(self, run: _Run, phase: str) -> None:
        if run.progress is not None:
            run.progress.enter(phase)

    def _check_capacity(self) -> None:
        if len(self._active) + len(self._joining) >= MAX_ACTIVE:
            raise UnavailableError("busy", "this node runs as many computations as it can")

    # --- sessions and control messages -------------------------------------------------------

    async def _session(self, run: _Run, node: str) -> Session:
        session = run.sessions.get(node)
        if session is not None:
            return session
        try:
            link = self.host.link(node) or await self.host.wait_for_link(node, self.link_timeout)
        except TimeoutError:
            raise RunAbortedError("party_unreachable", node) from None
        return self._attach(run, node, link.session(run.session_id, "run"))

    def _attach(self, run: _Run, node: str, session: Session) -> Session:
        run.sessions[node] = session
        run.watchers.spawn(self._watch(run, node, session))
        return session

    async def _watch(self, run: _Run, node: str, session: Session) -> None:
        """Stop the run when ``node`` says it aborted (its reason names the cause)."""
        try:
            message = wire.decode(await session.receive(wire.ABORT))
        except (NetworkError, NodeError):
            return
        if isinstance(message, wire.Abort) and message.run_id == run.run_id:
            run.stop(message.reason, message.party)

    async def _send(self, run: _Run, node: str, message: wire.Message) -> None:
        session = await self._session(run, node)
        try:
            await session.send(wire.LABELS[type(message)], (wire.encode(message),))
        except NetworkError:
            raise RunAbortedError("party_lost", node) from None

    async def _receive(self, run: _Run, node: str, label: str) -> wire.Message:
        session = await self._session(run, node)
        try:
            return wire.decode(await session.receive(label))
        except NetworkError:
            await _settle_turns()
            raise RunAbortedError(*(run.stop_reason or ("party_lost", node))) from None


class _Transport:
    """The engine's transport over the run's sessions (``network.driver.Transport``)."""

    def __init__(self, owner: Computations, run: _Run, plan: Plan) -> None:
        self._owner = owner
        self._run = run
        self._plan = plan

    async def send(self, peer: int, label: str, arrays: tuple[Array, ...]) -> None:
        node = self._plan.parties[peer]
        try:
            await self._run.sessions[node].send(label, arrays)
        except NetworkError:
            await _settle_turns()
            raise RunAbortedError(*(self._run.stop_reason or ("party_lost", node))) from None

    async def receive(self, peer: int, label: str) -> tuple[Array, ...]:
        node = self._plan.parties[peer]
        try:
            raw = await self._run.sessions[node].receive(label)
        except NetworkError:
            await _settle_turns()
            raise RunAbortedError(*(self._run.stop_reason or ("party_lost", node))) from None
        arrays = tuple(a if a.dtype.name == "uint64" else a.astype("uint64") for a in raw)
        if self._owner.observe is not None:
            self._owner.observe(self._run.run_id, peer, label, arrays)
        return arrays


async def _settle_turns() -> None:
    """Let a peer's ``Abort`` delivered just before its session ended reach its watcher."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)


async def _all(coroutines: list[Coroutine[Any, Any, None]]) -> None:
    """Await every coroutine; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        for task in asyncio.as_completed(tasks):
            await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
