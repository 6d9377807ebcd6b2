"""Which of this node's datasets one requester may see, and why each other one is hidden.

A dataset is *visible* to a requester when at least one of its current policies admits the
requester: the requester is a member of one of this node's data spaces (or of a data space
linked to one of them *that the policy names* in an ``eq``/``isAnyOf`` ``data_space``
constraint — the same opt-in as in negotiation), and the policy explained for that requester
(:func:`node.consent.evaluate.explain` with a ``Requester``: its verified roles in that data
space) has no failing part. The parts a requester alone decides are checked — the validity
window, ``requester``, ``requester_role``, ``data_space``, ``dateTime``; the parts that depend on
a manifest are not applicable. ``count`` does not hide a dataset: visibility is about *who*
asks, not how often; a request over the limit is refused in negotiation with its constraint.

A dataset with no current policy is never visible. A requester this node knows as a member of
none of its data spaces, nor of a linked one, sees no catalog at all (``member`` is false).

Everything here is pure: the policies, the verified facts and ``now`` come in as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from node.consent.checks import Check, Facts, Outcome, Requester
from node.consent.evaluate import explain
from node.consent.policy import Policy, constraint_path

_BLOCKS: Final = frozenset({Outcome.FAILS, Outcome.UNEVALUABLE})


@dataclass(frozen=True)
class Hidden:
    """Why one dataset is hidden from the requester: the closest policy's first failing part."""

    dataset: str
    code: str
    reason: str
    policy_id: str | None = None
    path: str | None = None

    def to_json(self) -> dict[str, object]:
        """The steward's view of the reason (no identifier values, only codes and paths)."""
        return {
            "dataset": self.dataset,
            "code": self.code,
            "reason": self.reason,
            "policy_id": self.policy_id,
            "path": self.path,
        }


@dataclass(frozen=True)
class Sight:
    """What one requester may see of this node's datasets."""

    requester: str
    member: bool
    visible: frozenset[str]
    hidden: tuple[Hidden, ...]


def admitted_spaces(
    requester: str, facts: Facts, own_spaces: Iterable[str]
) -> dict[str, frozenset[str]]:
    """The requester's verified roles per data space it could be admitted through: this node's
    own data spaces, and the data spaces linked to them."""
    own = frozenset(own_spaces)
    linked = frozenset(space for home in own for space in facts.linked(home, None))
    held = facts.roles.get(requester, {})
    return {space: roles for space, roles in held.items() if space in own | linked}


def sight(
    requester: str,
    policies: Mapping[str, Sequence[Policy]],
    facts: Facts,
    own_spaces: Iterable[str],
    now: int,
) -> Sight:
    """What ``requester`` may see: ``policies`` maps each dataset to its current policies."""
    own = frozenset(own_spaces)
    spaces = admitted_spaces(requester, facts, own)
    if not spaces:
        return Sight(requester, False, frozenset(), ())
    visible: set[str] = set()
    hidden: list[Hidden] = []
    for dataset in sorted(policies):
        found = _visible(requester, dataset, policies[dataset], facts, spaces, own, now)
        if found is None:
            visible.add(dataset)
        else:
            hidden.append(found)
    return Sight(requester, True, frozenset(visible), tuple(hidden))


def _visible(
    requester: str,
    dataset: str,
    policies: Sequence[Policy],
    facts: Facts,
    spaces: Mapping[str, frozenset[str]],
    own: frozenset[str],
    now: int,
) -> Hidden | None:
    """None if some policy admits the requester through some data space; else the reason."""
    if not policies:
        return Hidden(dataset, "no_policy", "no policy permits any use of this dataset")
    best: tuple[int, Hidden] | None = None
    for policy in sorted(policies, key=lambda item: item.id):
        for space in sorted(spaces):
            checks = _checks(policy, requester, space, spaces[space], facts, own, now)
            failed = next((check for check in checks if check.outcome in _BLOCKS), None)
            if failed is None:
                return None
            passed = checks.index(failed)
            reason = Hidden(
                dataset,
                failed.code or "constraint_failed",
                failed.reason,
                policy.id,
                failed.path,
            )
            if best is None or passed > best[0]:
                best = (passed, reason)
    assert best is not None
    return best[1]


def _checks(
    policy: Policy,
    requester: str,
    space: str,
    roles: frozenset[str],
    facts: Facts,
    own: frozenset[str],
    now: int,
) -> list[Check]:
    """The parts of ``policy`` for the requester admitted through ``space``, ``count`` left out;
    a linked data space the policy does not name fails first."""
    if space not in own and space not in _opted(policy):
        reason = (
            "the requester is a member of a linked data space this policy does not admit "
            "(name it in a data_space constraint to opt in)"
        )
        return [
            Check("$.permission.constraints", Outcome.FAILS, reason, "participant_not_admitted")
        ]
    explanation = explain(
        policy, now=now, facts=facts, requester=Requester(requester, space, roles)
    )
    counts = {
        constraint_path(index)
        for index, constraint in enumerate(policy.constraints)
        if constraint.left == "count"
    }
    return [check for check in explanation.checks if check.path not in counts]


def _opted(policy: Policy) -> frozenset[str]:
    """The data spaces a policy names in an ``eq``/``isAnyOf`` ``data_space`` constraint."""
    return frozenset(
        value
        for constraint in policy.constraints
        if constraint.left == "data_space" and constraint.op in {"eq", "isAnyOf"}
        for value in constraint.values
        if isinstance(value, str)
    )
