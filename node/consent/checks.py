"""The parts of one policy checked against a manifest or a requester, with the facts known.

This is the machinery under :mod:`node.consent.evaluate`: :class:`Situation` gives the value
of each left operand (one value per node for ``recipient``, ``compute_party`` and their roles),
and :func:`check_policy_parts` returns one :class:`Check` per part of a policy (validity window,
action, admission of every participant's data space, each constraint in written order). A part
that cannot be evaluated is ``unevaluable`` and refuses; a constraint on a parameter the
manifest's kind does not have is ``not_applicable`` and does not block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from network.dataspace import DataSpaceLink
from network.errors import ValidationError
from network.membership import Membership
from node.consent.manifest import Manifest
from node.consent.policy import (
    OPERANDS,
    Constraint,
    Policy,
    Scalar,
    constraint_path,
    format_duration,
    format_time,
)

UsageCounter = Callable[[str, int | None], int]
"""``usage(policy_id, window)``: runs counted under the policy in the ``window`` seconds up to
the evaluation's ``now`` (``None``: ever). Wraps ``ConsentStore.usage`` of the agreements."""


class Outcome(StrEnum):
    """The outcome of checking one part of a policy."""

    PASSES = "pass"
    FAILS = "fail"
    NOT_APPLICABLE = "not_applicable"
    UNEVALUABLE = "unevaluable"


@dataclass(frozen=True)
class Link:
    """A valid data-space link: its two data spaces and the purposes it covers."""

    data_spaces: frozenset[str]
    purposes: frozenset[str]


@dataclass(frozen=True)
class Facts:
    """What the provider's node has verified itself at evaluation time.

    ``roles[node_id][data_space]`` holds the roles of each member from admitted, unrevoked
    credentials (a node absent from a data space is not a member of it); ``links`` are the
    valid data-space links; ``usage`` counts past runs per policy (None: no counter known, so a
    ``count`` constraint cannot be evaluated and refuses).
    """

    roles: Mapping[str, Mapping[str, frozenset[str]]]
    links: tuple[Link, ...] = ()
    usage: UsageCounter | None = None

    @classmethod
    def from_membership(
        cls,
        membership: Membership,
        data_spaces: Iterable[str],
        links: Iterable[DataSpaceLink],
        now: int,
        usage: UsageCounter | None = None,
    ) -> Facts:
        """The facts held by ``membership`` at ``now``, keeping only links valid at ``now``."""
        roles: dict[str, dict[str, frozenset[str]]] = {}
        for space in data_spaces:
            for node_id, held in membership.members(space, now).items():
                roles.setdefault(node_id, {})[space] = held
        valid: list[Link] = []
        for link in links:
            try:
                membership.check_link(link, now)
            except ValidationError:
                continue
            valid.append(Link(frozenset(link.data_spaces), link.purposes))
        return cls(roles=roles, links=tuple(valid), usage=usage)

    def linked(self, data_space: str, purpose: str | None) -> frozenset[str]:
        """The data spaces linked to ``data_space`` (for ``purpose``, when one is given)."""
        return frozenset(
            space
            for link in self.links
            if data_space in link.data_spaces and (purpose is None or purpose in link.purposes)
            for space in link.data_spaces - {data_space}
        )


@dataclass(frozen=True)
class Requester:
    """A would-be requester, for explaining a policy without a manifest."""

    node_id: str
    data_space: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Check:
    """The outcome of one part of a policy: ``pass``, ``fail``, ``not_applicable`` or
    ``unevaluable``, at ``path`` in the policy, with a plain-language ``reason``."""

    path: str
    outcome: Outcome
    reason: str
    code: str | None = None

    def to_json(self) -> dict[str, object]:
        """The check as the explain endpoint shows it."""
        return {"path": self.path, "outcome": str(self.outcome), "reason": self.reason}


