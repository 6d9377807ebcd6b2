"""CSV bytes → a typed table (pure: no store, no clock), with line-numbered row errors.

Reading, in order:

1. **Size.** Over ``Limits.max_bytes`` is refused before anything is decoded.
2. **Encoding.** UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); UTF-16 with a
   byte-order mark (Excel's "Unicode text"). Anything else is refused with the line of the first
   bad byte.
3. **Separator.** Given by the caller, or detected from the header line: the most frequent of
   ``;``, ``,`` and tab outside double quotes; none at all means one column; a tie is refused
   (``csv_delimiter_ambiguous``) — pass the separator explicitly.
4. **Records.** RFC 4180 quoting (separators, doubled quotes and newlines inside quoted
   fields), CRLF or LF line ends. The first non-empty record is the header; records whose
   cells are all blank (Excel's trailing ``;;;``) are skipped. A record with the wrong number
   of fields is a row error. A header with no record is an empty list: imported (zero rows)
   when the schema is declared, refused (``csv_empty``) when it would have to be inferred,
   since no column type can be inferred from no values. A file whose every record is skipped
   as invalid is refused (``csv_empty``) either way.
5. **Schema.** Declared (headers looked up after trimming) or inferred (``inference.py``).
6. **Cells** are converted by ``cells.py``. Every row error names its line (the line the record
   starts on, counting from 1 with the header) and its column, never the cell's content.

Unless ``skip_invalid`` is set, one bad row refuses the whole file (``csv_rows_invalid``, the
first ``max_reported_errors`` errors in ``details``); with it, bad rows are dropped and counted.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from node.datasets.cells import Converted, convert
from node.datasets.columns import ColumnData, numbers
from node.datasets.inference import infer_schema
from node.datasets.schema import MAX_CATEGORY_VALUES, MAX_HEADER_LENGTH, Schema
from node.errors import InvalidError, TooLargeError

DELIMITERS = (";", ",", "\t")


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one import may hold."""

    max_bytes: int = 256 * 1024 * 1024
    max_rows: int = 2_000_000
    max_columns: int = 200
    max_cell_chars: int = 10_000
    max_reported_errors: int = 100


@dataclass(frozen=True)
class RowError:
    """A row that does not parse: its line, its column (None: the whole record) and a code."""

    line: int
    column: str | None
    code: str

    def to_json(self) -> dict[str, Any]:
        """The JSON form used in error details and import reports."""
        return {"line": self.line, "column": self.column, "code": self.code}


@dataclass(frozen=True)
class Table:
    """A parsed CSV ready to store."""

    schema: Schema
    columns: dict[str, ColumnData]
    row_count: int
    skipped: int
    errors: tuple[RowError, ...]
    source_sha256: str
    delimiter: str


def read_csv(
    data: bytes,
    schema: Schema | None = None,
    *,
    delimiter: str | None = None,
    skip_invalid: bool = False,
    limits: Limits | None = None,
) -> Table:
    """Parse ``data`` under ``schema`` (inferred when None); see the module docstring."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise TooLargeError(
            "file_too_large",
            f"the file is over the import limit of {limits.max_bytes} bytes",
            {"limit": limits.max_bytes},
        )
    text = decode(data)
    if delimiter is None:
        delimiter = detect_delimiter(text)
    elif delimiter not in DELIMITERS:
        raise InvalidError("csv_delimiter_invalid", "the separator is ';', ',' or a tab")
    headers, lines, records = _records(text, delimiter, limits)
    declared = schema is not None
    if not lines and not declared:
        raise InvalidError(
            "csv_empty",
            "the file has a header but no rows; to import an empty list, give its schema",
            {"skipped": 0},
        )
    if schema is None:
        schema = infer_schema(headers, [[r[i] for r in records] for i in range(len(headers))])
    index = {header: i for i, header in enumerate(headers)}
    for column in schema.columns:
        for part in column.parts:
            if part.source not in index:
                raise InvalidError(
                    "column_missing",
                    f"column {column.name!r} reads a header the file does not have",
                    {"column": column.name},
                )
    errors = [RowError(-line, None, "field_count") for line in lines if line < 0]
    converted: dict[str, Converted] = {}
    for column in schema.columns:
        cells = [[r[index[p.source]] for r in records] for p in column.parts]
        result = converted[column.name] = convert(column, cells)
        errors.extend(
            RowError(lines[row], column.name, code)
            for row, code in result.errors.items()
            if lines[row] > 0
        )
    errors.sort(key=lambda e: (e.line, e.column or ""))
    bad_rows = {e.line for e in errors}
    if errors and not skip_invalid:
        first = errors[0]
        where = f" (column {first.column!r}: {first.code})" if first.column else f" ({first.code})"
        raise InvalidError(
            "csv_rows_invalid",
            f"{_rows(len(bad_rows))} not parse; the first is line "
            f"{first.line}{where}. Nothing was imported",
            {
                "rows": len(bad_rows),
                "errors": [e.to_json() for e in errors[: limits.max_reported_errors]],
            },
        )
    keep = [i for i, line in enumerate(lines) if line not in bad_rows]
    if lines and not keep:
        raise InvalidError("csv_empty", "the file has no rows to import", {"skipped": len(lines)})
    columns, observed = _select(schema, converted, keep, len(lines))
    return Table(
        schema=schema.with_observed(observed),
        columns=columns,
        row_count=len(keep),
        skipped=len(lines) - len(keep),
        errors=tuple(errors[: limits.max_reported_errors]),
        source_sha256=hashlib.sha256(data).hexdigest(),
        delimiter=delimiter,
    )


def decode(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (optional BOM) or UTF-16 with a BOM."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding, body = "utf-16", data
    else:
        encoding, body = "utf-8", data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        line = body[: error.start].count(b"\n") + 1 if encoding == "utf-8" else None
        raise InvalidError(
            "csv_encoding_invalid",
            "the file is not UTF-8 text"
            + (f" (line {line})" if line else "")
            + "; save it as 'CSV UTF-8'",
            {"line": line},
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InvalidError(
            "csv_encoding_invalid",
            f"line {line} holds a NUL character; is the file UTF-16 without a byte-order mark?",
            {"line": line},
        )
    return text.removeprefix("\ufeff")


def detect_delimiter(text: str) -> str:
    """The separator of the header line (see the module docstring)."""
    header = text.lstrip("\r\n").split("\n", 1)[0]
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts.values())
    if best == 0:
        return ","
    winners = [d for d, n in counts.items() if n == best]
    if len(winners) > 1:
        raise InvalidError(
            "csv_delimiter_ambiguous",
            "the header line has as many of two separators; give the separator explicitly",
        )
    return winners[0]


def _records(
    text: str, delimiter: str, limits: Limits
) -> tuple[list[str], list[int], list[list[str]]]:
    """Headers, the start line of each record (negative: wrong field count) and the records."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    headers: list[str] | None = None
    lines: list[int] = []
    records: list[list[str]] = []
    previous = 0
    try:
        for record in reader:
            start, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if any(len(cell) > limits.max_cell_chars for cell in record):
                raise _too_large("cell", limits.max_cell_chars, start)
            if headers is None:
                headers = _headers(record, limits, start)
                continue
            if len(lines) >= limits.max_rows:
                raise _too_large("rows", limits.max_rows, start)
            if len(record) != len(headers):
                lines.append(-start)
                records.append([""] * len(headers))
            else:
                lines.append(start)
                records.append(record)
    except csv.Error:
        raise InvalidError(
            "csv_malformed",
            f"line {previous + 1} is not well-formed CSV (check its quotes)",
            {"line": previous + 1},
        ) from None
    if headers is None:
        raise InvalidError("csv_header_missing", "the file has no header row")
    return headers, lines, records


