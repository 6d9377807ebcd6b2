"""The one canonical byte encoding of every signed object, and strict readers for decoded values.

Canonical form is msgpack restricted to ``nil``, ``true``/``false``, integers in
[-2^63, 2^64 - 1], ``bin`` (``bytes``), ``str`` (valid UTF-8), arrays and maps with ``str`` keys,
each in its shortest msgpack form, map keys in increasing order of their UTF-8 bytes and
unique. No floats, no extension types. Sets are encoded as arrays sorted by the canonical
encoding of their elements. Because every value has exactly one encoding, :func:`decode`
accepts ``data`` only if re-encoding the decoded value gives back ``data`` byte for byte.

Every signature in Confide is over ``domain || encode(body)``, where ``domain`` is an ASCII
string ``confide/v1/<kind>`` distinct per kind of object and ``body`` is a map. An encoded map
starts with a byte ≥ 0x80 and a domain string is printable ASCII, so the boundary between the
two is unambiguous. The layout is specified in ``docs/spec/identity-and-dataspaces.md``.

The fuzz rule: any bytes given to :func:`decode` are either accepted or rejected with
:class:`~network.errors.DecodeError`; nothing else escapes.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Collection, Iterable, Mapping, Set
from typing import Final, TypeAlias, TypeGuard

import msgpack

from network.errors import DecodeError, LocalProtocolError, ValidationError, WireCode

Value: TypeAlias = bool | int | str | bytes | list["Value"] | dict[str, "Value"] | None
"""A decoded canonical value."""

DOMAIN_NODE_RECORD: Final = b"confide/v1/node-record"
DOMAIN_CHARTER: Final = b"confide/v1/charter"
DOMAIN_MEMBERSHIP_CREDENTIAL: Final = b"confide/v1/membership-credential"
DOMAIN_REVOCATION: Final = b"confide/v1/revocation"
DOMAIN_DATA_SPACE_LINK: Final = b"confide/v1/data-space-link"
DOMAIN_NOISE_STATIC_KEY: Final = b"confide/v1/noise-static-key"
"""Reserved for the link layer: an identity key vouching for its Noise static key."""

MAX_DEPTH: Final = 16
"""Deepest nesting of arrays and maps a canonical value may have."""
MAX_ENCODED: Final = 65536
"""Largest canonical encoding :func:`decode` will look at, whatever the caller asks."""
MIN_INT: Final = -(1 << 63)
MAX_INT: Final = (1 << 64) - 1

_DOMAIN = re.compile(rb"confide/v1/[a-z0-9]+(?:-[a-z0-9]+)*")
_NAME = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
# What msgpack raises on bad input: ValueError covers ExtraData, FormatError, StackError,
# UnicodeDecodeError and "incomplete input".
_UNPACK_ERRORS: Final = (ValueError, msgpack.UnpackException)


def _normalise(obj: object, depth: int) -> Value:
    """``obj`` as a canonical value: sorted maps, sets as sorted lists, tuples as lists."""
    if depth > MAX_DEPTH:
        raise LocalProtocolError(WireCode.UNENCODABLE_VALUE, "value nested too deeply")
    if obj is None or isinstance(obj, bool | bytes):
        return obj
    if isinstance(obj, int):
        if not MIN_INT <= obj <= MAX_INT:
            raise LocalProtocolError(WireCode.UNENCODABLE_VALUE, "integer out of range")
        return obj
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError(WireCode.UNENCODABLE_VALUE, "string not UTF-8") from None
        return obj
    if isinstance(obj, list | tuple):
        return [_normalise(item, depth + 1) for item in obj]
    if isinstance(obj, Set):
        items = [_normalise(item, depth + 1) for item in obj]
        return sorted(items, key=_pack)
    if isinstance(obj, Mapping):
        if not all(isinstance(key, str) for key in obj):
            raise LocalProtocolError(WireCode.UNENCODABLE_VALUE, "map key is not a string")
        # Python orders str by code point, which is the order of their UTF-8 bytes.
        return {key: _normalise(obj[key], depth + 1) for key in sorted(obj)}
    raise LocalProtocolError(WireCode.UNENCODABLE_VALUE, f"type {type(obj).__name__} not allowed")


def _pack(value: Value) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True, strict_types=True)
    return packed


def encode(obj: object) -> bytes:
    """The canonical encoding of ``obj``; raises ``LocalProtocolError`` on unencodable input."""
    return _pack(_normalise(obj, 0))


def digest(obj: object) -> bytes:
    """SHA-256 of the canonical encoding of ``obj`` (32 bytes)."""
    return hashlib.sha256(encode(obj)).digest()


def signing_input(domain: bytes, body: Mapping[str, object]) -> bytes:
    """The exact bytes every Confide signature covers: ``domain || encode(body)``."""
    if not _DOMAIN.fullmatch(domain):
        raise LocalProtocolError(WireCode.UNENCODABLE_VALUE, "domain is not confide/v1/<kind>")
    if not isinstance(body, Mapping):
        raise LocalProtocolError(WireCode.UNENCODABLE_VALUE, "a signed body must be a map")
    return domain + encode(body)


def _check_types(value: object, depth: int) -> None:
    """Reject decoded values outside the canonical types (floats, extension types, bin keys)."""
    if depth > MAX_DEPTH:
        raise DecodeError("nested too deeply")
    if value is None or isinstance(value, bool | int | str | bytes):
        return
    if isinstance(value, list):
        for item in value:
            _check_types(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DecodeError("map key is not a string")
            _check_types(item, depth + 1)
        return
    raise DecodeError("type not allowed")


def decode(data: bytes, max_size: int = MAX_ENCODED) -> Value:
    """The value ``data`` canonically encodes; raises ``DecodeError`` for anything else."""
    limit = min(max_size, MAX_ENCODED)
    if not isinstance(data, bytes):
        raise DecodeError("not bytes")
    if len(data) > limit:
        raise DecodeError("too long")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_str_len=limit,
            max_bin_len=limit,
            max_array_len=limit,
            max_map_len=limit,
            max_ext_len=0,
        )
    except _UNPACK_ERRORS:
        raise DecodeError("not a msgpack value") from None
    _check_types(value, 0)
    result: Value = value
    if _pack(_normalise(result, 0)) != data:  # sorts map keys: unsorted or repeated keys differ
        raise DecodeError("not the canonical encoding")
    return result


# --- strict readers over decoded values: every failure names its path -----------------------


def invalid(path: str, reason: str) -> ValidationError:
    """An ``INVALID_FIELD`` error at ``path``."""
    return ValidationError(WireCode.INVALID_FIELD, path, reason)


def unknown_field_path(path: str, position: int) -> str:
    """The path of an unknown key: its position among the map's keys, never its text.

    A key we do not know was chosen by whoever wrote the map (often a peer). Its text could hold
    a newline, terminal escapes, kilobytes of filler or someone's name, and a path goes into
    exception text, log lines, audit details and API replies; so the key is reported as
    ``<path>.<unknown #i>``, ``i`` being its 0-based position in the map (for decoded canonical
    input: the wire order, i.e. sorted by UTF-8 bytes).
    """
    return f"{path}.<unknown #{position}>"


def expect_map(value: Value, path: str, keys: Collection[str]) -> dict[str, Value]:
    """``value`` as a map with exactly ``keys``.

    A missing key is named by its path (``$.body.roles``: the name is ours); the first unknown
    key by its position only (:func:`unknown_field_path`), so no peer text reaches the error.
    """
    if not isinstance(value, dict):
        raise invalid(path, "expected a map")
    for key in keys:
        if key not in value:
            raise invalid(f"{path}.{key}", "missing field")
    for position, key in enumerate(value):
        if key not in keys:
            raise invalid(unknown_field_path(path, position), "unknown field")
    return value


def expect_body(value: Value, path: str, keys: Collection[str], version: int) -> dict[str, Value]:
    """A versioned body map: ``"v"`` is checked first, so a newer format reads as unsupported."""
    if isinstance(value, dict) and "v" in value and value["v"] != version:
        raise ValidationError(WireCode.UNSUPPORTED_VERSION, f"{path}.v", "unknown format version")
    return expect_map(value, path, keys)


def expect_int(value: Value, path: str, minimum: int, maximum: int) -> int:
    """``value`` as an integer in ``[minimum, maximum]`` (``bool`` is not an integer)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(path, "expected an integer")
    if not minimum <= value <= maximum:
        raise invalid(path, "integer out of range")
    return value


