"""The consent negotiation state machine: one per (manifest, provider), pure, time as a parameter.

States are the Dataspace Protocol's contract-negotiation states plus ``PENDING_APPROVAL``. Each
negotiation is seen from one of two sides: the provider's own view (``Role.PROVIDER``) and the
proposer's view of that provider (``Role.PROPOSER``); a node that is both holds both.

Happy path, as each side sees it::

    provider:  REQUESTED ─(QUEUED)→ PENDING_APPROVAL ─(AGREED)→ AGREED ─(FINALIZED)→ FINALIZED
    proposer:  REQUESTED ─(QUEUED)→ PENDING_APPROVAL ─(AGREED)→ AGREED ─(COUNTERSIGNED)→ VERIFIED
                                                                     ─(FINALIZED)→ FINALIZED

``QUEUED`` is skipped when a policy auto-approves. The provider is FINALIZED once it has checked
every signature of the counter-signed bundle; the proposer marks a provider FINALIZED when that
provider confirms. Any state but TERMINATED may end in TERMINATED (``REFUSED``, ``TERMINATED``,
``RETIRED``, or ``EXPIRED`` when the waiting state's deadline passes). Every row is in
:data:`TRANSITIONS`; any other (role, state, event) is an :class:`IllegalTransitionError`.

A run may start only when every provider of the manifest is FINALIZED (:func:`aggregate`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from node.consent.evaluate import Verdict
from node.consent.policy import Policy
from node.errors import ConflictError


class State(StrEnum):
    """Where one (manifest, provider) negotiation stands."""

    REQUESTED = "REQUESTED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


class Role(StrEnum):
    """Whose view of the negotiation this is."""

    PROVIDER = "provider"
    PROPOSER = "proposer"


class Event(StrEnum):
    """What happened. Outcomes, named as past participles."""

    QUEUED = "queued"
    """The provider put the request before a person."""
    AGREED = "agreed"
    """The provider signed its agreement (the proposer: and the signature checked)."""
    REFUSED = "refused"
    """The provider signed a refusal, or a person refused."""
    COUNTERSIGNED = "countersigned"
    """The proposer counter-signed every agreement and sent the bundle to this provider."""
    FINALIZED = "finalized"
    """Provider: every signature of the bundle checked. Proposer: the provider confirmed."""
    TERMINATED = "terminated"
    """Either side ended the negotiation (withdrawn, another provider refused, a bad message)."""
    RETIRED = "retired"
    """The provider retired its agreement (or the request) — effective at once."""
    EXPIRED = "expired"
    """The waiting state's deadline passed."""


class Reason(StrEnum):
    """Reason codes of terminations the negotiation itself produces (policies add their own)."""

    APPROVAL_TIMEOUT = "approval_timeout"
    DECISION_TIMEOUT = "decision_timeout"
    COUNTERSIGNATURE_TIMEOUT = "countersignature_timeout"
    CONFIRMATION_TIMEOUT = "confirmation_timeout"
    REFUSED_BY_APPROVER = "refused_by_approver"
    PROVIDER_REFUSED = "provider_refused"
    PROVIDER_RETIRED = "provider_retired"
    PROVIDER_TERMINATED = "provider_terminated"
    RETIRED = "retired"
    WITHDRAWN = "withdrawn"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_BUNDLE = "invalid_bundle"
    UNREACHABLE = "unreachable"


_WAITING: Final = (State.REQUESTED, State.PENDING_APPROVAL, State.AGREED, State.VERIFIED)
_P, _Q = Role.PROVIDER, Role.PROPOSER

TRANSITIONS: Final[dict[tuple[Role, State, Event], State]] = {
    # the provider's own view
    (_P, State.REQUESTED, Event.QUEUED): State.PENDING_APPROVAL,
    (_P, State.REQUESTED, Event.AGREED): State.AGREED,
    (_P, State.REQUESTED, Event.REFUSED): State.TERMINATED,
    (_P, State.PENDING_APPROVAL, Event.AGREED): State.AGREED,
    (_P, State.PENDING_APPROVAL, Event.REFUSED): State.TERMINATED,
    (_P, State.AGREED, Event.FINALIZED): State.FINALIZED,
    # the proposer's view of one provider
    (_Q, State.REQUESTED, Event.QUEUED): State.PENDING_APPROVAL,
    (_Q, State.REQUESTED, Event.AGREED): State.AGREED,
    (_Q, State.REQUESTED, Event.REFUSED): State.TERMINATED,
    (_Q, State.PENDING_APPROVAL, Event.AGREED): State.AGREED,
    (_Q, State.PENDING_APPROVAL, Event.REFUSED): State.TERMINATED,
    (_Q, State.AGREED, Event.COUNTERSIGNED): State.VERIFIED,
    (_Q, State.VERIFIED, Event.FINALIZED): State.FINALIZED,
    # endings, on both sides: from every waiting state, and from FINALIZED except by deadline
    # (a finalised agreement's validity window is checked when a run is authorised)
    **{
        (role, state, event): State.TERMINATED
        for role in Role
        for state in (*_WAITING, State.FINALIZED)
        for event in (Event.TERMINATED, Event.RETIRED, Event.EXPIRED)
        if not (state is State.FINALIZED and event is Event.EXPIRED)
    },
}
"""Every legal transition; anything else is an error."""

