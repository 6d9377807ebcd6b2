"""The canonical decoder under fuzzing, the strict readers, and unknown keys kept out of errors.

The encoder's own round-trip and pinned-byte tests still live in ``test_records.py``; this file
adds the fuzz rule for ``canonical.decode`` over structured mutations and non-canonical msgpack,
the same rule for the strict readers over any decoded value, and the privacy rule for unknown
keys: a key we do not know is reported by its position, never by its text.
"""

from __future__ import annotations

import re

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network import canonical
from network.canonical import Value
from network.dataspace import Charter, MembershipCredential
from network.errors import DecodeError, ValidationError, WireCode
from network.records import SignedNodeRecord
from tests.network.test_dataspace import LEA, credential, nl_charter
from tests.network.test_records import signed_record

# --- fuzzing the decoder --------------------------------------------------------------------


def canonical_values(depth: int = 4) -> st.SearchStrategy[Value]:
    """Canonical values nested at most ``depth`` deep."""
    leaves: st.SearchStrategy[Value] = (
        st.none()
        | st.booleans()
        | st.integers(min_value=canonical.MIN_INT, max_value=canonical.MAX_INT)
        | st.binary(max_size=40)
        | st.text(max_size=20)
    )
    if depth == 0:
        return leaves
    children = canonical_values(depth - 1)
    return (
        leaves
        | st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    )


def msgpack_objects() -> st.SearchStrategy[object]:
    """Objects msgpack can pack that are often not canonical: floats, ext, bin and int keys."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=canonical.MIN_INT, max_value=canonical.MAX_INT)
        | st.floats(allow_nan=True)
        | st.binary(max_size=20)
        | st.text(max_size=10)
        | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8))
    )
    keys = st.text(max_size=6) | st.binary(max_size=6) | st.integers(-5, 5)
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=12,
    )


def mutated(data: st.DataObject, encoded: bytes) -> bytes:
    """``encoded`` with a few random edits: flips, overwrites, inserts, deletes, cuts, splices."""
    out = bytearray(encoded)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "splice"]))
        where = data.draw(st.integers(0, len(out)))
        if kind == "flip" and where < len(out):
            out[where] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and where < len(out):
            out[where] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            out[where:where] = data.draw(st.binary(min_size=1, max_size=9))
        elif kind == "delete":
            del out[where : where + data.draw(st.integers(1, 9))]
        elif kind == "cut":
            del out[where:]
        elif kind == "splice":
            out[where:where] = canonical.encode(data.draw(canonical_values(2)))
    return bytes(out)


@given(canonical_values(), st.data())
@settings(max_examples=600)
def test_decoder_fuzz_on_mutated_encodings(value: Value, data: st.DataObject) -> None:
    """Edited canonical encodings decode to a value that re-encodes exactly, or DecodeError."""
    blob = mutated(data, canonical.encode(value))
    try:
        decoded = canonical.decode(blob)
    except DecodeError:
        return
    assert canonical.encode(decoded) == blob


@given(msgpack_objects(), st.booleans())
@settings(max_examples=600)
def test_decoder_fuzz_on_non_canonical_msgpack(obj: object, bin_type: bool) -> None:
    """Any msgpack (floats, ext types, non-str keys, str as raw) is canonical or DecodeError."""
    blob = msgpack.packb(obj, use_bin_type=bin_type)
    try:
        decoded = canonical.decode(blob)
    except DecodeError:
        return
    assert canonical.encode(decoded) == blob


@pytest.mark.parametrize("header", [b"\x91", b"\x81\xa1a", b"\xdc\x00\x01"])
def test_deep_nesting_of_every_container_form_is_a_decode_error(header: bytes) -> None:
    """Arrays and maps nested past the bound or msgpack's stack raise DecodeError only."""
    for depth in (canonical.MAX_DEPTH + 1, 2000, 60000):
        with pytest.raises(DecodeError):
            canonical.decode(header * depth + b"\xc0")


def test_every_prefix_of_an_encoding_is_refused() -> None:
    """A truncated encoding never decodes (each proper prefix is DecodeError)."""
    blob = canonical.encode({"a": [1, b"xy", {"b": "é"}], "c": 2**40})
    for end in range(len(blob)):
        with pytest.raises(DecodeError):
            canonical.decode(blob[:end])


@pytest.mark.parametrize("data", [bytearray(b"\xc0"), memoryview(b"\xc0"), "\xc0", None, 7])
def test_non_bytes_input_is_a_decode_error(data: object) -> None:
    """Only ``bytes`` are decoded; other types raise DecodeError, not TypeError."""
    with pytest.raises(DecodeError):
        canonical.decode(data)  # type: ignore[arg-type]


# --- fuzzing the strict readers -------------------------------------------------------------


@given(canonical_values(3), st.integers(0, 70))
@settings(max_examples=400)
def test_readers_raise_only_validation_errors(value: Value, limit: int) -> None:
    """Every reader given any decoded value returns or raises ValidationError, nothing else."""
    readers = (
        lambda: canonical.expect_map(value, "$", ("a", "b")),
        lambda: canonical.expect_body(value, "$", ("v", "a"), 1),
        lambda: canonical.expect_int(value, "$", 0, limit),
        lambda: canonical.expect_str(value, "$", limit),
        lambda: canonical.expect_bytes(value, "$", limit),
        lambda: canonical.expect_list(value, "$", limit),
        lambda: canonical.check_name(value, "$", limit),
        lambda: canonical.expect_sorted_names(value, "$", 0, limit),
    )
    paths = []
    for read in readers:
        try:
            read()
        except ValidationError as error:
            paths.append(error.path)
    assert all(path.startswith("$") for path in paths)


