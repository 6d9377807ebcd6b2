"""The proposer's side of the consent negotiation, and the state every side shares.

:class:`Proposing` is the base of :class:`~node.consent.protocol.ConsentProtocol`: it holds the
node's identity, store, clock and transport, and runs the proposer's part — send the request to
every provider, collect signed decisions, counter-sign once all agreed, collect each provider's
confirmation, then hand the finalised bundle to the compute parties and recipients. One refusal,
retirement, bad signature or passed deadline ends the proposal for every provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from network.identity import Identity
from node.consent import messages
from node.consent.agreements import Agreements
from node.consent.manifest import Manifest
from node.consent.messages import RejectedError
from node.consent.negotiation import (
    Evaluation,
    Event,
    Negotiation,
    Reason,
    Role,
    State,
    Timeouts,
    aggregate,
    deadline_for,
    may_run,
    start,
)
from node.consent.transport import ConsentTransport
from node.errors import ForbiddenError, InvalidError, NotFoundError

PENDING_GRACE: Final = 30
"""Seconds the proposer waits past a provider's announced approval deadline."""
FOLLOW_GRACE: Final = 2 * PENDING_GRACE
"""Seconds past the manifest's expiry that a wait on *another* party's deadline lasts."""

Evaluator = Callable[[Manifest, int], Evaluation]
"""``evaluate(manifest, now)``: this node's own policies on all its inputs of ``manifest``."""
Publish = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True)
class Status:
    """The proposer's view of one manifest: every provider's negotiation and the aggregate."""

    manifest_id: str
    state: State
    providers: tuple[Negotiation, ...]

    @property
    def may_run(self) -> bool:
        """Whether a run may start (every provider FINALIZED)."""
        return may_run(n.state for n in self.providers)

    @property
    def ended(self) -> Negotiation | None:
        """The first provider negotiation that TERMINATED, with its reason, if any."""
        return next((n for n in self.providers if n.state is State.TERMINATED), None)


def wait_deadline(
    role: Role, state: State, now: int, timeouts: Timeouts, expires_at: int
) -> int | None:
    """When a negotiation that entered ``state`` at ``now`` expires, so that each wait ends by
    its own deadline and not by another's.

    Waits that only follow someone else's — a provider's AGREED (for the counter-signature) and
    the proposer's AGREED (for the slowest provider) — last until :data:`FOLLOW_GRACE` past the
    manifest's expiry instead of ending at it: a request still pending at the expiry then ends
    with ``approval_timeout`` (the provider's deadline, told to the proposer, which ends the
    proposal for everyone) rather than with whichever deadline the timers happened to fire
    first. Every other wait is :func:`~node.consent.negotiation.deadline_for`.
    """
    deadline = deadline_for(role, state, now, timeouts, expires_at)
    if state is not State.AGREED or deadline is None:
        return deadline
    if role is Role.PROVIDER:
        return min(now + timeouts.countersignature, expires_at + FOLLOW_GRACE)
    return expires_at + FOLLOW_GRACE