EXPIRY_REASONS: Final = {
    (_P, State.REQUESTED): Reason.DECISION_TIMEOUT,
    (_P, State.PENDING_APPROVAL): Reason.APPROVAL_TIMEOUT,
    (_P, State.AGREED): Reason.COUNTERSIGNATURE_TIMEOUT,
    (_Q, State.REQUESTED): Reason.DECISION_TIMEOUT,
    (_Q, State.PENDING_APPROVAL): Reason.APPROVAL_TIMEOUT,
    (_Q, State.AGREED): Reason.DECISION_TIMEOUT,
    (_Q, State.VERIFIED): Reason.CONFIRMATION_TIMEOUT,
}
"""The reason code a passed deadline gives, per waiting state."""


class IllegalTransitionError(ConflictError):
    """The event is not allowed in the negotiation's current state (``illegal_transition``)."""

    def __init__(self, role: Role, state: State, event: Event) -> None:
        super().__init__(
            "illegal_transition",
            f"a {role.value} negotiation in state {state.value} cannot take event {event.value}",
            {"role": role.value, "state": state.value, "event": event.value},
        )


@dataclass(frozen=True)
class UsageLimit:
    """A policy's ``count ≤ max_count per window`` limit that runs of a manifest count against."""

    policy_id: str
    max_count: int
    window: int
    """Seconds of the sliding window."""


@dataclass(frozen=True)
class Evaluation:
    """What this provider's own policies say about a manifest (all its inputs together)."""

    allowed: bool
    manual: bool = False
    """A person must approve (an allowing policy asks for manual approval)."""
    reason: str | None = None
    """The refusal's reason code."""
    constraint: str | None = None
    """The JSON path of the failing part of the policy, when there is one."""
    policies: tuple[tuple[str, int], ...] = ()
    """(policy id, version) of each policy that allowed it (audited with the decision)."""
    limits: tuple[UsageLimit, ...] = ()
    """Usage limits each run of the manifest counts against."""
    valid_until: int | None = None
    """The latest time the allowing policies permit (None: the manifest's expiry)."""


FOREVER: Final = 1 << 40
"""The window of a ``count`` constraint without ``per``: every run ever."""


def evaluation_from_verdicts(verdicts: Sequence[Verdict], policies: Sequence[Policy]) -> Evaluation:
    """One :class:`Evaluation` from the verdicts on each of this provider's inputs.

    Every input must be allowed (the first refusal is the answer); a person must approve if
    any verdict says so. Each run counts against the ``count`` constraints of the policy each
    verdict names (``lteq n``: n runs in the window, ``lt n``: n - 1); the agreement is valid
    no longer than the earliest ``valid_until`` of those policies.
    """
    if not verdicts:
        return Evaluation(allowed=False, reason="dataset_not_in_manifest")
    for verdict in verdicts:
        if not verdict.allowed:
            return Evaluation(allowed=False, reason=verdict.code, constraint=verdict.path)
    chosen = sorted({(v.policy_id, v.policy_version) for v in verdicts if v.policy_id})
    by_key = {(p.id, p.version): p for p in policies}
    used = [by_key[key] for key in chosen if key in by_key]
    if len(used) != len(chosen):  # fail closed: a verdict names a policy not given here
        return Evaluation(allowed=False, reason="no_policy")
    limits = tuple(
        UsageLimit(p.id, c.right if c.op == "lteq" else c.right - 1, c.per or FOREVER)
        for p in used
        for c in p.constraints
        if c.left == "count" and isinstance(c.right, int) and not isinstance(c.right, bool)
    )
    until = [p.valid_until for p in used if p.valid_until is not None]
    return Evaluation(
        allowed=True,
        manual=any(v.manual for v in verdicts),
        policies=tuple((p.id, p.version) for p in used),
        limits=limits,
        valid_until=min(until) if until else None,
    )


