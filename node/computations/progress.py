"""Progress of a run: phases, their percentages, and the reason codes of engine failures.

A run goes through ``starting → verifying → ready → keys → computing → opening → completed``
(or ends ``aborted`` from any of them). The percentage is that of the phase, not an estimate
inside it: a run that sits at 40 % is computing on shares. Each new phase is written to the
run's row, published as ``run.progressed`` and logged once, with ids only — never a value.

:meth:`Progress.watch` wraps a party's engine program: the first exchange of an ``out:`` label
(``protocols.sharing.open_to``, the one way outputs reach recipients) enters ``opening`` and
marks that output may be on its way, which decides whether an abort releases or commits the
usage counters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import structlog

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
_ENGINE_REASONS: Final[Mapping[AbortCode, str]] = {
    AbortCode.PEER_LOST: "party_lost",
    AbortCode.TIMEOUT: "deadline_passed",
    AbortCode.PEER_ABORTED: "party_aborted",
    AbortCode.HASHING_FAILED: "hashing_failed",
}
_log = structlog.get_logger("node.computations")


class Progress:
    """The phase of one run at this node."""

    def __init__(
        self,
        run_id: str,
        manifest_id: str,
        runs: RunStore,
        publish: Callable[[str, Mapping[str, Any]], None] | None,
    ) -> None:
        self.run_id = run_id
        self.manifest_id = manifest_id
        self.runs = runs
        self.publish = publish
        self.phase = "starting"
        self.output_started = False

    def enter(self, phase: str) -> None:
        """Enter ``phase`` (a later call with the same phase does nothing)."""
        if phase == self.phase:
            return
        self.phase = phase
        percent = PERCENT[phase]
        self.runs.progress(self.run_id, phase, percent)
        data = {
            "run_id": self.run_id,
            "manifest_id": self.manifest_id,
            "phase": phase,
            "percent": percent,
        }
        _log.info("run.progressed", **data)
        if self.publish is not None:
            self.publish("run.progressed", data)

    def watch(self, program: Program[T]) -> Program[T]:
        """``program``, entering ``opening`` at its first exchange towards a recipient."""
        replies = None
        while True:
            try:
                exchange = next(program) if replies is None else program.send(replies)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]  # the generator's declared result
            if not self.output_started and exchange.label.startswith("out:"):
                self.output_started = True
                self.enter("opening")
            replies = yield exchange


def engine_failure(error: MPCError) -> tuple[str, int | None]:
    """The run's reason code for an engine error, and the party index at fault if known."""
    if isinstance(error, ProtocolAbortedError):
        return _ENGINE_REASONS.get(error.code, "protocol_failed"), error.party
    return "internal_error", None
