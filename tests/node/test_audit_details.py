"""Tests for node/audit_details.py: the guard that keeps secrets and free text out of the log."""

from __future__ import annotations

import pytest

from node.audit_details import check_details
from node.errors import InvalidError

AGREEMENT = "agr-" + "ab" * 16
MANIFEST_HASH = "cd" * 32


@pytest.mark.parametrize(
    ("details", "path", "reason"),
    [
        ({"name": "José García"}, "$.name", "not_an_id_hash_count_or_code"),
        ({"admin_token": "abc"}, "$.admin_token", "key_names_a_secret"),
        ({"private_key_hex": "ab"}, "$.private_key_hex", "key_names_a_secret"),
        ({"share": 5}, "$.share", "key_names_a_secret"),
        ({"raw_identifier": "x"}, "$.raw_identifier", "key_names_a_secret"),
        ({"score": 0.5}, "$.score", "type_float_not_allowed"),
        ({"hash": b"\x00" * 32}, "$.hash", "type_bytes_not_allowed"),
        ({"Bad-Key": 1}, "$", "key_not_snake_case"),
        ({"ids": ["ok", "not ok"]}, "$.ids[1]", "not_an_id_hash_count_or_code"),
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, "$.a.b.c.d.e", "nested_too_deeply"),
        ({"count": 1 << 64}, "$.count", "integer_out_of_range"),
        ({"ids": ["a"] * 300}, "$.ids", "too_many_items"),
    ],
)
def test_details_that_could_leak_are_rejected(
    details: dict[str, object], path: str, reason: str
) -> None:
    """Free text, secrets, floats, bytes and oversized values are refused, by path only."""
    with pytest.raises(InvalidError) as caught:
        check_details(details)
    assert caught.value.code == "audit_details_rejected"
    assert caught.value.details == {"path": path, "reason": reason}
    assert "José" not in str(caught.value)


def test_details_too_large_are_rejected() -> None:
    """A details map whose encoding exceeds the limit is refused as a whole."""
    details = {f"k{i}": "x" * 200 for i in range(60)}
    with pytest.raises(InvalidError, match="ids, hashes, counts"):
        check_details(details)


def test_ordinary_details_pass_unchanged() -> None:
    """Ids, hex hashes, counts, reason codes, JSON paths and times are accepted as given."""
    details = {
        "agreement_id": AGREEMENT,
        "manifest_hash": MANIFEST_HASH,
        "rows": 1200,
        "approved": True,
        "reason": "constraint_failed",
        "constraint_path": "$.permission.constraints[3]",
        "valid_until": "2027-01-01T00:00:00Z",
        "providers": ["cfd1abc", "cfd1def"],
        "share_count": 3,
        "note": None,
    }
    assert check_details(details) == details