@dataclass(frozen=True)
class Timeouts:
    """Seconds each waiting state may last (never beyond the manifest's ``expires_at``)."""

    decision: int = 120
    """REQUESTED: the provider's evaluation, and the proposer's wait for a first answer.
    (The proposer's AGREED lasts until the manifest expires: the other providers' own
    deadlines end the proposal if one of them stalls.)"""
    approval: int = 3 * 24 * 3600
    """PENDING_APPROVAL: how long a request waits for a person."""
    countersignature: int = 300
    """Provider AGREED: waiting for the proposer's counter-signed bundle."""
    confirmation: int = 120
    """Proposer VERIFIED: waiting for the provider to confirm the bundle."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"timeout {field.name} must be at least one second")


@dataclass(frozen=True)
class Negotiation:
    """One side's view of one (manifest, provider) negotiation."""

    manifest_id: str
    provider: str
    role: Role
    state: State
    deadline: int | None
    """Unix seconds when the waiting state expires; ``None`` once FINALIZED or TERMINATED."""
    updated_at: int
    reason: str | None = None
    """Reason code of a TERMINATED negotiation (a policy's, or a :class:`Reason`)."""
    constraint: str | None = None
    """JSON path of the failing constraint of a refusal, when the policy names one."""

    @property
    def is_final(self) -> bool:
        """Whether nothing but a retirement can change it any more."""
        return self.state in (State.FINALIZED, State.TERMINATED)


def deadline_for(
    role: Role, state: State, now: int, timeouts: Timeouts, expires_at: int
) -> int | None:
    """When a negotiation that entered ``state`` at ``now`` expires (``None``: not waiting)."""
    seconds = {
        State.REQUESTED: timeouts.decision,
        State.PENDING_APPROVAL: timeouts.approval,
        # the proposer's AGREED waits for the slowest provider, whose own deadlines end it all
        State.AGREED: timeouts.countersignature if role is Role.PROVIDER else expires_at - now,
        State.VERIFIED: timeouts.confirmation,
    }.get(state)
    if seconds is None:
        return None
    return min(now + seconds, expires_at)


def start(
    manifest_id: str, provider: str, role: Role, now: int, timeouts: Timeouts, expires_at: int
) -> Negotiation:
    """A new negotiation in REQUESTED (the request was sent, or received)."""
    deadline = deadline_for(role, State.REQUESTED, now, timeouts, expires_at)
    return Negotiation(manifest_id, provider, role, State.REQUESTED, deadline, now)


def step(
    negotiation: Negotiation,
    event: Event,
    now: int,
    *,
    deadline: int | None = None,
    reason: str | None = None,
    constraint: str | None = None,
) -> Negotiation:
    """The negotiation after ``event``; raises :class:`IllegalTransitionError` if not in the table.

    ``deadline`` is the new waiting state's deadline (see :func:`deadline_for`); it is ignored
    for FINALIZED and TERMINATED, which wait for nothing.
    """
    key = (negotiation.role, negotiation.state, event)
    target = TRANSITIONS.get(key)
    if target is None:
        raise IllegalTransitionError(*key)
    if target is State.TERMINATED and reason is None:
        reason = EXPIRY_REASONS.get((negotiation.role, negotiation.state), Reason.WITHDRAWN)
    waiting = target in _WAITING
    return dataclasses.replace(
        negotiation,
        state=target,
        deadline=deadline if waiting else None,
        updated_at=now,
        reason=reason if target is State.TERMINATED else None,
        constraint=constraint if target is State.TERMINATED else None,
    )


def expire(negotiation: Negotiation, now: int) -> Negotiation | None:
    """The negotiation TERMINATED by its passed deadline, or ``None`` if it is not yet due."""
    if negotiation.deadline is None or now < negotiation.deadline:
        return None
    reason = EXPIRY_REASONS[(negotiation.role, negotiation.state)]
    return step(negotiation, Event.EXPIRED, now, reason=reason)


def aggregate(states: Iterable[State]) -> State:
    """The proposer's view of a whole manifest from its providers' states.

    TERMINATED if any provider's negotiation ended; FINALIZED only if every one is; otherwise
    the least advanced state (the manifest waits for its slowest provider).
    """
    order = list(State)
    seen = list(states)
    if not seen:
        raise ValueError("a manifest has at least one provider")
    if State.TERMINATED in seen:
        return State.TERMINATED
    return min(seen, key=order.index)


def may_run(states: Iterable[State]) -> bool:
    """Whether a run may start: every provider's negotiation is FINALIZED."""
    seen = list(states)
    return bool(seen) and all(state is State.FINALIZED for state in seen)


def next_deadline(negotiations: Iterable[Negotiation]) -> int | None:
    """The earliest deadline among ``negotiations`` (when a driver's timer should fire)."""
    deadlines = [n.deadline for n in negotiations if n.deadline is not None]
    return min(deadlines) if deadlines else None
