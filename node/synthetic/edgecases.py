"""The corner cases every end-to-end test of the catalogue runs besides realistic data.

Each :class:`Scenario` is a small data space (an LEA and two NGOs, in that order) with the
parameters that make it a corner case. Spelling noise stays on (it must not matter) but hard
variants are off, so what holds for people holds for identifiers:

================  ==========================================================================
``empty``         both NGOs know no one (their CSVs are a header only)
``identical``     all three organisations know exactly the same people
``disjoint``      no person is on two lists
``few_missing``   the LEA has fewer people on none of the NGO lists than ``limit``
``suppressed``    lists so small that every cell of an overlap matrix or an aggregate is
                  below ``min_group_size``
================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from node.errors import InvalidError
from node.synthetic.config import (
    EXCEL_NL,
    POLICE_EXPORT,
    WEB_EXPORT_EN,
    OrganisationSpec,
    SyntheticConfig,
)

DEFAULT_LIMIT = 5


@dataclass(frozen=True)
class Scenario:
    """One corner case: its name, what to generate, and the query parameters that test it."""

    name: str
    config: SyntheticConfig
    limit: int = DEFAULT_LIMIT
    min_group_size: int = 1


def _space(
    people: tuple[int, int, int], overlaps: tuple[float, float], seed: int
) -> SyntheticConfig:
    """An LEA and two NGOs without duplicates or hard variants."""
    lea, ngo_a, ngo_b = people
    return SyntheticConfig(
        (
            OrganisationSpec("lea", "lea", lea, style=POLICE_EXPORT),
            OrganisationSpec("ngo-a", "ngo", ngo_a, overlaps[0], EXCEL_NL),
            OrganisationSpec("ngo-b", "ngo", ngo_b, overlaps[1], WEB_EXPORT_EN),
        ),
        seed=seed,
        hard=0.0,
        disagreement=0.0,
    )


def empty(people: int = 40, *, seed: int = 0) -> Scenario:
    """The LEA has a list; both NGO lists are empty (every LEA name is a non-member)."""
    return Scenario("empty", _space((people, 0, 0), (0.0, 0.0), seed))


def identical(people: int = 40, *, seed: int = 0) -> Scenario:
    """Three lists of the same people, each spelled its own way (no non-members)."""
    return Scenario("identical", _space((people, people, people), (1.0, 1.0), seed))


def disjoint(people: int = 40, *, seed: int = 0) -> Scenario:
    """Three lists with nobody in common (intersection empty, union the sum)."""
    return Scenario("disjoint", _space((people, people, people), (0.0, 0.0), seed))


def few_missing(
    people: int = 40, missing: int = 2, *, limit: int = DEFAULT_LIMIT, seed: int = 0
) -> Scenario:
    """``missing`` (< ``limit``) of the LEA's people are on no NGO list: NGO A knows the rest
    of the LEA's people, NGO B only people the LEA does not know."""
    if not 0 <= missing < limit <= people:
        raise InvalidError(
            "synthetic_config_invalid", "few_missing needs 0 <= missing < limit <= people"
        )
    return Scenario(
        "few_missing",
        _space((people, people - missing, people // 2), (1.0, 0.0), seed),
        limit=limit,
    )


def suppressed(people: int = 3, *, min_group_size: int = 10, seed: int = 0) -> Scenario:
    """Lists of ``people`` (< ``min_group_size``) each: every overlap and every aggregate cell
    counts fewer than ``min_group_size`` and is suppressed."""
    if people * 3 >= min_group_size:
        raise InvalidError(
            "synthetic_config_invalid", "suppressed needs 3 * people < min_group_size"
        )
    return Scenario(
        "suppressed",
        _space((people, people, people), (0.5, 0.5), seed),
        min_group_size=min_group_size,
    )


def edge_cases(seed: int = 0) -> tuple[Scenario, ...]:
    """Every corner case with its default sizes."""
    return (
        empty(seed=seed),
        identical(seed=seed),
        disjoint(seed=seed),
        few_missing(seed=seed),
        suppressed(seed=seed),
    )
