"""Validation problems of consent documents (policies, manifests), collected, not thrown one by one.

A user who submits a policy with three mistakes is told about all three, each with its JSON path
(``$.permission.constraints[3].op``) and a reason that never quotes the offending value.
:class:`Checker` collects problems while a document is read; :meth:`Checker.raise_if_any`
raises one :class:`InvalidConsentError` whose ``details["errors"]`` lists them in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from network import canonical
from network.errors import ValidationError
from network.identity import check_node_id
from node.errors import InvalidError


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (a JSON path) and why (no value is ever quoted)."""

    path: str
    reason: str


class InvalidConsentError(InvalidError):
    """A policy or manifest does not validate; ``details["errors"]`` lists every problem."""

    def __init__(self, code: str, what: str, problems: Sequence[Problem]) -> None:
        first = problems[0]
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(
            code,
            f"the {what} has {count}; the first is at {first.path}: {first.reason}",
            {"errors": [{"path": p.path, "reason": p.reason} for p in problems]},
        )
        self.problems = tuple(problems)


class Checker:
    """Collects problems while a document is read, so that all are reported at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, reason: str) -> None:
        """Record a problem at ``path``."""
        self.problems.append(Problem(path, reason))

    def fields(
        self, value: object, path: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> Mapping[str, object] | None:
        """``value`` as a map; each missing required or unknown field is a problem."""
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            self.add(path, "expected an object")
            return None
        for key in required:
            if key not in value:
                self.add(f"{path}.{key}", "missing field")
        for key in value:
            if key not in required and key not in optional:
                self.add(f"{path}.{key}", "unknown field")
        return value

    def integer(self, value: object, path: str, minimum: int, maximum: int) -> int | None:
        """``value`` as an integer in ``[minimum, maximum]`` (a bool or float is not one)."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, "expected an integer")
            return None
        if not minimum <= value <= maximum:
            self.add(path, f"expected an integer from {minimum} to {maximum}")
            return None
        return value

    def boolean(self, value: object, path: str) -> bool | None:
        """``value`` as ``true`` or ``false``."""
        if not isinstance(value, bool):
            self.add(path, "expected true or false")
            return None
        return value

    def name(self, value: object, path: str) -> str | None:
        """A vocabulary name: lowercase ``a-z0-9`` words joined by ``-`` or ``_``, ≤ 64 chars."""
        try:
            return canonical.check_name(value, path)
        except ValidationError:
            self.add(path, "expected a name: lowercase letters, digits, '-' or '_', ≤ 64 chars")
            return None

    def node_id(self, value: object, path: str) -> str | None:
        """A node id (``cfd1`` + base32 Ed25519 key)."""
        try:
            return check_node_id(value, path)
        except ValidationError:
            self.add(path, "expected a node id")
            return None

    def items(self, value: object, path: str, minimum: int, maximum: int) -> list[object] | None:
        """``value`` as a list of ``minimum`` to ``maximum`` items."""
        if not isinstance(value, list | tuple):
            self.add(path, "expected a list")
            return None
        if not minimum <= len(value) <= maximum:
            self.add(path, f"expected from {minimum} to {maximum} items")
            return None
        return list(value)

    def unique(self, values: Sequence[object], path: str) -> None:
        """A problem if ``values`` (a set on the wire) repeats an item."""
        if len(set(values)) != len(values):
            self.add(path, "an item is repeated")

    def raise_if_any(self, code: str, what: str) -> None:
        """Raise :class:`InvalidConsentError` listing every problem found, if any."""
        if self.problems:
            raise InvalidConsentError(code, what, self.problems)
