"""Identifier normalisation as product.md describes it."""

from __future__ import annotations

import pytest

from node.identifiers import normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("José  García", "jose garcia"),
        ("jose garcia", "jose garcia"),
        ("JOSÉ GARCÍA ", "jose garcia"),
        ("O'Brien", "obrien"),
        ("Daniel Bălan", "daniel balan"),
        ("Straße", "strasse"),
        ("12-03-1990", "12031990"),
        ("\u00a0Anna\tKowalska\n", "anna kowalska"),
        ("ﬁnn", "finn"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    """Accents, case, punctuation and spacing variants map to one form."""
    assert normalise(raw) == expected