def _headers(record: Sequence[str], limits: Limits, line: int) -> list[str]:
    """The trimmed header row, checked for count, length, blanks and repeats."""
    if len(record) > limits.max_columns:
        raise _too_large("columns", limits.max_columns, line)
    headers = [cell.strip() for cell in record]
    for i, header in enumerate(headers):
        if not header or len(header) > MAX_HEADER_LENGTH:
            raise InvalidError(
                "csv_header_invalid",
                f"header {i + 1} is empty or over {MAX_HEADER_LENGTH} characters",
                {"line": line, "position": i + 1},
            )
    if len(set(headers)) != len(headers):
        raise InvalidError("csv_header_invalid", "two columns have the same header", {"line": line})
    return headers


def _select(
    schema: Schema, converted: dict[str, Converted], keep: list[int], total: int
) -> tuple[dict[str, ColumnData], dict[str, tuple[str, ...]]]:
    """The kept rows of every column, and each category's observed vocabulary."""
    everything = len(keep) == total
    columns: dict[str, ColumnData] = {}
    observed: dict[str, tuple[str, ...]] = {}
    for column in schema.columns:
        result = converted[column.name]
        if column.type in ("identifier", "category"):
            text = [str(v) for v in result.values]
            text = text if everything else [text[i] for i in keep]
            columns[column.name] = text
            if column.type == "category":
                observed[column.name] = _vocabulary(column.name, text)
        else:
            ints = [int(v) for v in result.values]
            missing = result.missing
            if not everything:
                ints = [ints[i] for i in keep]
                missing = None if missing is None else [missing[i] for i in keep]
            columns[column.name] = numbers(ints, missing)
    return columns, observed


def _vocabulary(name: str, text: list[str]) -> tuple[str, ...]:
    """The distinct values of a category column, refused if there are too many."""
    values = sorted(set(text) - {""})
    if len(values) > MAX_CATEGORY_VALUES:
        raise InvalidError(
            "category_too_many",
            f"column {name!r} has more than {MAX_CATEGORY_VALUES} distinct values; "
            "declare it as an identifier",
            {"column": name},
        )
    return tuple(values)


def _too_large(what: str, limit: int, line: int) -> TooLargeError:
    """An import over one of its limits (``what``: rows, columns or cell)."""
    if what == "cell":
        message = f"a cell on line {line} is over {limit} characters"
    else:
        message = f"the file has more than {limit} {what} (line {line})"
    code = "csv_cell_too_long" if what == "cell" else f"csv_too_many_{what}"
    return TooLargeError(code, message, {"limit": limit, "line": line})


def _rows(count: int) -> str:
    """``"1 row does"`` / ``"3 rows do"``."""
    return "1 row does" if count == 1 else f"{count} rows do"
