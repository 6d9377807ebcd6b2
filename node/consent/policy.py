"""The consent policy format: parsing and validation, with every problem reported at once.

A policy is plain JSON, ODRL in spirit (``docs/reference/policy-format.md`` is the reference)::

    {"id": "pol-ngo-a-prevalence", "dataset": "clients-2026",
     "permission": {"action": ["aggregate"],
                    "constraints": [{"left": "purpose", "op": "isAnyOf", "right": ["monitoring"]},
                                    {"left": "count", "op": "lteq", "right": 4, "per": "P30D"}]},
     "approval": "manual", "valid_until": "2027-01-01T00:00:00Z"}

Each left operand has one value type and a fixed set of operators (:data:`OPERANDS`); a term
outside that table is a validation problem with its JSON path, never ignored. There is no
``prohibition``: a policy only permits, everything it does not permit is refused, and an
exclusion is written as a ``neq`` / ``isNoneOf`` constraint.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from network import canonical
from network.records import MAX_TIME
from node.consent.manifest import KINDS
from node.consent.problems import Checker, InvalidConsentError, Problem

MAX_CONSTRAINTS: Final = 64
MAX_RIGHT_ITEMS: Final = 256
MAX_DESCRIPTION: Final = 500
MAX_INTEGER: Final = 1 << 32
MAX_WINDOW: Final = 100 * 366 * 86400
APPROVALS: Final = ("auto", "manual")

EQUALITY: Final = frozenset({"eq", "neq"})
ORDERING: Final = frozenset({"lt", "lteq", "gt", "gteq"})
MEMBERSHIP: Final = frozenset({"isAnyOf", "isNoneOf"})
SETWISE: Final = frozenset({"isAnyOf", "isNoneOf", "isAllOf", "isPartOf"})
OPERATORS: Final = EQUALITY | ORDERING | SETWISE
LIST_OPERATORS: Final = SETWISE

_FIELDS: Final = ("id", "dataset", "permission", "approval")
_OPTIONAL: Final = ("version", "description", "valid_from", "valid_until")
_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})")
_DURATION: Final = re.compile(
    r"P(?!$)(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?(?:T(?=\d)(?:(?P<H>\d+)H)?(?:(?P<M>\d+)M)?(?:(?P<S>\d+)S)?)?"
)
_SECONDS: Final = {"W": 7 * 86400, "D": 86400, "H": 3600, "M": 60, "S": 1}


@dataclass(frozen=True)
class Operand:
    """A left operand: the type of its value and the operators that apply to it.

    ``element`` is ``node``, ``name``, ``int``, ``bool`` or ``time``. ``is_set`` means the value
    is a set (roles, columns) rather than one element. ``each`` means the operand has one value
    per node (every recipient, every compute party) and the constraint must hold for each.
    """

    element: str
    is_set: bool
    each: bool
    operators: frozenset[str]
    meaning: str


OPERANDS: Final[Mapping[str, Operand]] = {
    "requester": Operand("node", False, False, EQUALITY | MEMBERSHIP, "the proposer's node id"),
    "requester_role": Operand("name", True, False, SETWISE, "the proposer's roles"),
    "data_space": Operand(
        "name", False, False, EQUALITY | MEMBERSHIP, "the data spaces the computation spans"
    ),
    "purpose": Operand("name", False, False, EQUALITY | MEMBERSHIP, "the declared purpose"),
    "columns": Operand("name", True, False, SETWISE, "the columns of this dataset used"),
    "min_group_size": Operand(
        "int", False, False, EQUALITY | ORDERING, "the smallest cell shown (suppression)"
    ),
    "result_limit": Operand(
        "int", False, False, EQUALITY | ORDERING, "the most identifiers a recipient learns"
    ),
    "recipient": Operand("node", False, True, EQUALITY | MEMBERSHIP, "each result recipient"),
    "recipient_role": Operand("name", True, True, SETWISE, "each recipient's roles"),
    # No eq: there are always at least three distinct compute parties.
    "compute_party": Operand(
        "node", False, True, frozenset({"neq"}) | MEMBERSHIP, "each compute party"
    ),
    "compute_party_role": Operand("name", True, True, SETWISE, "each compute party's roles"),
    "count": Operand(
        "int", False, False, frozenset({"lt", "lteq"}), "runs under this policy, this one included"
    ),
    "dateTime": Operand("time", False, False, ORDERING, "the time of evaluation"),
    "input_bound": Operand(
        "int", False, False, EQUALITY | ORDERING, "the declared size bound of this dataset"
    ),
    "reveal_size": Operand(
        "bool", False, False, EQUALITY, "whether set_difference reveals the difference's size"
    ),
}

Scalar = int | str | bool
Right = Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Names this node knows; when given to :func:`parse_policy`, a policy may use no others."""

    roles: frozenset[str]
    purposes: frozenset[str]
    data_spaces: frozenset[str]


