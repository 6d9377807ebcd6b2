"""Checking request bodies, path names and query strings against the schemas the OpenAPI publishes.

One JSON Schema (draft 2020-12) per body; every error is reported, each with its JSON path
(``$.permission.constraints[3].op``) and a message written here, never jsonschema's own text —
that quotes the offending value, and a value may be a person's name. Unknown fields are refused
(schemas close objects with ``additionalProperties: false``) and each is reported at its own path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from node.errors import InvalidError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Names in paths (datasets, policies, data spaces…): no separators, no ``..``, no leading dot."""

NAME = {"type": "string", "pattern": NAME_PATTERN, "not": {"pattern": r"\.\."}}
"""Schema of a safe resource name."""

_MAX_ERRORS = 50


def validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A validator for ``schema``, which is checked to be a valid schema itself."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check(
    checker: Draft202012Validator, instance: object, *, code: str, what: str, root: str = "$"
) -> None:
    """Raise ``InvalidError(code)`` listing every problem of ``instance``; return if none."""
    problems: list[dict[str, str]] = []
    for error in sorted(checker.iter_errors(instance), key=lambda e: list(map(str, e.path))):
        for problem in _describe(error, root):
            if problem not in problems:  # one per missing field, however jsonschema groups them
                problems.append(problem)
        if len(problems) >= _MAX_ERRORS:
            break
    if problems:
        first = problems[0]
        raise InvalidError(
            code,
            f"{what} is not valid: {first['path']} {first['message']}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            {"errors": problems[:_MAX_ERRORS]},
        )


def check_name(value: str, *, field: str) -> str:
    """``value`` if it is a safe name, else ``InvalidError('invalid_name')`` naming ``field``."""
    check(_NAME_CHECKER, value, code="invalid_name", what=f"the {field}", root=field)
    return value


def _describe(error: ValidationError, root: str) -> Iterator[dict[str, str]]:
    """Our own message(s) for one jsonschema error; several for several unknown fields."""
    path = _json_path(root, error.absolute_path)
    keyword = str(error.validator)
    schema: Any = error.validator_value
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        for extra in sorted(set(error.instance) - known):
            yield {"path": _json_path(root, [*error.absolute_path, extra]), "message": "unknown"}
        return
    if keyword in {"oneOf", "anyOf"} and isinstance(error.instance, dict):
        unknown = _unknown_in_every_alternative(error)
        if unknown:
            for extra in unknown:
                extra_path = _json_path(root, [*error.absolute_path, extra])
                yield {"path": extra_path, "message": "unknown"}
            return
    if keyword == "required" and isinstance(error.instance, dict):
        for missing in schema:
            if missing not in error.instance:
                yield {
                    "path": _json_path(root, [*error.absolute_path, missing]),
                    "message": "is required",
                }
        return
    yield {"path": path, "message": _message(keyword, schema)}


def _unknown_in_every_alternative(error: ValidationError) -> list[str]:
    """Fields of the object that no alternative of a ``oneOf``/``anyOf`` knows (sorted)."""
    alternatives = error.validator_value
    if not isinstance(alternatives, list) or not all(
        isinstance(alternative, dict) and alternative.get("additionalProperties") is False
        for alternative in alternatives
    ):
        return []
    known: set[str] = set()
    for alternative in alternatives:
        known |= set(alternative.get("properties", {}))
    return sorted(str(field) for field in set(error.instance) - known)


def _message(keyword: str, schema: Any) -> str:
    """A message for a keyword that names the rule, never the value."""
    if keyword == "type":
        kinds = schema if isinstance(schema, list) else [schema]
        return "must be of type " + " or ".join(str(kind) for kind in kinds)
    if keyword in {"enum", "const"}:
        choices = schema if isinstance(schema, list) else [schema]
        return "must be one of " + ", ".join(repr(choice) for choice in choices)
    messages = {
        "minimum": f"must be at least {schema}",
        "maximum": f"must be at most {schema}",
        "exclusiveMinimum": f"must be more than {schema}",
        "exclusiveMaximum": f"must be less than {schema}",
        "minLength": f"must have at least {schema} characters",
        "maxLength": f"must have at most {schema} characters",
        "minItems": f"must have at least {schema} items",
        "maxItems": f"must have at most {schema} items",
        "uniqueItems": "must not repeat items",
        "minProperties": f"must have at least {schema} fields",
        "maxProperties": f"must have at most {schema} fields",
        "pattern": "has characters or a form that is not allowed",
        "not": "has a form that is not allowed",
        "format": f"must be a valid {schema}",
        "propertyNames": "has a field name that is not allowed",
    }
    return messages.get(keyword, f"does not satisfy {keyword}")


def _json_path(root: str, parts: Any) -> str:
    path = root
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_NAME_CHECKER = validator(NAME)
