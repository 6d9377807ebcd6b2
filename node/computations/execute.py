"""A party's own part of a run: the checks before any share exists, then the engine program.

:func:`prepare` is everything a party checks before ``ready``: every signature of the bundle,
that it takes part, that its agreement is live, and its input (loaded and within its bound). It
raises a ``NodeError`` with a code to refuse; the caller then reserves the usage.

:func:`execute` runs the party's program (``plan.party_program``) after ``go``: it opens the run's
sessions to every other party at once (dialling where there is no link yet), drives the program
over them (``network.driver.drive``) while :class:`~node.computations.progress.Progress` counts
its rounds, and maps an engine failure to the run's reason code and the node at fault — unless a
peer's ``abort`` already named the cause.
"""

from __future__ import annotations

from dataclasses import dataclass

from network.driver import drive
from node.computations.channels import EngineTransport, Observe, all_of, settle_turns
from node.computations.control import RunAbortedError
from node.computations.inputs import ProviderInput
from node.computations.lifecycle import Body, Run
from node.computations.plan import Plan, load_input, party_program, plan_for
from node.computations.progress import engine_failure, shape_of
from node.computations.results import RunStore
from node.consent import messages
from node.consent.agreements import Agreements
from node.datasets import DatasetStore
from node.errors import ForbiddenError
from protocols.errors import MPCError
from protocols.program import Context
from protocols.randomness import RandomSource


@dataclass(frozen=True)
class Prepared:
    """A party's plan and its own input (if it provides one), checked."""

    plan: Plan
    mine: ProviderInput | None


def prepare(
    bundle: messages.Finalized,
    coordinator: str,
    me: str,
    agreements: Agreements,
    datasets: DatasetStore,
    now: int,
) -> Prepared:
    """Everything node ``me`` checks before it touches a share; ``NodeError`` to refuse.

    The agreement is stored from the bundle if this node never received it (a participant that
    provides nothing takes no part in the negotiation).
    """
    manifest = bundle.manifest
    messages.check_bundle(bundle, coordinator, now)
    plan = plan_for(manifest)
    if plan.index(me) is None and me != manifest.proposer:
        raise ForbiddenError("not_participant", "this node takes no part in the manifest")
    if agreements.agreement(manifest.id) is None:
        agreements.finalize(bundle, now, actor=coordinator)
    agreements.require_active(manifest.id, now)
    item = plan.input_of(me)
    mine = None if item is None else load_input(datasets, plan, item, now)
    return Prepared(plan, mine)


async def execute(
    run: Run,
    prepared: Prepared,
    node_id: str,
    source: RandomSource,
    runs: RunStore,
    observe: Observe | None,
) -> Body:
    """Run this party's program of ``run``; its result body at a recipient, else ``None``."""
    plan = prepared.plan
    me = plan.index(node_id)
    assert me is not None
    others = [node for node in plan.parties if node != node_id]
    await all_of([run.channels.session(node, dial_first=node_id < node) for node in others])
    ctx = Context(me, plan.committee, source, n_participants=len(plan.parties))
    run.shape = shape_of(plan, me)
    progress = run.progress
    program = party_program(ctx, plan, prepared.mine, progress.enter)
    watched = progress.watch(program, runs.expected_rounds(run.shape))
    try:
        return await drive(watched, EngineTransport(run.channels, plan.parties, observe))
    except MPCError as error:
        await settle_turns()
        if run.stop.reason is not None:
            raise RunAbortedError(*run.stop.reason) from None
        reason, index = engine_failure(error)
        party = None if index is None or index >= len(plan.parties) else plan.parties[index]
        raise RunAbortedError(reason, party) from None