def expect_str(value: Value, path: str, max_length: int) -> str:
    """``value`` as a string of 1 to ``max_length`` characters."""
    if not isinstance(value, str):
        raise invalid(path, "expected a string")
    if not 1 <= len(value) <= max_length:
        raise invalid(path, "string length out of range")
    return value


def expect_bytes(value: Value, path: str, length: int) -> bytes:
    """``value`` as exactly ``length`` bytes."""
    if not isinstance(value, bytes) or len(value) != length:
        raise invalid(path, f"expected {length} bytes")
    return value


def expect_list(value: Value, path: str, max_items: int) -> list[Value]:
    """``value`` as a list of at most ``max_items`` items."""
    if not isinstance(value, list):
        raise invalid(path, "expected a list")
    if len(value) > max_items:
        raise invalid(path, "too many items")
    return value


def is_name(value: object, max_length: int = 64) -> TypeGuard[str]:
    """Whether ``value`` is a vocabulary name (see :func:`check_name`)."""
    return isinstance(value, str) and len(value) <= max_length and bool(_NAME.fullmatch(value))


def check_name(value: object, path: str, max_length: int = 64) -> str:
    """A vocabulary name: lowercase ``a-z0-9`` words joined by ``-`` or ``_``, ≤ ``max_length``."""
    if not is_name(value, max_length):
        raise invalid(path, "not a valid name")
    return value


def check_names(
    values: Iterable[object], path: str, min_items: int, max_items: int, max_length: int = 64
) -> frozenset[str]:
    """A set of names, checked in sorted (wire) order so errors name the wire position."""
    items = list(values)
    names = [item for item in items if isinstance(item, str)]
    if len(names) != len(items):
        raise invalid(path, "expected strings")
    ordered = sorted(set(names))
    if not min_items <= len(ordered) <= max_items:
        raise invalid(path, "number of items out of range")
    for index, name in enumerate(ordered):
        check_name(name, f"{path}[{index}]", max_length)
    return frozenset(ordered)


def expect_sorted_names(
    value: Value, path: str, min_items: int, max_items: int, max_length: int = 64
) -> frozenset[str]:
    """A wire set of names: a list in strictly increasing order (canonical sets have no repeats)."""
    items = expect_list(value, path, max_items)
    names = [check_name(item, f"{path}[{index}]", max_length) for index, item in enumerate(items)]
    if any(a >= b for a, b in itertools.pairwise(names)):
        raise invalid(path, "set not in strictly increasing order")
    if len(names) < min_items:
        raise invalid(path, "number of items out of range")
    return frozenset(names)