@dataclass(frozen=True)
class Constraint:
    """One constraint: ``left op right`` (``per`` is the window of a ``count``, in seconds)."""

    left: str
    op: str
    right: Right
    per: int | None = None

    @property
    def values(self) -> frozenset[Scalar]:
        """The right-hand side as a set (one element for the scalar operators)."""
        return frozenset(self.right) if isinstance(self.right, tuple) else frozenset([self.right])

    def to_json(self) -> dict[str, object]:
        """The constraint as written in a policy document (times and windows normalised)."""
        element = OPERANDS[self.left].element
        right: object = self.right
        if element == "time" and isinstance(self.right, int):
            right = format_time(self.right)
        elif isinstance(self.right, tuple):
            right = list(self.right)
        result: dict[str, object] = {"left": self.left, "op": self.op, "right": right}
        if self.per is not None:
            result["per"] = format_duration(self.per)
        return result


@dataclass(frozen=True)
class Policy:
    """A validated policy version. ``constraints`` keep their written order (paths use it)."""

    id: str
    version: int
    dataset: str
    actions: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    approval: str
    valid_from: int | None = None
    valid_until: int | None = None
    description: str | None = None

    @property
    def manual(self) -> bool:
        """Whether a person must approve each request this policy allows."""
        return self.approval == "manual"

    def to_json(self) -> dict[str, object]:
        """The policy as a document: what :func:`parse_policy` reads back unchanged."""
        result: dict[str, object] = {
            "id": self.id,
            "version": self.version,
            "dataset": self.dataset,
            "permission": {
                "action": list(self.actions),
                "constraints": [item.to_json() for item in self.constraints],
            },
            "approval": self.approval,
        }
        if self.description is not None:
            result["description"] = self.description
        if self.valid_from is not None:
            result["valid_from"] = format_time(self.valid_from)
        if self.valid_until is not None:
            result["valid_until"] = format_time(self.valid_until)
        return result

    def count_limits(self) -> tuple[tuple[int, int | None], ...]:
        """``(max_count, window)`` of each ``count`` constraint: at most ``max_count`` runs
        in any ``window`` seconds (``None``: ever). What usage counters reserve against."""
        limits = []
        for item in self.constraints:
            if item.left == "count" and isinstance(item.right, int):
                limits.append((item.right - (item.op == "lt"), item.per))
        return tuple(limits)

    def digest(self) -> bytes:
        """SHA-256 of the canonical encoding of :meth:`to_json` (recorded in the audit log)."""
        return hashlib.sha256(canonical.encode(self.to_json())).digest()


def constraint_path(index: int) -> str:
    """The JSON path of constraint ``index`` of a policy."""
    return f"$.permission.constraints[{index}]"


