"""Normalisation of identifiers before matching.

Unicode NFKC, then accents removed (NFKD, combining marks dropped), case-folded, punctuation
removed, whitespace collapsed to single spaces and trimmed. So "José  García" and "jose garcia"
match, as do "O'Brien" and "obrien". Digits are kept: "12-03-1990" becomes "12031990".
"""

from __future__ import annotations

import unicodedata


def normalise(text: str) -> str:
    """The matching form of an identifier."""
    composed = unicodedata.normalize("NFKC", text)
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", composed) if not unicodedata.combining(c)
    )
    folded = stripped.casefold()
    kept = "".join(c if not unicodedata.category(c).startswith(("P", "S")) else "" for c in folded)
    return " ".join(kept.split())


def to_bytes(text: str) -> bytes:
    """The normalised identifier as UTF-8, ready for keyed encoding."""
    return normalise(text).encode("utf-8")
