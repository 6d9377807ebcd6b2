"""What the commands that drive a running node share: ``--home``/``--json``, the client, output.

Not a subcommand itself. A command handler calls ``call(args, action, render)``: ``action`` gets
an ``AdminClient`` for the node running from ``--home`` and returns the API's JSON; it is printed
as one JSON document with ``--json``, else as ``render(result)``. Any ``NodeError`` (the API's
error, or the node not running) prints ``confide: <message>`` on stderr and returns exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

HOME_ENV = "CONFIDE_HOME"


def add_common(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    """``--home`` (default ``$CONFIDE_HOME``) and, unless told otherwise, ``--json``."""
    default = os.environ.get(HOME_ENV)
    parser.add_argument(
        "--home",
        default=default,
        required=default is None,
        help=f"the home of the running node (default ${HOME_ENV})",
    )
    if json_output:
        parser.add_argument("--json", action="store_true", help="print one JSON document")


def call(
    args: argparse.Namespace,
    action: Callable[[Any], Any],
    render: Callable[[Any], str],
) -> int:
    """Run ``action(client)``; print its result; 0 on success, 1 with a one-line reason if not."""
    from node.client import AdminClient
    from node.errors import NodeError

    try:
        client = AdminClient.from_home(args.home)
        result = action(client)
    except NodeError as error:
        sys.stderr.write(f"confide: {error.message}\n")
        return 1
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        text = render(result)
        if text:
            sys.stdout.write(text.rstrip("\n") + "\n")
    return 0


def read_json_file(path: str) -> Any:
    """The JSON document in ``path`` (``-`` for stdin); ``InvalidError`` with a one-line reason."""
    from node.errors import InvalidError

    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as file:
                text = file.read()
    except OSError as error:
        raise InvalidError("file_unreadable", f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidError("file_unreadable", f"{path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidError(
            "malformed_json", f"{path} is not valid JSON (line {error.lineno})"
        ) from None


def table(rows: Iterable[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain aligned text table; ``(none)`` when there are no rows."""
    body = [[_cell(value) for value in row] for row in rows]
    if not body:
        return "(none)"
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def fields(mapping: dict[str, Any], names: Iterable[str] | None = None) -> str:
    """``name: value`` lines of ``mapping`` (all keys, or ``names`` in order)."""
    keys = list(names) if names is not None else list(mapping)
    width = max((len(k) for k in keys), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(mapping.get(k))}" for k in keys if k in mapping)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
