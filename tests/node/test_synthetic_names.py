"""Name pools and spellings (node/synthetic/names.py): soft ones match, hard ones do not."""

from __future__ import annotations

import numpy as np
import pytest

from node.identifiers import normalise
from node.synthetic.names import ORIGINS, pool, spellings


@pytest.mark.parametrize("kind", ["given", "family"])
def test_every_soft_spelling_normalises_to_the_name(kind: str) -> None:
    """Each soft spelling of every pooled name has the name's matching form."""
    names = pool(kind)
    for name, matching, soft in zip(names.names, names.matching, names.soft, strict=True):
        assert soft[0] == name
        assert {normalise(spelling) for spelling in soft} == {matching}


@pytest.mark.parametrize("kind", ["given", "family"])
def test_every_name_has_a_hard_spelling_that_does_not_match(kind: str) -> None:
    """Each pooled name has at least one hard spelling, and none of them matches it."""
    names = pool(kind)
    for matching, hard in zip(names.matching, names.hard, strict=True):
        assert hard
        assert all(normalise(spelling) not in ("", matching) for spelling in hard)


@pytest.mark.parametrize("kind", ["given", "family"])
def test_pools_hold_distinct_names_for_every_origin(kind: str) -> None:
    """No two pooled names match each other, and every origin keeps names of its own."""
    names = pool(kind)
    assert len(set(names.matching)) == len(names.names)
    assert np.bincount(names.origin, minlength=len(ORIGINS)).min() >= 4


def test_shares_of_origins_sum_to_one() -> None:
    """The origin shares are a distribution."""
    assert sum(origin.share for origin in ORIGINS) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("name", "soft", "hard"),
    [
        ("Đặng", "Đang", "Dang"),
        ("Łucja", "ŁUCJA", "Lucja"),
        ("van den Berg", "van  den  Berg", "Vandenberg"),
        ("N'Guessan", "N\u2019Guessan", "N Guessan"),
        ("Anne-Marie", "AnneMarie", "Anne Marie"),
        ("María José", "Maria Jose", "María"),
        ("Shevchenko", "shevchenko", "Sjevtsjenko"),
        ("Janssen", "JANSSEN", "Jansen"),
    ],
)
def test_spellings_of_known_names(name: str, soft: str, hard: str) -> None:
    """Typical spellings land on the documented side of what normalisation reconciles."""
    soft_spellings, hard_spellings = spellings(name)
    assert soft in soft_spellings
    assert hard in hard_spellings
    assert normalise(soft) == normalise(name) != normalise(hard)


def test_spellings_are_distinct() -> None:
    """A name's spellings never repeat (a repeat would skew the noise)."""
    soft, hard = spellings("de Vries")
    assert len(set(soft)) == len(soft)
    assert len(set(hard)) == len(hard)
