"""The consent negotiation over peer links: the asyncio driver around the pure state table.

Messages (``node.consent.messages``) travel on the consent session (:data:`CONSENT_SESSION`,
from ``node.consent.transport``) of each link, one ``uint8`` array per message, labelled ``c1``,
``c2``… per direction. The sender
of a message is the authenticated node at the other end of the link; a node's messages to
itself (a proposer that is also a provider) go through the same codec without a link.

All negotiation logic is synchronous: a message or a call changes the store in one transaction
(state, decision, audit entry) and queues the messages it causes in a per-peer outbox, whose
worker sends them in order over the peer's link. One timer task sleeps until the earliest
deadline in the store and expires what is due, so deadlines survive a restart (:meth:`start`).

What this module needs: a :class:`~network.host.PeerHost`, the node's identity, its
:class:`~node.consent.agreements.Agreements`, an evaluator of manifests against this node's own
policies (never a policy sent by the proposer), and optionally ``publish(kind, data)`` and
``connect(node_id, deadline)``, which dials a peer the node has no link to (the service passes
discovery's; without it a message waits for a link the peer dials).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Final

import structlog

from network.host import PeerHost
from network.identity import Identity
from network.link import Session
from network.tasks import TaskSet
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
    deadline_for,
    expire,
    next_deadline,
    start,
)
from node.consent.proposing import Evaluator, Proposing, Publish, Status, wait_deadline
from node.consent.transport import CONSENT_SESSION, Connect, ConsentTransport
from node.errors import ConflictError, ForbiddenError, InvalidError, NodeError, NotFoundError

__all__ = ["CONSENT_SESSION", "ConsentProtocol", "Evaluator", "Publish", "Status"]

DEFAULT_MAX_RUNS: Final = 1
MAX_WAIT: Final = 3600.0
"""Longest single sleep of the timer task (it re-reads the store after it)."""


_log = structlog.get_logger("node.consent")


def _wall_clock() -> int:
    return int(time.time())


class ConsentProtocol(Proposing):
    """Negotiates consent for this node, as proposer, provider and participant."""

    def __init__(
        self,
        host: PeerHost,
        identity: Identity,
        agreements: Agreements,
        evaluate: Evaluator,
        publish: Publish | None = None,
        *,
        timeouts: Timeouts | None = None,
        clock: Callable[[], int] = _wall_clock,
        link_timeout: float = 10.0,
        connect: Connect | None = None,
    ) -> None:
        self.host = host
        self.identity = identity
        self.node_id = identity.node_id
        self.agreements = agreements
        self.evaluate = evaluate
        self.publish = publish
        self.timeouts = timeouts or Timeouts()
        self.clock = clock
        self.link_timeout = link_timeout
        self.transport = ConsentTransport(
            host, self._handle, self._unreachable, link_timeout, connect
        )
        self._tasks = TaskSet()
        self._rearm = asyncio.Event()
        self._changed = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Expire what fell due while the node was down and arm the timer for the rest."""
        self._expire_due()
        self._tasks.spawn(self._timer())

    async def aclose(self) -> None:
        """Stop the timer, the readers and the outboxes (state is in the store already)."""
        await self._tasks.aclose()
        await self.transport.aclose()

    def on_session(self, session: Session) -> None:
        """Host hook (pass it to the PeerHost): a peer opened a session on a link."""
        self.transport.on_session(session)

    # --- provider -----------------------------------------------------------------------------

    def pending(self) -> list[Negotiation]:
        """Requests to this node waiting for a person."""
        return self.agreements.pending_approvals()

    def approve(
        self, manifest_id: str, *, valid_until: int | None = None, max_runs: int | None = None
    ) -> Negotiation:
        """A person approves a pending request, optionally on narrower terms (an earlier
        ``valid_until``, fewer ``max_runs``); terms wider than the default are refused."""
        negotiation = self._own(manifest_id, State.PENDING_APPROVAL)
        manifest = self._manifest(manifest_id)
        evaluation = self.evaluate(manifest, self.clock())
        if not evaluation.allowed:  # the policy changed or was retired meanwhile
            return self._refuse(negotiation, evaluation.reason or "refused", evaluation.constraint)
        return self._agree(negotiation, manifest, evaluation, valid_until, max_runs, "admin")

    def refuse(self, manifest_id: str, reason: str = Reason.REFUSED_BY_APPROVER) -> Negotiation:
        """A person refuses a pending request with a reason code."""
        negotiation = self._own(manifest_id, State.PENDING_APPROVAL)
        return self._refuse(negotiation, reason, None, actor="admin")

    def retire(self, manifest_id: str, reason: str = Reason.RETIRED) -> None:
        """Retire this provider's consent to ``manifest_id`` at once, and tell every participant.

        From then on :meth:`authorize_run` refuses; a negotiation still under way ends.
        """
        now = self.clock()
        negotiation = self.agreements.get(manifest_id, self.node_id, Role.PROVIDER)
        if negotiation is None or negotiation.state is State.TERMINATED:
            raise ConflictError("not_retirable", "this node holds no live consent to the manifest")
        manifest = self._manifest(manifest_id)
        with self.agreements.atomic():
            after = self.agreements.transition(negotiation, Event.RETIRED, now, reason=reason)
            self.agreements.retire(manifest_id, reason, now)
        for node in manifest.participants:
            if node != self.node_id:
                self._post(node, messages.Retired(manifest_id, reason))
        self._changed_one(after)

    def authorize_run(self, manifest_id: str, run_id: str) -> None:
        """Authorise one run of an agreed manifest at this provider and reserve its usage.

        The manifest is evaluated again against the current policies (a retired or changed
        policy refuses at once: ``ForbiddenError`` ``policy_refused``); then the agreement's
        validity, runs and usage limits are checked and the run reserved
        (:meth:`Agreements.reserve`).
        """
        now = self.clock()
        manifest = self._manifest(manifest_id)
        evaluation = self.evaluate(manifest, now)
        if not evaluation.allowed:
            raise ForbiddenError(
                "policy_refused",
                "this node's policies no longer allow the manifest",
                {"reason": evaluation.reason, "constraint": evaluation.constraint},
            )
        self.agreements.reserve(manifest_id, run_id, now)

    # --- message handling ---------------------------------------------------------------------

    def _handle(self, sender: str, message: messages.Message) -> None:
        """Apply one message from ``sender``; a refused message is audited and logged once."""
        try:
            self._dispatch(sender, message)
        except (RejectedError, ConflictError, NotFoundError) as error:
            self._rejected(sender, message, error)

    def _dispatch(self, sender: str, message: messages.Message) -> None:
        if isinstance(message, messages.Request):
            self._on_request(sender, message.manifest)
        elif isinstance(message, messages.Pending):
            self._on_pending(sender, message)
        elif isinstance(message, messages.Decision):
            self._on_decision(sender, message)
        elif isinstance(message, messages.Countersigned):
            self._on_countersigned(sender, message)
        elif isinstance(message, messages.Confirmed):
            self._on_confirmed(sender, message.manifest_id)
        elif isinstance(message, messages.Finalized):
            self._on_finalized(sender, message)
        elif isinstance(message, messages.Terminated):
            self._on_terminated(sender, message)
        else:
            self._on_retired(sender, message)

    def _rejected(self, sender: str, message: messages.Message, error: NodeError) -> None:
        kind = type(message).__name__.lower()
        details = {"peer": sender, "message": kind, "code": error.code}
        if self.agreements.audit is not None:
            self.agreements.audit.append("consent.rejected", details, actor=sender)
        _log.warning("consent.rejected", peer=sender, message=kind, code=error.code)

    def _on_request(self, sender: str, manifest: Manifest) -> None:
        now = self.clock()
        if sender != manifest.proposer:
            raise RejectedError("not_proposer", "the request did not come from its proposer")
        if self.node_id not in manifest.providers:
            raise RejectedError("not_provider", "this node provides no input to the manifest")
        negotiation = start(
            manifest.id, self.node_id, Role.PROVIDER, now, self.timeouts, manifest.expires_at
        )
        self.agreements.begin(negotiation, manifest, actor=sender)
        try:
            evaluation = self.evaluate(manifest, now)
        except Exception:  # fail closed: an evaluator fault is a refusal
            _log.exception("consent.evaluation_failed")
            evaluation = Evaluation(allowed=False, reason="evaluation_failed")
        if not evaluation.allowed:
            self._refuse(negotiation, evaluation.reason or "refused", evaluation.constraint)
        elif evaluation.manual:
            deadline = deadline_for(
                Role.PROVIDER, State.PENDING_APPROVAL, now, self.timeouts, manifest.expires_at
            )
            with self.agreements.atomic():
                after = self.agreements.transition(
                    negotiation, Event.QUEUED, now, deadline=deadline, details=_policies(evaluation)
                )
                self.agreements.set_limits(manifest.id, evaluation.limits)
            assert deadline is not None
            self._post(manifest.proposer, messages.Pending(manifest.id, deadline))
            self._changed_one(after)
            if self.publish is not None:
                self.publish("approval.requested", {"manifest_id": manifest.id})
        else:
            self._agree(negotiation, manifest, evaluation, None, None, None)

    def _agree(
        self,
        negotiation: Negotiation,
        manifest: Manifest,
        evaluation: Evaluation,
        valid_until: int | None,
        max_runs: int | None,
        actor: str | None,
    ) -> Negotiation:
        now = self.clock()
        latest = min(manifest.expires_at, evaluation.valid_until or manifest.expires_at)
        if valid_until is not None and not now < valid_until <= latest:
            raise InvalidError(
                "terms_not_narrower",
                "valid_until must be in the future and no later than the policies allow",
            )
        if max_runs is not None and not 1 <= max_runs <= DEFAULT_MAX_RUNS:
            raise InvalidError(
                "terms_not_narrower", f"max_runs must be from 1 to {DEFAULT_MAX_RUNS}"
            )
        decision = messages.sign_decision(
            self.identity,
            manifest.id,
            agreed=True,
            valid_until=valid_until or latest,
            max_runs=max_runs or DEFAULT_MAX_RUNS,
            now=now,
        )
        deadline = wait_deadline(
            Role.PROVIDER, State.AGREED, now, self.timeouts, manifest.expires_at
        )
        with self.agreements.atomic():
            self.agreements.put_decision(decision)
            self.agreements.set_limits(manifest.id, evaluation.limits)
            after = self.agreements.transition(
                negotiation,
                Event.AGREED,
                now,
                deadline=deadline,
                actor=actor,
                details=_policies(evaluation),
            )
        self._post(manifest.proposer, decision)
        self._changed_one(after)
        return after

    def _refuse(
        self,
        negotiation: Negotiation,
        reason: str,
        constraint: str | None,
        actor: str | None = None,
    ) -> Negotiation:
        now = self.clock()
        manifest = self._manifest(negotiation.manifest_id)
        decision = messages.sign_decision(
            self.identity,
            manifest.id,
            agreed=False,
            valid_until=now,
            max_runs=0,
            now=now,
            reason=reason,
            constraint=constraint,
        )
        with self.agreements.atomic():
            self.agreements.put_decision(decision)
            after = self.agreements.transition(
                negotiation, Event.REFUSED, now, reason=reason, constraint=constraint, actor=actor
            )
        self._post(manifest.proposer, decision)
        self._changed_one(after)
        return after

    def _on_countersigned(self, sender: str, bundle: messages.Countersigned) -> None:
        manifest = bundle.manifest
        negotiation = self._own(manifest.id, State.AGREED)
        now = self.clock()
        try:
            messages.check_bundle(bundle, sender, now)
            mine = next(d for d in bundle.decisions if d.provider == self.node_id)
            stored = [d for d in self.agreements.decisions(manifest.id) if d == mine]
            if not stored:
                raise RejectedError(
                    "invalid_bundle", "the bundle does not hold this node's decision"
                )
        except RejectedError as error:
            if sender == manifest.proposer:  # the proposer misbehaved: this negotiation ends
                after = self.agreements.transition(
                    negotiation, Event.TERMINATED, now, reason=Reason.INVALID_BUNDLE, actor=sender
                )
                self._post(
                    manifest.proposer, messages.Terminated(manifest.id, Reason.INVALID_BUNDLE)
                )
                self._changed_one(after)
            raise error from None
        with self.agreements.atomic():
            self.agreements.finalize(bundle, now, actor=sender)
            after = self.agreements.transition(negotiation, Event.FINALIZED, now, actor=sender)
        self._post(manifest.proposer, messages.Confirmed(manifest.id))
        self._changed_one(after)

    def _on_finalized(self, sender: str, bundle: messages.Finalized) -> None:
        manifest = bundle.manifest
        if self.node_id not in manifest.participants:
            raise RejectedError("not_participant", "this node takes no part in the manifest")
        messages.check_bundle(bundle, sender, self.clock())
        self.agreements.finalize(bundle, self.clock(), actor=sender)
        if self.publish is not None:
            self.publish("agreement.finalized", {"manifest_id": manifest.id})

    def _on_terminated(self, sender: str, message: messages.Terminated) -> None:
        manifest = self._manifest(message.manifest_id)
        now = self.clock()
        handled = False
        if sender == manifest.proposer:  # the proposal ended: this node's part in it ends too
            own = self.agreements.get(manifest.id, self.node_id, Role.PROVIDER)
            with self.agreements.atomic():
                if own is not None and own.state is not State.TERMINATED:
                    own = self.agreements.transition(
                        own, Event.TERMINATED, now, reason=message.reason, actor=sender
                    )
                    self._changed_one(own)
                    handled = True
                agreement = self.agreements.agreement(manifest.id)
                if agreement is not None and agreement.state == "active":
                    self.agreements.retire(manifest.id, message.reason, now, actor=sender)
                    handled = True
        view = self.agreements.get(manifest.id, sender, Role.PROPOSER)
        if view is not None and view.state is not State.TERMINATED:  # a provider ended it
            self._end_proposal(manifest.id, message.reason, sender)
            handled = True
        if not handled:
            raise RejectedError("unexpected_message", "nothing to terminate for this sender")

    def _on_retired(self, sender: str, message: messages.Retired) -> None:
        manifest = self._manifest(message.manifest_id)
        if sender not in manifest.providers:
            raise RejectedError("not_provider", "only a provider retires its consent")
        now = self.clock()
        self.agreements.retire(manifest.id, Reason.PROVIDER_RETIRED, now, actor=sender)
        view = self.agreements.get(manifest.id, sender, Role.PROPOSER)
        if view is not None and view.state is not State.TERMINATED:
            self._end_proposal(manifest.id, Reason.PROVIDER_RETIRED, sender)
        if self.publish is not None:
            self.publish("agreement.retired", {"manifest_id": manifest.id})

    # --- deadlines ----------------------------------------------------------------------------

    def _expire_due(self) -> None:
        now = self.clock()
        for negotiation in self.agreements.waiting():
            ended = expire(negotiation, now)
            if ended is None:
                continue
            try:
                after = self.agreements.transition(
                    negotiation, Event.EXPIRED, now, reason=ended.reason
                )
            except ConflictError:
                continue
            self._changed_one(after)
            reason = after.reason or Reason.DECISION_TIMEOUT
            if negotiation.role is Role.PROVIDER:
                manifest = self._manifest(negotiation.manifest_id)
                self._post(manifest.proposer, messages.Terminated(manifest.id, reason))
            else:
                self._end_proposal(negotiation.manifest_id, reason, None)

    async def _timer(self) -> None:
        while True:
            self._rearm.clear()
            deadline = next_deadline(self.agreements.waiting())
            delay = MAX_WAIT if deadline is None else max(0.0, deadline - self.clock())
            # asyncio.timeout, not wait_for: 3.11's wait_for loses a cancel that races a wake-up
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(delay, MAX_WAIT)):
                    await self._rearm.wait()
            try:
                self._expire_due()
            except NodeError as error:  # never let one bad row stop every deadline
                _log.warning("consent.expiry_failed", code=error.code)

    def _own(self, manifest_id: str, state: State) -> Negotiation:
        negotiation = self.agreements.get(manifest_id, self.node_id, Role.PROVIDER)
        if negotiation is None:
            raise NotFoundError("no_negotiation", "no request for this manifest was received")
        if negotiation.state is not state:
            raise ConflictError(
                "wrong_state", f"the negotiation is {negotiation.state.value}, not {state.value}"
            )
        return negotiation


def _policies(evaluation: Evaluation) -> dict[str, object]:
    """Audit details naming the policy versions a decision rests on."""
    return {"policies": [f"{pid}@{version}" for pid, version in evaluation.policies]}