# --- unknown keys never echoed --------------------------------------------------------------

EVIL_KEYS = {
    "newline": "zz\nlevel=error event=link.accepted peer=forged",
    "ansi": "zz\x1b[2J\x1b[31mred\x1b]0;title\x07",
    "ten-kilobytes": "zz" + "A" * 10_000,
    "name-like": "Maria de Vries",
    "lowercase-name": "devries",
    "email": "maria.devries@example.org",
    "path-like": "body.roles[0]",
}
MARKERS = {
    "newline": ["\n", "forged"],
    "ansi": ["\x1b", "red", "title"],
    "ten-kilobytes": ["AAAA"],
    "name-like": ["Maria", "Vries"],
    "lowercase-name": ["devries"],
    "email": ["maria", "example"],
    "path-like": ["roles[0]"],
}


def texts(error: ValidationError) -> str:
    """Every text an error exposes: str, repr, args, reason and path."""
    return "\x00".join([str(error), repr(error), *map(str, error.args), error.reason, error.path])


def assert_clean(error: ValidationError, name: str) -> None:
    """No part of the evil key ``name`` appears in the error; its path has the safe form."""
    text = texts(error)
    for marker in MARKERS[name]:
        assert marker not in text
    assert len(text) < 1000
    assert re.fullmatch(r"\$[a-z0-9_.\[\]]*\.<unknown #\d+>", error.path)


@pytest.mark.parametrize("name", list(EVIL_KEYS))
def test_unknown_key_is_reported_by_position_not_text(name: str) -> None:
    """expect_map names an unknown key by its position among the map's keys, never its text."""
    value: dict[str, Value] = {"a": 1, "b": 2, EVIL_KEYS[name]: 3}
    with pytest.raises(ValidationError) as caught:
        canonical.expect_map(canonical.decode(canonical.encode(value)), "$.body", ("a", "b"))
    assert caught.value.code is WireCode.INVALID_FIELD
    assert caught.value.reason == "unknown field"
    assert caught.value.path == f"$.body.<unknown #{sorted(value).index(EVIL_KEYS[name])}>"
    assert_clean(caught.value, name)


def test_position_is_the_wire_order_and_the_first_unknown_is_named() -> None:
    """The path gives the 0-based wire position of the first unknown key in a sorted map."""
    value = canonical.decode(canonical.encode({"v": 1, "aa": 0, "m": 0, "zz": 0}))
    with pytest.raises(ValidationError) as caught:
        canonical.expect_map(value, "$", ("m", "v"))
    assert caught.value.path == "$.<unknown #0>"
    with pytest.raises(ValidationError) as caught:
        canonical.expect_map(value, "$", ("aa", "m", "v"))
    assert caught.value.path == "$.<unknown #3>"
    assert canonical.unknown_field_path("$.body.target", 2) == "$.body.target.<unknown #2>"


def test_known_field_paths_are_unchanged() -> None:
    """Missing fields, wrong types and a newer version keep their named paths."""
    with pytest.raises(ValidationError) as caught:
        canonical.expect_map({"a": 1}, "$.body", ("a", "roles"))
    assert (caught.value.path, caught.value.reason) == ("$.body.roles", "missing field")
    with pytest.raises(ValidationError) as caught:
        canonical.expect_body({"v": 2, "zz\n": 1}, "$.body", ("v",), 1)
    assert (caught.value.code, caught.value.path) == (WireCode.UNSUPPORTED_VERSION, "$.body.v")
    with pytest.raises(ValidationError) as caught:
        canonical.expect_int("x", "$.body.issued_at", 0, 10)
    assert caught.value.path == "$.body.issued_at"


def with_extra_key(blob: bytes, key: str, inside_body: bool) -> bytes:
    """A signed object's encoding with ``key`` added to its envelope or its body.

    The key is cut to 3000 characters so that the object stays within its 4 KiB bound and is
    refused for the key, not for its size.
    """
    value = canonical.decode(blob, 1 << 16)
    assert isinstance(value, dict)
    target = value["body"] if inside_body else value
    assert isinstance(target, dict)
    target[key[:3000]] = 1
    return canonical.encode(value)


@pytest.mark.parametrize("inside_body", [False, True], ids=["envelope", "body"])
@pytest.mark.parametrize("name", list(EVIL_KEYS))
def test_signed_object_decoders_never_echo_an_unknown_key(name: str, inside_body: bool) -> None:
    """Credentials and charters from a peer with an evil key fail at a positional path."""
    for kind, blob in (
        (MembershipCredential, credential(LEA).encode()),
        (Charter, nl_charter().encode()),
    ):
        with pytest.raises(ValidationError) as caught:
            kind.decode(with_extra_key(blob, EVIL_KEYS[name], inside_body))
        assert caught.value.path.startswith("$.body.<unknown #" if inside_body else "$.<unknown #")
        assert_clean(caught.value, name)


@pytest.mark.parametrize("name", list(EVIL_KEYS))
def test_node_record_decoder_never_echoes_an_unknown_key(name: str) -> None:
    """A node record with an evil key in its body fails at ``$.body.<unknown #i>``."""
    blob = with_extra_key(signed_record().encode(), EVIL_KEYS[name], inside_body=True)
    with pytest.raises(ValidationError) as caught:
        SignedNodeRecord.decode(blob)
    assert caught.value.path.startswith("$.body.<unknown #")
    assert_clean(caught.value, name)