class Situation:
    """The values of the left operands, from a manifest or a lone requester, and the facts."""

    def __init__(
        self,
        manifest: Manifest | None,
        provider: str,
        dataset: str,
        facts: Facts,
        now: int,
        requester: Requester | None = None,
    ) -> None:
        self.manifest = manifest
        self.facts = facts
        self.now = now
        self.requester = requester
        self.input = manifest.input_of(provider, dataset) if manifest else None

    @classmethod
    def of_requester(cls, requester: Requester, facts: Facts, now: int) -> Situation:
        return cls(None, "", "", facts, now, requester)

    def participants(self) -> list[tuple[str, str]]:
        """(label, node id) of every participant, each node once, labelled by its first role."""
        manifest = self.manifest
        if manifest is None:
            return []
        named = [("the proposer", manifest.proposer)]
        named += [
            (f"the provider of inputs[{i}]", x.provider) for i, x in enumerate(manifest.inputs)
        ]
        named += [(f"compute_parties[{i}]", x) for i, x in enumerate(manifest.compute_parties)]
        named += [(f"recipients[{i}]", x) for i, x in enumerate(manifest.recipients)]
        seen: set[str] = set()
        result = []
        for label, node_id in named:
            if node_id not in seen:
                seen.add(node_id)
                result.append((label, node_id))
        return result


def check_policy_parts(policy: Policy, situation: Situation) -> list[Check]:
    """Every part of ``policy`` checked in order: window, action, admission, constraints."""
    checks = [_window(policy, situation.now), _action(policy, situation)]
    admission, admitted = _admission(policy, situation)
    checks.append(admission)
    for index, constraint in enumerate(policy.constraints):
        path = constraint_path(index)
        try:
            checks.append(_constraint(policy, constraint, path, situation, admitted))
        except (TypeError, KeyError, ValueError):
            # A policy built by hand around the validator: refuse, never pass.
            checks.append(_unevaluable(path, "the constraint cannot be evaluated"))
    return checks


def _unevaluable(path: str, reason: str) -> Check:
    return Check(path, Outcome.UNEVALUABLE, reason, "constraint_unevaluable")


def _window(policy: Policy, now: int) -> Check:
    if policy.valid_from is not None and now < policy.valid_from:
        return Check(
            "$.valid_from", Outcome.FAILS, "the policy is not valid yet", "policy_not_yet_valid"
        )
    if policy.valid_until is not None and now >= policy.valid_until:
        return Check("$.valid_until", Outcome.FAILS, "the policy has expired", "policy_expired")
    return Check("$", Outcome.PASSES, "the policy is in its validity window")


def _action(policy: Policy, situation: Situation) -> Check:
    path = "$.permission.action"
    if situation.manifest is None:
        return Check(
            path, Outcome.NOT_APPLICABLE, "the kind of computation depends on the manifest"
        )
    kind = situation.manifest.kind
    if kind in policy.actions:
        return Check(path, Outcome.PASSES, f"{kind} is a permitted action")
    return Check(path, Outcome.FAILS, f"{kind} is not a permitted action", "action_not_permitted")


def _admission(policy: Policy, situation: Situation) -> tuple[Check, dict[str, frozenset[str]]]:
    """Through which data spaces each participant takes part (see the module docstring)."""
    manifest, facts = situation.manifest, situation.facts
    if manifest is None:
        return Check("$", Outcome.NOT_APPLICABLE, "the participants depend on the manifest"), {}
    opted: set[str] = set()
    paths = []
    for index, constraint in enumerate(policy.constraints):
        if constraint.left == "data_space" and constraint.op in {"eq", "isAnyOf"}:
            opted |= {value for value in constraint.values if isinstance(value, str)}
            paths.append(constraint_path(index))
    home = manifest.data_space
    linked = facts.linked(home, manifest.purpose) & opted
    admitted: dict[str, frozenset[str]] = {}
    for label, node_id in situation.participants():
        spaces = facts.roles.get(node_id, {})
        via = frozenset({home}) if home in spaces else frozenset(linked & set(spaces))
        if not via:
            path = paths[0] if paths else "$.permission.constraints"
            reason = (
                f"{label} is not a member of the proposal's data space, nor of a linked data "
                "space this policy admits (name it in a data_space constraint to opt in)"
            )
            return Check(path, Outcome.FAILS, reason, "participant_not_admitted"), admitted
        admitted[node_id] = via
    return Check(
        "$", Outcome.PASSES, "every participant is admitted through a data space"
    ), admitted