def format_time(seconds: int) -> str:
    """Unix seconds as RFC 3339 UTC (``2027-01-01T00:00:00Z``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(seconds: int) -> str:
    """A window in seconds as an ISO 8601 duration in days, hours, minutes and seconds."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (rest, "S")) if n)
    return text + ("T" + clock if clock else "")


def parse_time(check: Checker, value: object, path: str) -> int | None:
    """An RFC 3339 date-time with a zone (``Z`` or ``±hh:mm``) as Unix seconds."""
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        check.add(path, "expected a date-time like 2027-01-01T00:00:00Z")
        return None
    try:
        seconds = int(datetime.fromisoformat(value).timestamp())
    except ValueError:
        check.add(path, "not a real date-time")
        return None
    if not 0 <= seconds <= MAX_TIME:
        check.add(path, "date-time out of range")
        return None
    return seconds


def parse_duration(check: Checker, value: object, path: str) -> int | None:
    """An ISO 8601 duration in weeks, days, hours, minutes, seconds (``P30D``) as seconds."""
    if isinstance(value, str) and re.search(r"\d[YM]", value.partition("T")[0]):
        check.add(path, "years and months have no fixed length; use days, e.g. P30D")
        return None
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        check.add(path, "expected an ISO 8601 duration such as P30D or PT12H")
        return None
    seconds = sum(int(n) * _SECONDS[unit] for unit, n in match.groupdict().items() if n)
    if not 1 <= seconds <= MAX_WINDOW:
        check.add(path, "window must be from 1 second to 100 years")
        return None
    return seconds


def parse_policy(document: Mapping[str, object], *, vocabulary: Vocabulary | None = None) -> Policy:
    """Validate a policy document; raise ``InvalidConsentError`` (``invalid_policy``) listing
    every problem with its JSON path. ``version`` defaults to 1 (the store assigns it)."""
    check = Checker()
    policy = _read(check, document, vocabulary)
    check.raise_if_any("invalid_policy", "policy")
    if policy is None:  # pragma: no cover - _read returns None only after recording a problem
        raise InvalidConsentError("invalid_policy", "policy", [Problem("$", "invalid")])
    return policy


def check_policy(
    document: Mapping[str, object], *, vocabulary: Vocabulary | None = None
) -> list[dict[str, str]]:
    """Every problem of a policy document as ``{"path", "reason"}`` (empty if it is valid)."""
    check = Checker()
    _read(check, document, vocabulary)
    return [{"path": p.path, "reason": p.reason} for p in check.problems]


def _read(check: Checker, document: object, vocabulary: Vocabulary | None) -> Policy | None:
    body = check.fields(document, "$", _FIELDS, (*_OPTIONAL, "prohibition"))
    if body is None:
        return None
    if "prohibition" in body:
        check.add(
            "$.prohibition",
            "prohibitions are not supported: a policy only permits; "
            "exclude with a neq or isNoneOf constraint",
        )
    policy_id = check.name(body.get("id"), "$.id")
    dataset = check.name(body.get("dataset"), "$.dataset")
    version = check.integer(body.get("version", 1), "$.version", 1, MAX_INTEGER)
    approval = body.get("approval")
    if approval not in APPROVALS:
        check.add("$.approval", "expected auto or manual")
    description = body.get("description")
    if description is not None and (
        not isinstance(description, str) or not 1 <= len(description) <= MAX_DESCRIPTION
    ):
        check.add("$.description", "expected a text of 1 to 500 characters")
    valid_from = valid_until = None
    if "valid_from" in body:
        valid_from = parse_time(check, body["valid_from"], "$.valid_from")
    if "valid_until" in body:
        valid_until = parse_time(check, body["valid_until"], "$.valid_until")
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        check.add("$.valid_until", "must be after valid_from")
    actions, constraints = _permission(check, body.get("permission"), vocabulary)
    if check.problems:
        return None
    return Policy(
        id=str(policy_id),
        version=int(version or 1),
        dataset=str(dataset),
        actions=actions,
        constraints=constraints,
        approval=str(approval),
        valid_from=valid_from,
        valid_until=valid_until,
        description=description if isinstance(description, str) else None,
    )


