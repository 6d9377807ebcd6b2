"""Schema inference from a CSV's headers and cells, by a short, documented rule.

For each header, in this order (the first rule that holds wins):

1. the header names an identifier (a word such as ``name``, ``naam``, ``id``, ``bsn``,
   ``passport``, ``email``, ``phone``, or ``name``/``naam`` inside a word) → ``identifier``;
2. every non-empty cell is an integer without leading zeros → ``integer``
   (``007`` is a code, not a number);
3. every non-empty cell is shaped ``YYYY-MM-DD`` → ``date`` (``iso``);
4. every non-empty cell is shaped ``D-M-YYYY`` (``-``, ``/`` or ``.``) and some first number
   exceeds 12 (and no second one) → ``date`` (``dmy``); the mirror case → ``mdy``; if no cell
   tells day from month, inference refuses (``date_format_ambiguous``): declare the format.
   A date-shaped cell that is no real date (``31-02-1990``) is then a row error, reported by
   line like any other, rather than turning the column into text;
5. more than 1,000 distinct values, or more than 50 and more than half the non-empty cells
   distinct → ``identifier``; otherwise → ``category``.

A column with an empty cell is optional (identifiers are always required). Column names are
the headers made safe: accents dropped, lower case, other characters runs turned into ``_``.
Inference is a convenience: the import report returns the schema it chose, and the how-to
recommends declaring the schema for anything imported more than once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from node.datasets.cells import INT64_MAX, INT64_MIN, day_first_fields, iso_shaped
from node.datasets.schema import (
    MAX_CATEGORY_VALUES,
    MAX_NAME_LENGTH,
    Column,
    ColumnType,
    DateFormat,
    Part,
    Schema,
    fold_category,
)
from node.errors import InvalidError

IDENTIFIER_WORDS = frozenset(
    {"name", "naam", "id", "bsn", "passport", "paspoort", "email", "phone", "telefoon"}
)
IDENTIFIER_WORDS |= {"identifier", "document", "ssn"}
_UNSAFE = re.compile(r"[^a-z0-9]+")
_INTEGER = re.compile(r"[+-]?(0|[1-9][0-9]*)")


def infer_schema(headers: Sequence[str], columns: Sequence[Sequence[str]]) -> Schema:
    """A schema for the given headers, ``columns[i]`` holding the cells under ``headers[i]``."""
    names = column_names(headers)
    inferred = []
    for header, name, cells in zip(headers, names, columns, strict=True):
        present = [cell.strip() for cell in cells if cell.strip()]
        kind, date_format = _infer_type(name, present)
        required = kind == "identifier" or len(present) == len(cells)
        inferred.append(
            Column(name, kind, (Part(header),), required=required, date_format=date_format)
        )
    return Schema(tuple(inferred))


def column_names(headers: Sequence[str]) -> list[str]:
    """Safe, distinct column names for CSV headers."""
    names: list[str] = []
    for i, header in enumerate(headers):
        plain = "".join(
            c for c in unicodedata.normalize("NFKD", header) if not unicodedata.combining(c)
        )
        base = _UNSAFE.sub("_", plain.casefold()).strip("_")[: MAX_NAME_LENGTH - 4]
        base = base or f"column_{i + 1}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def _infer_type(name: str, present: list[str]) -> tuple[ColumnType, DateFormat | None]:
    """The type (and date format) of one column by the rules of the module docstring."""
    words = set(name.split("_"))
    if words & IDENTIFIER_WORDS or "name" in name or "naam" in name:
        return "identifier", None
    if not present:
        return "category", None
    if all(_is_integer(cell) for cell in present):
        return "integer", None
    if all(iso_shaped(cell) for cell in present):
        return "date", "iso"
    date_format = _day_first_format(name, present)
    if date_format is not None:
        return "date", date_format
    distinct = len({fold_category(cell) for cell in present})
    if distinct > MAX_CATEGORY_VALUES or (distinct > 50 and distinct * 2 > len(present)):
        return "identifier", None
    return "category", None


def _is_integer(cell: str) -> bool:
    """Whether ``cell`` is an integer without leading zeros in the 64-bit range."""
    return _INTEGER.fullmatch(cell) is not None and INT64_MIN <= int(cell) <= INT64_MAX


def _day_first_format(name: str, present: list[str]) -> DateFormat | None:
    """``dmy`` or ``mdy`` if every cell is ``D-M-YYYY``-shaped and the cells say which."""
    fields = [day_first_fields(cell) for cell in present]
    if any(f is None for f in fields):
        return None
    day_first = any(f is not None and f[0] > 12 for f in fields)
    month_first = any(f is not None and f[1] > 12 for f in fields)
    if day_first and month_first:
        return None
    if not day_first and not month_first:
        raise InvalidError(
            "date_format_ambiguous",
            f"column {name!r} holds dates that read both day-first and month-first; "
            "declare its format (dmy or mdy) in the schema",
            {"column": name},
        )
    return "dmy" if day_first else "mdy"
