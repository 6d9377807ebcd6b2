"""Progress of a run: phases, a percentage that moves while computing, and engine reason codes.

A run goes through ``starting → verifying → ready → keys → computing → opening → completed``
(or ends ``aborted`` from any of them). Each phase starts at its percentage in :data:`PERCENT`.
While computing, the percentage moves with the engine's exchanges (rounds): an MPC program's
rounds depend only on public parameters, so the rounds a completed run of the same *shape*
(:func:`shape_of`: kind, parameters, bounds, party numbering, this party's index) needed are the
rounds this one needs, and the percentage is ``40 + 50 · rounds / expected``. Without such a run
the estimate is ``40 + 49 · rounds / (rounds + HALF_WAY)``: it never goes back and never reaches
the next phase's 90. Within a phase, a new percentage is written to the run's row and published
as ``run.progressed`` at most every ``interval`` seconds; a new phase always is, and is also
logged (one ``run.progressed`` line per phase, with ids only — never a value).

:meth:`Progress.watch` wraps a party's engine program: it counts the exchanges, and the first of
an ``out:`` label (``protocols.sharing.open_to``, the one way outputs reach recipients) enters
``opening`` and marks that output may be on its way, which decides whether an abort releases or
commits the usage counters.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import structlog

from network import canonical
from node.computations.plan import Plan
from node.computations.results import RunStore
from protocols.errors import AbortCode, MPCError, ProtocolAbortedError
from protocols.program import Program

T = TypeVar("T")
PERCENT: Final[Mapping[str, int]] = {
    "starting": 0,
    "verifying": 5,
    "ready": 10,
    "keys": 20,
    "computing": 40,
    "opening": 90,
}
COMPUTING_SPAN: Final = 50
"""Percentage points between ``computing`` and ``opening``."""
HALF_WAY: Final = 25
"""Rounds at which a run of an unknown shape shows half of the computing span."""
INTERVAL: Final = 0.25
"""Seconds between two published percentages within a phase."""
_ENGINE_REASONS: Final[Mapping[AbortCode, str]] = {
    AbortCode.PEER_LOST: "party_lost",
    AbortCode.TIMEOUT: "deadline_passed",
    AbortCode.PEER_ABORTED: "party_aborted",
    AbortCode.HASHING_FAILED: "hashing_failed",
}
_log = structlog.get_logger("node.computations")


def shape_of(plan: Plan, me: int) -> str:
    """What fixes the rounds of ``plan``'s program at party ``me``: a hash of the kind, its
    parameters, each input's bound and column count by party, the committee and ``me``."""
    manifest = plan.manifest
    bounds = sorted((plan.positions[i.provider], i.bound, len(i.columns)) for i in manifest.inputs)
    recipients = [plan.positions[node] for node in manifest.recipients]
    body = {
        "kind": manifest.kind,
        "parameters": dict(manifest.parameters),
        "bounds": [list(b) for b in bounds],
        "recipients": sorted(recipients),
        "proposer": plan.positions.get(manifest.proposer, -1),
        "compute": plan.n_compute,
        "parties": len(plan.parties),
        "me": me,
    }
    return hashlib.sha256(canonical.encode(body)).hexdigest()[:32]


class Progress:
    """The phase and percentage of one run at this node, and the rounds of its program."""

    def __init__(
        self,
        run_id: str,
        manifest_id: str,
        runs: RunStore,
        publish: Callable[[str, Mapping[str, Any]], None] | None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        interval: float = INTERVAL,
    ) -> None:
        self.run_id = run_id
        self.manifest_id = manifest_id
        self.runs = runs
        self.publish = publish
        self.monotonic = monotonic
        self.interval = interval
        self.phase = "starting"
        self.percent = 0
        self.rounds = 0
        self.computing_rounds = 0
        self.expected: int | None = None
        self.output_started = False
        self._published_at = monotonic()

    def enter(self, phase: str) -> None:
        """Enter ``phase`` (a later call with the same phase does nothing); logged once."""
        if phase == self.phase:
            return
        self.phase = phase
        self.percent = max(self.percent, PERCENT[phase])
        _log.info("run.progressed", **self._data())
        self._publish()

    def watch(self, program: Program[T], expected: int | None = None) -> Program[T]:
        """``program``, counting its exchanges; ``expected``: the computing rounds of a
        completed run of the same shape, if known."""
        self.expected = expected
        replies = None
        while True:
            try:
                exchange = next(program) if replies is None else program.send(replies)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]  # the generator's declared result
            self.rounds += 1
            if not self.output_started and exchange.label.startswith("out:"):
                self.output_started = True
                self.enter("opening")
            elif self.phase == "computing":
                self.computing_rounds += 1
                self._advance()
            replies = yield exchange

    def _advance(self) -> None:
        """A new percentage within ``computing``, published if the last one is old enough."""
        done = self.computing_rounds
        if self.expected:
            share = min(done, self.expected - 1) / self.expected
            percent = PERCENT["computing"] + int(COMPUTING_SPAN * share)
        else:
            share = done / (done + HALF_WAY)
            percent = PERCENT["computing"] + int((COMPUTING_SPAN - 1) * share)
        if percent <= self.percent:
            return
        self.percent = percent
        if self.monotonic() - self._published_at >= self.interval:
            self._publish()

    def _publish(self) -> None:
        self._published_at = self.monotonic()
        self.runs.progress(self.run_id, self.phase, self.percent)
        if self.publish is not None:
            self.publish("run.progressed", self._data())

    def _data(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "manifest_id": self.manifest_id,
            "phase": self.phase,
            "percent": self.percent,
        }


def engine_failure(error: MPCError) -> tuple[str, int | None]:
    """The run's reason code for an engine error, and the party index at fault if known."""
    if isinstance(error, ProtocolAbortedError):
        return _ENGINE_REASONS.get(error.code, "protocol_failed"), error.party
    return "internal_error", None