def _permission(
    check: Checker, value: object, vocabulary: Vocabulary | None
) -> tuple[tuple[str, ...], tuple[Constraint, ...]]:
    body = check.fields(value, "$.permission", ("action", "constraints"))
    if body is None:
        return (), ()
    actions: list[str] = []
    items = check.items(body.get("action"), "$.permission.action", 1, len(KINDS))
    for index, action in enumerate(items or ()):
        if action in KINDS and isinstance(action, str):
            actions.append(action)
        else:
            check.add(f"$.permission.action[{index}]", "unknown action; expected a kind")
    check.unique(actions, "$.permission.action")
    constraints: list[Constraint] = []
    listed = check.items(body.get("constraints"), "$.permission.constraints", 0, MAX_CONSTRAINTS)
    for index, item in enumerate(listed or ()):
        constraint = _constraint(check, item, constraint_path(index), vocabulary)
        if constraint is not None:
            constraints.append(constraint)
    return tuple(sorted(set(actions))), tuple(constraints)


def _constraint(
    check: Checker, value: object, path: str, vocabulary: Vocabulary | None
) -> Constraint | None:
    body = check.fields(value, path, ("left", "op", "right"), ("per",))
    if body is None or "left" not in body or "op" not in body or "right" not in body:
        return None
    left, op = body["left"], body["op"]
    operand = OPERANDS.get(left) if isinstance(left, str) else None
    if operand is None or not isinstance(left, str):
        check.add(f"{path}.left", "unknown left operand")
        return None
    if op not in OPERATORS or not isinstance(op, str):
        check.add(f"{path}.op", "unknown operator")
        return None
    if op not in operand.operators:
        allowed = ", ".join(sorted(operand.operators))
        check.add(f"{path}.op", f"operator does not apply to {left}; use one of {allowed}")
        return None
    per = None
    if "per" in body:
        if left != "count":
            check.add(f"{path}.per", "only a count constraint takes a window")
        else:
            per = parse_duration(check, body["per"], f"{path}.per")
    right = _right(check, operand, op, body["right"], f"{path}.right", left, vocabulary)
    if right is None:
        return None
    return Constraint(left, op, right, per)


def _right(
    check: Checker,
    operand: Operand,
    op: str,
    value: object,
    path: str,
    left: str,
    vocabulary: Vocabulary | None,
) -> Right | None:
    if op not in LIST_OPERATORS:
        if isinstance(value, list):
            check.add(path, f"{op} takes one value, not a list")
            return None
        return _element(check, operand.element, value, path, left, vocabulary)
    items = check.items(value, path, 1, MAX_RIGHT_ITEMS)
    if items is None:
        return None
    elements = [
        _element(check, operand.element, item, f"{path}[{i}]", left, vocabulary)
        for i, item in enumerate(items)
    ]
    check.unique(elements, path)
    if any(element is None for element in elements):
        return None
    return tuple(element for element in elements if element is not None)


def _element(
    check: Checker,
    element: str,
    value: object,
    path: str,
    left: str,
    vocabulary: Vocabulary | None,
) -> Scalar | None:
    if element == "node":
        return check.node_id(value, path)
    if element == "int":
        return check.integer(value, path, 0, MAX_INTEGER)
    if element == "bool":
        return check.boolean(value, path)
    if element == "time":
        return parse_time(check, value, path)
    name = check.name(value, path)
    if name is not None and vocabulary is not None:
        known = {
            "purpose": vocabulary.purposes,
            "data_space": vocabulary.data_spaces,
        }.get(left, vocabulary.roles if left.endswith("_role") else None)
        if known is not None and name not in known:
            check.add(
                path, f"not a known {left.removesuffix('_role')} name in this node's data spaces"
            )
    return name
