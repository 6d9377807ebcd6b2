"""Reading CSV cells into typed column values, one column at a time.

Each converter takes the raw strings of a column (one list per part for composite identifiers)
and returns the values plus, for each row that does not parse, a short error code. Codes name
the rule broken, never the cell: a cell may be a person's name.

- ``identifier``: ``node.identifiers.normalise``; empty after normalising is ``missing``.
- ``category``: NFKC, case-folded, whitespace collapsed (``fold_category``); a declared
  vocabulary refuses any other value (``category_unknown``). An empty optional cell is ``""``.
- ``integer``: ``[+-]?[0-9]+`` after trimming, within the 64-bit range and the declared bounds.
- ``date``: ``iso`` ``YYYY-MM-DD``; ``dmy`` ``D-M-YYYY`` with ``-``, ``/`` or ``.``; ``mdy`` the
  same with month first. Stored as days since 1970-01-01 (``days_to_date`` turns them back).

An empty optional integer or date is stored as 0 and flagged in the column's missing mask.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from node.datasets.schema import Column, DateFormat, fold_category
from node.errors import InvalidError
from node.identifiers import normalise

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_EPOCH = datetime.date(1970, 1, 1).toordinal()
_INTEGER = re.compile(r"[+-]?[0-9]+")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DAY_FIRST = re.compile(r"([0-9]{1,2})([-/.])([0-9]{1,2})\2([0-9]{4})")


@dataclass
class Converted:
    """A converted column: values, missing flags (optional columns) and row errors by index."""

    values: list[str] | list[int]
    missing: list[bool] | None = None
    errors: dict[int, str] = field(default_factory=dict)


def convert(column: Column, parts: Sequence[Sequence[str]]) -> Converted:
    """Convert the raw cells of ``column``; ``parts`` holds one list of cells per source."""
    if column.type == "identifier":
        return _identifiers(column, parts)
    cells = parts[0]
    if column.type == "category":
        return _categories(column, cells)
    if column.type == "integer":
        return _numbers(column, cells, _integer)
    date_format = column.date_format
    if date_format is None:
        raise InvalidError("schema_invalid", f"date column {column.name!r} has no format")
    return _numbers(column, cells, lambda text: parse_date(text, date_format))


def parse_date(text: str, date_format: DateFormat) -> int | None:
    """Days since 1970-01-01 of ``text`` in ``date_format``, or None if it is not such a date."""
    if date_format == "iso":
        match = _ISO.fullmatch(text)
        if match is None:
            return None
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _DAY_FIRST.fullmatch(text)
        if match is None:
            return None
        first, _, second, year_text = match.groups()
        year = int(year_text)
        day, month = (int(first), int(second))
        if date_format == "mdy":
            day, month = month, day
    try:
        return datetime.date(year, month, day).toordinal() - _EPOCH
    except ValueError:
        return None


def days_to_date(days: int) -> datetime.date:
    """The calendar date ``days`` after 1970-01-01."""
    return datetime.date.fromordinal(days + _EPOCH)


def iso_shaped(text: str) -> bool:
    """Whether ``text`` looks like ``YYYY-MM-DD`` (for format inference; may be no real date)."""
    return _ISO.fullmatch(text) is not None


def day_first_fields(text: str) -> tuple[int, int] | None:
    """The first two numbers of a ``D-M-YYYY``-shaped cell (for format inference), else None."""
    match = _DAY_FIRST.fullmatch(text)
    return None if match is None else (int(match.group(1)), int(match.group(3)))


def _identifiers(column: Column, parts: Sequence[Sequence[str]]) -> Converted:
    """Normalised identifiers; composite parts joined by '|'."""
    values: list[str] = []
    errors: dict[int, str] = {}
    cache: dict[str, str] = {}
    for row, cells in enumerate(zip(*parts, strict=True)):
        pieces = []
        for part, cell in zip(column.parts, cells, strict=True):
            if part.date_format is not None:
                days = parse_date(cell.strip(), part.date_format)
                piece = "" if days is None else days_to_date(days).isoformat()
                if days is None and cell.strip():
                    errors[row] = "date_invalid"
            elif cell in cache:
                piece = cache[cell]
            else:
                piece = cache[cell] = normalise(cell)
            if not piece:
                errors.setdefault(row, "missing")
            pieces.append(piece)
        values.append("|".join(pieces))
    return Converted(values, None, errors)


def _categories(column: Column, cells: Sequence[str]) -> Converted:
    """Folded category values, checked against a declared vocabulary."""
    allowed = None if column.values is None else frozenset(column.values)
    values: list[str] = []
    errors: dict[int, str] = {}
    cache: dict[str, str] = {}
    for row, cell in enumerate(cells):
        value = cache.get(cell)
        if value is None:
            value = cache[cell] = fold_category(cell)
        if not value:
            if column.required:
                errors[row] = "missing"
        elif allowed is not None and value not in allowed:
            errors[row] = "category_unknown"
        values.append(value)
    return Converted(values, None, errors)


def _integer(text: str) -> int | None:
    """The integer written in ``text``, or None."""
    if _INTEGER.fullmatch(text) is None:
        return None
    return int(text)


def _numbers(column: Column, cells: Sequence[str], parse: Callable[[str], int | None]) -> Converted:
    """Integers or dates, with a missing flag for empty optional cells."""
    values: list[int] = []
    missing: list[bool] = []
    errors: dict[int, str] = {}
    invalid = "integer_invalid" if column.type == "integer" else "date_invalid"
    for row, cell in enumerate(cells):
        text = cell.strip()
        if not text:
            if column.required:
                errors[row] = "missing"
            values.append(0)
            missing.append(True)
            continue
        value = parse(text)
        if value is None:
            errors[row] = invalid
            value = 0
        elif not INT64_MIN <= value <= INT64_MAX:
            errors[row] = "integer_out_of_range"
            value = 0
        elif (column.minimum is not None and value < column.minimum) or (
            column.maximum is not None and value > column.maximum
        ):
            errors[row] = "out_of_bounds"
        values.append(value)
        missing.append(False)
    return Converted(values, missing if any(missing) else None, errors)