class Proposing:
    """The proposer's part of the negotiation, over the state all parts share."""

    identity: Identity
    node_id: str
    agreements: Agreements
    evaluate: Evaluator
    publish: Publish | None
    timeouts: Timeouts
    clock: Callable[[], int]
    transport: ConsentTransport
    _rearm: asyncio.Event
    _changed: asyncio.Event

    # --- proposer -----------------------------------------------------------------------------

    def propose(self, manifest: Manifest) -> str:
        """Send a consent request to every provider of ``manifest``; returns the manifest id.

        ``ForbiddenError`` ``not_proposer`` if this node is not the manifest's proposer,
        ``InvalidError`` ``manifest_expired``, ``ConflictError`` ``negotiation_exists``.
        """
        now = self.clock()
        if manifest.proposer != self.node_id:
            raise ForbiddenError("not_proposer", "this node is not the manifest's proposer")
        if manifest.expires_at <= now:
            raise InvalidError("manifest_expired", "the manifest has expired")
        with self.agreements.atomic():
            for provider in manifest.providers:
                negotiation = start(
                    manifest.id, provider, Role.PROPOSER, now, self.timeouts, manifest.expires_at
                )
                self.agreements.begin(negotiation, manifest)
        for provider in manifest.providers:
            self._post(provider, messages.Request(manifest))
        self._changes(manifest.id, Role.PROPOSER)
        return manifest.id

    def status(self, manifest_id: str) -> Status:
        """The proposer's view of ``manifest_id``; ``NotFoundError`` if it proposed no such."""
        providers = tuple(self.agreements.negotiations(manifest_id, Role.PROPOSER))
        if not providers:
            raise NotFoundError("no_negotiation", "no negotiation of this manifest was proposed")
        return Status(manifest_id, aggregate(n.state for n in providers), providers)

    async def wait(self, manifest_id: str, timeout: float) -> Status:
        """The status once it is FINALIZED or TERMINATED (``TimeoutError`` after ``timeout``)."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                status = self.status(manifest_id)
                if status.state in (State.FINALIZED, State.TERMINATED):
                    return status
                await changed.wait()

    def withdraw(self, manifest_id: str, reason: str = Reason.WITHDRAWN) -> None:
        """End the proposer's negotiation with every provider, and tell them."""
        self._end_proposal(manifest_id, reason, None)

    def _on_pending(self, sender: str, message: messages.Pending) -> None:
        negotiation = self._proposal(message.manifest_id, sender)
        manifest = self._manifest(message.manifest_id)
        # the provider's own approval deadline ends it there first, and it tells us why
        deadline = min(message.deadline, manifest.expires_at) + PENDING_GRACE
        after = self.agreements.transition(
            negotiation, Event.QUEUED, self.clock(), deadline=deadline, actor=sender
        )
        self._changed_one(after)

    def _on_decision(self, sender: str, decision: messages.Decision) -> None:
        negotiation = self._proposal(decision.manifest_id, sender)
        manifest = self._manifest(decision.manifest_id)
        now = self.clock()
        try:
            messages.check_decision(decision, manifest, sender)
        except RejectedError as error:
            # The provider itself sent a decision that does not hold: it ends the proposal.
            self._end_proposal(manifest.id, error.code, sender)
            raise
        if decision.outcome == messages.REFUSED:
            with self.agreements.atomic():
                self.agreements.put_decision(decision)
                self.agreements.transition(
                    negotiation,
                    Event.REFUSED,
                    now,
                    reason=decision.reason,
                    constraint=decision.constraint,
                    actor=sender,
                )
            self._end_proposal(manifest.id, Reason.PROVIDER_REFUSED, sender)
            return
        deadline = wait_deadline(
            Role.PROPOSER, State.AGREED, now, self.timeouts, manifest.expires_at
        )
        with self.agreements.atomic():
            self.agreements.put_decision(decision)
            after = self.agreements.transition(
                negotiation, Event.AGREED, now, deadline=deadline, actor=sender
            )
        self._changed_one(after)
        self._countersign_if_all_agreed(manifest)

    def _countersign_if_all_agreed(self, manifest: Manifest) -> None:
        views = self.agreements.negotiations(manifest.id, Role.PROPOSER)
        if any(n.state is not State.AGREED for n in views):
            return
        decisions = self.agreements.decisions(manifest.id)
        signature = messages.countersign(self.identity, manifest, decisions)
        bundle = messages.Countersigned(manifest, decisions, signature)
        now = self.clock()
        deadline = deadline_for(
            Role.PROPOSER, State.VERIFIED, now, self.timeouts, manifest.expires_at
        )
        with self.agreements.atomic():
            for negotiation in views:
                self.agreements.transition(negotiation, Event.COUNTERSIGNED, now, deadline=deadline)
        for provider in manifest.providers:
            self._post(provider, bundle)
        self._changes(manifest.id, Role.PROPOSER)

    def _on_confirmed(self, sender: str, manifest_id: str) -> None:
        negotiation = self._proposal(manifest_id, sender)
        after = self.agreements.transition(negotiation, Event.FINALIZED, self.clock(), actor=sender)
        self._changed_one(after)
        views = self.agreements.negotiations(manifest_id, Role.PROPOSER)
        if not may_run(n.state for n in views):
            return
        manifest = self._manifest(manifest_id)
        decisions = self.agreements.decisions(manifest_id)
        signature = messages.countersign(self.identity, manifest, decisions)
        bundle = messages.Finalized(manifest, decisions, signature)
        self.agreements.finalize(bundle, self.clock())
        for node in manifest.participants:
            if node != self.node_id and node not in manifest.providers:
                self._post(node, bundle)
        if self.publish is not None:
            self.publish("agreement.finalized", {"manifest_id": manifest_id})

    def _end_proposal(self, manifest_id: str, reason: str, cause: str | None) -> None:
        """TERMINATE every live provider negotiation of this proposal and tell who must know.

        ``cause`` is the provider whose refusal, retirement, fault or message ended it; its own
        negotiation gets ``reason``, the others a ``provider_*`` reason (or ``reason`` itself
        when the proposer ended it). The cause is not told; the other providers are, and so
        are compute parties and recipients if the agreement had been finalised.
        """
        now = self.clock()
        manifest = self._manifest(manifest_id)
        finalized = self.agreements.agreement(manifest_id) is not None
        passed_on = (Reason.PROVIDER_REFUSED, Reason.PROVIDER_RETIRED)
        ended: list[Negotiation] = []
        with self.agreements.atomic():
            for negotiation in self.agreements.negotiations(manifest_id, Role.PROPOSER):
                if negotiation.state is State.TERMINATED:
                    continue
                event, why = Event.TERMINATED, reason
                if negotiation.provider == cause and reason == Reason.PROVIDER_RETIRED:
                    event = Event.RETIRED
                elif (
                    cause is not None and negotiation.provider != cause and reason not in passed_on
                ):
                    why = Reason.PROVIDER_TERMINATED
                ended.append(
                    self.agreements.transition(negotiation, event, now, reason=why, actor=cause)
                )
            self.agreements.retire(manifest_id, reason, now)
        for negotiation in ended:
            if negotiation.provider != cause:
                notice = messages.Terminated(manifest_id, negotiation.reason or reason)
                self._post(negotiation.provider, notice)
        if finalized:
            for node in manifest.participants:
                if node not in manifest.providers and node != self.node_id:
                    self._post(node, messages.Terminated(manifest_id, reason))
        self._changes(manifest.id, Role.PROPOSER)

    def _post(self, node_id: str, message: messages.Message) -> None:
        self.transport.post(node_id, message)

    def _unreachable(self, node_id: str, message: messages.Message, reason: str) -> None:
        """A request that could not be sent ends the proposal with ``reason`` (``unreachable``,
        or the handshake's refusal such as ``no_shared_data_space``) as that provider's."""
        if isinstance(message, messages.Request):
            view = self.agreements.get(message.manifest.id, node_id, Role.PROPOSER)
            if view is not None and view.state is State.REQUESTED:
                self._end_proposal(message.manifest.id, reason or Reason.UNREACHABLE, node_id)

    # --- helpers ------------------------------------------------------------------------------

    def _manifest(self, manifest_id: str) -> Manifest:
        manifest = self.agreements.manifest(manifest_id)
        if manifest is None:
            raise NotFoundError("no_negotiation", "no negotiation of this manifest is known")
        return manifest

    def _proposal(self, manifest_id: str, provider: str) -> Negotiation:
        negotiation = self.agreements.get(manifest_id, provider, Role.PROPOSER)
        if negotiation is None:
            raise RejectedError("unknown_negotiation", "no proposal of this manifest to that node")
        return negotiation

    def _changed_one(self, negotiation: Negotiation) -> None:
        self._rearm.set()
        self._changed.set()
        self._changed = asyncio.Event()
        if self.publish is not None:
            self.publish(
                "negotiation.updated",
                {
                    "manifest_id": negotiation.manifest_id,
                    "provider": negotiation.provider,
                    "role": negotiation.role.value,
                    "state": negotiation.state.value,
                    "reason": negotiation.reason,
                },
            )

    def _changes(self, manifest_id: str, role: Role) -> None:
        for negotiation in self.agreements.negotiations(manifest_id, role):
            self._changed_one(negotiation)
