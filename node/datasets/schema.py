"""Dataset schemas: safe names, column types, and their JSON form (validated, unknown keys refused).

A schema is an ordered list of columns. Each column has a safe ``name``, a ``type``
(``identifier``, ``category``, ``integer`` or ``date``) and the CSV header(s) it is read from:

- a plain column reads one header (``source``, by default its own name);
- a *composite identifier* reads several (``from``): each part is normalised on its own (a part
  with a date ``format`` is first read as a date and written as ISO ``YYYY-MM-DD``) and the parts
  are joined by ``|``, which normalisation never leaves inside a part, so "Anna Smit" born
  12-03-1990 matches "anna  smit" born 1990-03-12 at another provider.

Categories carry a vocabulary: ``values`` *declared* in the schema (closed: any other value is a
row error; shown in the catalog) or ``observed`` during import (private: never in the catalog).
See docs/reference/dataset-format.md for the JSON shape.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from node.errors import InvalidError

ColumnType = Literal["identifier", "category", "integer", "date"]
DateFormat = Literal["iso", "dmy", "mdy"]
COLUMN_TYPES: tuple[ColumnType, ...] = ("identifier", "category", "integer", "date")
DATE_FORMATS: tuple[DateFormat, ...] = ("iso", "dmy", "mdy")
SCHEMA_VERSION = 1
MAX_NAME_LENGTH = 64
MAX_HEADER_LENGTH = 200
MAX_COMPOSITE_PARTS = 8
MAX_CATEGORY_VALUES = 1_000

_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def check_name(name: object, what: str = "dataset") -> str:
    """``name`` if it is a safe name (``[a-z0-9][a-z0-9_-]*``, at most 64 characters)."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_LENGTH
        or _SAFE_NAME.fullmatch(name) is None
    ):
        raise InvalidError(
            f"{what}_name_invalid",
            f"a {what} name is 1 to {MAX_NAME_LENGTH} characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit",
            {"what": what},
        )
    return name


@dataclass(frozen=True)
class Part:
    """One CSV header read into a composite identifier; ``date_format`` reads it as a date."""

    source: str
    date_format: DateFormat | None = None