Subject = tuple[str, Scalar | frozenset[str]]
"""A label for the user ("recipients[1]") and the value the constraint is checked on."""


class _UnknownError(Exception):
    """A term this node cannot evaluate: the constraint refuses."""


def _constraint(
    policy: Policy,
    constraint: Constraint,
    path: str,
    situation: Situation,
    admitted: Mapping[str, frozenset[str]],
) -> Check:
    operand = OPERANDS.get(constraint.left)
    if operand is None or constraint.op not in operand.operators:
        return _unevaluable(path, "unknown operand or operator")
    try:
        subjects = _subjects(policy, constraint, situation, admitted)
    except _UnknownError as error:
        return _unevaluable(path, str(error))
    if isinstance(subjects, str):
        return Check(path, Outcome.NOT_APPLICABLE, subjects)
    wanted = _wanted(constraint)
    for label, value in subjects:
        if not _holds(constraint.op, value, constraint):
            reason = f"{label}: {_show(value, constraint)}; the policy requires {wanted}"
            return Check(path, Outcome.FAILS, reason, "constraint_failed")
    if len(subjects) == 1:
        label, value = subjects[0]
        shown = _show(value, constraint)
        return Check(path, Outcome.PASSES, f"{label}: {shown}, as required ({wanted})")
    return Check(path, Outcome.PASSES, f"each of {len(subjects)} is as required ({wanted})")


def _subjects(
    policy: Policy,
    constraint: Constraint,
    situation: Situation,
    admitted: Mapping[str, frozenset[str]],
) -> list[Subject] | str:
    """(label, value) of the left operand, one per node for per-node operands; or, as a text,
    why the operand does not apply here."""
    left, requester = constraint.left, situation.requester
    if left == "dateTime":
        return [("the time now", situation.now)]
    if left == "count":
        usage = situation.facts.usage
        if usage is None:
            raise _UnknownError("no usage counter is known for this policy")
        return [("the number of runs, this one included", usage(policy.id, constraint.per) + 1)]
    if requester is not None:
        values: dict[str, list[Subject]] = {
            "requester": [("the requester", requester.node_id)],
            "requester_role": [("the requester's roles", requester.roles)],
            "data_space": [("the requester's data space", requester.data_space)],
        }
        return values.get(left, "depends on the manifest")
    if left in {"min_group_size", "result_limit", "reveal_size"}:
        return _parameter(left, situation)
    return _manifest_subjects(left, situation, admitted)


def _manifest_subjects(
    left: str, situation: Situation, admitted: Mapping[str, frozenset[str]]
) -> list[Subject]:
    manifest, used = situation.manifest, situation.input
    if manifest is None or used is None:
        raise _UnknownError("the proposal does not use this dataset")
    nodes: dict[str, list[tuple[str, str]]] = {
        "requester": [("the proposer", manifest.proposer)],
        "recipient": [(f"recipients[{i}]", x) for i, x in enumerate(manifest.recipients)],
        "compute_party": [
            (f"compute_parties[{i}]", x) for i, x in enumerate(manifest.compute_parties)
        ],
    }
    if left in nodes:
        return [(label, node_id) for label, node_id in nodes[left]]
    if left.endswith("_role") and left.removesuffix("_role") in nodes:
        return [
            (f"the roles of {label}", _roles(situation, node_id, admitted))
            for label, node_id in nodes[left.removesuffix("_role")]
        ]
    if left == "data_space":
        home = manifest.data_space
        linked = [
            (f"the data space of {label}", min(admitted[node_id]))
            for label, node_id in situation.participants()
            if node_id in admitted and home not in admitted[node_id]
        ]
        return [("the proposal's data space", home), *linked]
    simple: dict[str, Subject] = {
        "purpose": ("the purpose", manifest.purpose),
        "columns": ("the columns used", frozenset(used.columns)),
        "input_bound": ("the declared size bound", used.bound),
    }
    if left not in simple:
        raise _UnknownError("unknown left operand")
    return [simple[left]]


def _parameter(left: str, situation: Situation) -> list[Subject] | str:
    """The operands read from the manifest's parameters; not applicable to kinds without."""
    manifest = situation.manifest
    if manifest is None or situation.input is None:
        raise _UnknownError("the proposal does not use this dataset")
    parameters, kind = manifest.parameters, manifest.kind
    if left == "min_group_size":
        if "min_group_size" not in parameters:
            return f"{kind} has no minimum group size"
        return [("the minimum group size", _integer(parameters["min_group_size"]))]
    if left == "result_limit":
        if kind == "set_difference":
            return [("the result limit", _integer(parameters["limit"]))]
        if kind == "intersection":
            bound = min(item.bound for item in manifest.inputs)
            return [("the most identifiers the intersection can reveal", bound)]
        return f"{kind} reveals no identifiers"
    if kind != "set_difference":
        return "only set_difference can reveal a size"
    reveal = parameters["reveal_size"]
    if not isinstance(reveal, bool):
        raise _UnknownError("the manifest parameter is not a boolean")
    return [("revealing the size", reveal)]


def _roles(
    situation: Situation, node_id: str, admitted: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """A node's roles in the data spaces it is admitted through."""
    held = situation.facts.roles.get(node_id, {})
    spaces = admitted.get(node_id, frozenset())
    return frozenset(role for space in spaces for role in held.get(space, frozenset()))


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _UnknownError("the manifest parameter is not an integer")
    return value


def _holds(op: str, value: Scalar | frozenset[str], constraint: Constraint) -> bool:
    """``value op right``; raises TypeError for a combination the validator never admits."""
    right, values = constraint.right, constraint.values
    if isinstance(value, frozenset):
        if op == "isAnyOf":
            return bool(value & values)
        if op == "isNoneOf":
            return not value & values
        if op == "isAllOf":
            return values <= value
        if op == "isPartOf":
            return value <= values
        raise TypeError(op)
    if op in {"isAnyOf", "isNoneOf"}:
        return (value in values) == (op == "isAnyOf")
    if isinstance(right, tuple) or type(value) is not type(right):
        raise TypeError(op)
    if op in {"eq", "neq"}:
        return (value == right) == (op == "eq")
    if not isinstance(value, int) or not isinstance(right, int) or isinstance(value, bool):
        raise TypeError(op)
    orders = {
        "lt": value < right,
        "lteq": value <= right,
        "gt": value > right,
        "gteq": value >= right,
    }
    return orders[op]


def _show(value: Scalar | frozenset[str], constraint: Constraint | None = None) -> str:
    if constraint is not None and constraint.left == "dateTime" and isinstance(value, int):
        return format_time(value)
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}" if value else "no roles"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith("cfd1") and len(value) == 56:
        return f"node {value[:12]}…"
    return str(value)


def _wanted(constraint: Constraint) -> str:
    words = {
        "eq": "equal to",
        "neq": "not equal to",
        "lt": "less than",
        "lteq": "at most",
        "gt": "more than",
        "gteq": "at least",
        "isAnyOf": "any of",
        "isNoneOf": "none of",
        "isAllOf": "all of",
        "isPartOf": "only from",
    }
    if isinstance(constraint.right, tuple):
        right = ", ".join(_show(item) for item in constraint.right)
    else:
        right = _show(constraint.right, constraint)
    window = f" per {format_duration(constraint.per)}" if constraint.per is not None else ""
    return f"{constraint.left} {words[constraint.op]} {right}{window}"