@dataclass(frozen=True)
class Column:
    """One stored column of a dataset."""

    name: str
    type: ColumnType
    parts: tuple[Part, ...]
    required: bool = True
    date_format: DateFormat | None = None
    values: tuple[str, ...] | None = None
    observed: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None

    @property
    def composite(self) -> bool:
        """Whether the column is an identifier built from several headers."""
        return self.type == "identifier" and (
            len(self.parts) > 1 or self.parts[0].date_format is not None
        )

    def to_json(self, *, public: bool = False) -> dict[str, Any]:
        """The JSON form; ``public`` leaves out the observed vocabulary and the headers."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if not public:
            if self.composite:
                out["from"] = [
                    {"source": p.source, "format": p.date_format} if p.date_format else p.source
                    for p in self.parts
                ]
            elif self.parts[0].source != self.name:
                out["source"] = self.parts[0].source
        if not self.required:
            out["required"] = False
        if self.date_format is not None:
            out["format"] = self.date_format
        if self.values is not None:
            out["values"] = list(self.values)
        if self.observed is not None and not public:
            out["observed"] = list(self.observed)
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        return out


@dataclass(frozen=True)
class Schema:
    """The ordered columns of a dataset."""

    columns: tuple[Column, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        """The column called ``name`` (``KeyError`` if none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    def with_observed(self, observed: Mapping[str, tuple[str, ...]]) -> Schema:
        """A copy with the observed vocabulary of each category column filled in."""
        return Schema(
            tuple(
                replace(c, observed=observed[c.name]) if c.name in observed else c
                for c in self.columns
            )
        )

    def to_json(self, *, public: bool = False) -> dict[str, Any]:
        """The JSON form (``parse_schema`` reads it back)."""
        return {
            "version": SCHEMA_VERSION,
            "columns": [c.to_json(public=public) for c in self.columns],
        }


_COLUMN_KEYS = {"name", "type", "source", "from", "required", "format", "values", "observed"}
_COLUMN_KEYS |= {"min", "max"}
_TYPE_KEYS: dict[str, set[str]] = {
    "identifier": {"name", "type", "source", "from"},
    "category": {"name", "type", "source", "required", "values", "observed"},
    "integer": {"name", "type", "source", "required", "min", "max"},
    "date": {"name", "type", "source", "required", "format"},
}
_MAX_INT = 2**63 - 1


def parse_schema(document: object) -> Schema:
    """Validate a schema's JSON form; errors carry the JSON path of the bad field."""
    if not isinstance(document, Mapping):
        raise _invalid("$", "a schema is an object with a 'columns' list")
    unknown = set(document) - {"version", "columns"}
    if unknown:
        raise _invalid(f"$.{sorted(unknown)[0]}", "unknown field")
    if document.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise _invalid("$.version", f"the schema version must be {SCHEMA_VERSION}")
    raw = document.get("columns")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise _invalid("$.columns", "'columns' is a non-empty list")
    columns = tuple(_parse_column(item, f"$.columns[{i}]") for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, column in enumerate(columns):
        if column.name in seen:
            raise _invalid(f"$.columns[{i}].name", "duplicate column name")
        seen.add(column.name)
    return Schema(columns)


def _parse_column(item: object, path: str) -> Column:
    """One column object."""
    if not isinstance(item, Mapping):
        raise _invalid(path, "a column is an object")
    unknown = set(item) - _COLUMN_KEYS
    if unknown:
        raise _invalid(f"{path}.{sorted(unknown)[0]}", "unknown field")
    kind = item.get("type")
    if kind not in COLUMN_TYPES:
        raise _invalid(f"{path}.type", f"type is one of {', '.join(COLUMN_TYPES)}")
    misplaced = set(item) - _TYPE_KEYS[kind]
    if misplaced:
        raise _invalid(f"{path}.{sorted(misplaced)[0]}", f"not a field of a {kind} column")
    try:
        name = check_name(item.get("name"), "column")
    except InvalidError:
        raise _invalid(f"{path}.name", "a column name is a safe name (a-z, 0-9, _ and -)") from None
    if "from" in item and "source" in item:
        raise _invalid(f"{path}.from", "give either 'source' or 'from', not both")
    parts = (
        _parse_parts(item["from"], f"{path}.from")
        if "from" in item
        else (Part(_header(item.get("source", name), f"{path}.source")),)
    )
    required = item.get("required", True)
    if not isinstance(required, bool):
        raise _invalid(f"{path}.required", "required is true or false")
    date_format = item.get("format")
    if kind == "date":
        if date_format is None:
            raise _invalid(f"{path}.format", f"a date column declares its format: {DATE_FORMATS}")
        if date_format not in DATE_FORMATS:
            raise _invalid(f"{path}.format", f"format is one of {', '.join(DATE_FORMATS)}")
    minimum = _bound(item.get("min"), f"{path}.min")
    maximum = _bound(item.get("max"), f"{path}.max")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise _invalid(f"{path}.max", "max is at least min")
    return Column(
        name=name,
        type=kind,
        parts=parts,
        required=required,
        date_format=cast("DateFormat | None", date_format),
        values=_vocabulary(item.get("values"), f"{path}.values"),
        observed=_vocabulary(item.get("observed"), f"{path}.observed"),
        minimum=minimum,
        maximum=maximum,
    )


def _parse_parts(raw: object, path: str) -> tuple[Part, ...]:
    """The headers of a composite identifier."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise _invalid(path, "'from' is a non-empty list of headers")
    if len(raw) > MAX_COMPOSITE_PARTS:
        raise _invalid(path, f"at most {MAX_COMPOSITE_PARTS} parts")
    parts = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            parts.append(Part(_header(entry, f"{path}[{i}]")))
            continue
        if not isinstance(entry, Mapping) or set(entry) - {"source", "format"}:
            raise _invalid(f"{path}[{i}]", "a part is a header or {'source', 'format'}")
        date_format = entry.get("format")
        if date_format is not None and date_format not in DATE_FORMATS:
            raise _invalid(f"{path}[{i}].format", f"format is one of {', '.join(DATE_FORMATS)}")
        source = _header(entry.get("source"), f"{path}[{i}].source")
        parts.append(Part(source, cast("DateFormat | None", date_format)))
    return tuple(parts)


def _header(raw: object, path: str) -> str:
    """A CSV header name as written in the file (trimmed)."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_HEADER_LENGTH:
        raise _invalid(path, f"a header is 1 to {MAX_HEADER_LENGTH} characters")
    return raw.strip()


def _bound(raw: object, path: str) -> int | None:
    """An optional integer bound."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) > _MAX_INT:
        raise _invalid(path, "a bound is a 64-bit integer")
    return raw


def _vocabulary(raw: object, path: str) -> tuple[str, ...] | None:
    """A category vocabulary: distinct non-empty values after folding, sorted."""
    if raw is None:
        return None
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise _invalid(path, "a vocabulary is a list of strings")
    if len(raw) > MAX_CATEGORY_VALUES:
        raise _invalid(path, f"at most {MAX_CATEGORY_VALUES} values")
    folded = set()
    for i, value in enumerate(raw):
        if not isinstance(value, str) or not fold_category(value):
            raise _invalid(f"{path}[{i}]", "a value is a non-empty string")
        folded.add(fold_category(value))
    if len(folded) != len(raw):
        raise _invalid(path, "values repeat after case-folding")
    return tuple(sorted(folded))


def fold_category(text: str) -> str:
    """The stored form of a category value: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _invalid(path: str, message: str) -> InvalidError:
    """A schema error at ``path``."""
    return InvalidError("schema_invalid", f"invalid schema at {path}: {message}", {"path": path})
