"""Tests for node/audit_verify.py: every kind of tampering with the stored rows is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from network.identity import Identity
from node.audit_verify import Damage, verify_log
from tests.node.audit_helpers import START, filled_log, rehash, rehash_from, tamper


def findings(tmp_path: Path, *statements: str, entries: int = 12) -> list[tuple[str, int]]:
    """Fill a log, run the tampering statements, and return (kind, seq) of each finding."""
    log = filled_log(tmp_path, entries)
    tamper(log.connection, *statements)
    report = verify_log(log.connection, log.node_id)
    assert not report.ok
    return [(item.kind, item.seq) for item in report.damage]


def test_intact_log_verifies(tmp_path: Path) -> None:
    """An untouched log has no damage; counts and the newest checkpoint are reported."""
    log = filled_log(tmp_path, entries=10)
    report = verify_log(log.connection, log.node_id)
    assert report.ok
    assert (report.entries, report.last_seq, report.checkpoints) == (10, 10, 2)
    assert (report.last_checkpoint_seq, report.unsigned_entries) == (8, 2)
    assert report.to_json()["damage"] == []


def test_empty_log_verifies(tmp_path: Path) -> None:
    """A log with no entries is intact."""
    log = filled_log(tmp_path, entries=0)
    assert verify_log(log.connection, log.node_id).ok


def test_edited_content_is_named(tmp_path: Path) -> None:
    """An UPDATE of an entry's details without its hash is 'edited' at that seq."""
    edit = 'UPDATE audit_entries SET details = \'{"decision":"refused"}\' WHERE seq = 5'
    assert findings(tmp_path, edit) == [("edited", 5)]


@pytest.mark.parametrize(
    "change", ["event = 'consent.refused'", "time = 1", "actor = 'admin'", "prev_hash = x'00'"]
)
def test_every_hashed_column_is_protected(tmp_path: Path, change: str) -> None:
    """An UPDATE of event, time, actor or prev_hash is 'edited' at that seq."""
    assert findings(tmp_path, f"UPDATE audit_entries SET {change} WHERE seq = 3") == [("edited", 3)]


def test_malformed_details_are_named_edited(tmp_path: Path) -> None:
    """Details that are not JSON any more are an edit, not a crash."""
    edit = "UPDATE audit_entries SET details = 'not json' WHERE seq = 2"
    assert findings(tmp_path, edit) == [("edited", 2)]


def test_edit_with_recomputed_hash_is_named(tmp_path: Path) -> None:
    """An edit whose hash was recomputed breaks the link from the next entry."""
    log = filled_log(tmp_path)
    tamper(log.connection, "UPDATE audit_entries SET details = '{\"index\":6}' WHERE seq = 6")
    rehash(log.connection, 6)
    report = verify_log(log.connection, log.node_id)
    assert [(item.kind, item.seq, item.reason) for item in report.damage] == [
        ("edited", 6, "next_entry_does_not_link")
    ]


def test_edit_with_rewritten_chain_is_caught_by_checkpoint(tmp_path: Path) -> None:
    """Rewriting the whole chain after an edit still disagrees with the signed checkpoint."""
    log = filled_log(tmp_path)
    tamper(log.connection, "UPDATE audit_entries SET details = '{\"index\":6}' WHERE seq = 6")
    rehash_from(log.connection, 6)
    damage = verify_log(log.connection, log.node_id).damage
    assert damage == (
        Damage(8, "edited", "differs_from_signed_checkpoint", 4),
        Damage(12, "edited", "differs_from_signed_checkpoint", 4),
    )


def test_removed_entry_is_named(tmp_path: Path) -> None:
    """A DELETE in the middle leaves a gap reported as 'removed' at that seq."""
    assert findings(tmp_path, "DELETE FROM audit_entries WHERE seq = 7") == [("removed", 7)]


def test_removed_and_renumbered_is_named(tmp_path: Path) -> None:
    """A DELETE that renumbers the later rows to close the gap is still 'removed'."""
    found = findings(
        tmp_path,
        "DELETE FROM audit_entries WHERE seq = 7",
        "UPDATE audit_entries SET seq = -seq WHERE seq > 7",
        "UPDATE audit_entries SET seq = -seq - 1 WHERE seq < 0",
    )
    assert found == [("removed", 7)]


def test_reordered_entries_are_named(tmp_path: Path) -> None:
    """Two rows whose seq values were swapped are both 'reordered'."""
    found = findings(
        tmp_path,
        "UPDATE audit_entries SET seq = 100 WHERE seq = 3",
        "UPDATE audit_entries SET seq = 3 WHERE seq = 6",
        "UPDATE audit_entries SET seq = 6 WHERE seq = 100",
    )
    assert found == [("reordered", 3), ("reordered", 6)]


def test_adjacent_swap_is_reordered(tmp_path: Path) -> None:
    """Swapping neighbours is named too, with the seq each row was written at."""
    log = filled_log(tmp_path)
    tamper(
        log.connection,
        "UPDATE audit_entries SET seq = 100 WHERE seq = 9",
        "UPDATE audit_entries SET seq = 9 WHERE seq = 10",
        "UPDATE audit_entries SET seq = 10 WHERE seq = 100",
    )
    damage = verify_log(log.connection, log.node_id).damage
    assert [(item.kind, item.seq, item.related_seq) for item in damage] == [
        ("reordered", 9, 10),
        ("reordered", 10, 9),
    ]


def test_inserted_entry_is_named(tmp_path: Path) -> None:
    """A forged row slipped in (later rows renumbered) is 'inserted'; nothing else is blamed."""
    log = filled_log(tmp_path)
    connection = log.connection
    tamper(
        connection,
        "UPDATE audit_entries SET seq = -seq WHERE seq >= 5",
        "UPDATE audit_entries SET seq = -seq + 1 WHERE seq < 0",
        "INSERT INTO audit_entries SELECT 5, time, event, actor, '{\"forged\":true}', "
        "hash, x'00' FROM audit_entries WHERE seq = 4",
    )
    rehash(connection, 5)
    damage = verify_log(connection, log.node_id).damage
    assert [(item.kind, item.seq) for item in damage] == [("inserted", 5)]


def test_row_before_the_start_is_inserted(tmp_path: Path) -> None:
    """A row with seq 0 is not part of the chain."""
    found = findings(
        tmp_path,
        "INSERT INTO audit_entries SELECT 0, time, event, actor, details, prev_hash, hash "
        "FROM audit_entries WHERE seq = 1",
    )
    assert found == [("inserted", 0)]


def test_truncated_tail_is_named(tmp_path: Path) -> None:
    """Deleting the newest entries, signed by a checkpoint, is 'truncated_after_checkpoint'."""
    log = filled_log(tmp_path)
    tamper(log.connection, "DELETE FROM audit_entries WHERE seq > 9")
    report = verify_log(log.connection, log.node_id)
    assert [(item.kind, item.seq, item.related_seq) for item in report.damage] == [
        ("truncated_after_checkpoint", 10, 12)
    ]


def test_unsigned_tail_is_counted_not_flagged(tmp_path: Path) -> None:
    """Deleting entries after the newest checkpoint cannot be seen, but is counted as unsigned."""
    log = filled_log(tmp_path, entries=11)
    tamper(log.connection, "DELETE FROM audit_entries WHERE seq = 11")
    report = verify_log(log.connection, log.node_id)
    assert report.ok
    assert report.unsigned_entries == 2


@pytest.mark.parametrize(
    ("change", "seq"),
    [("time = time + 1", 4), ("hash = zeroblob(32)", 4), ("seq = 5", 5), ("signature = x'00'", 4)],
)
def test_edited_checkpoint_is_named(tmp_path: Path, change: str, seq: int) -> None:
    """A checkpoint whose time, hash, seq or signature was changed fails its signature."""
    found = findings(tmp_path, f"UPDATE audit_checkpoints SET {change} WHERE seq = 4")
    assert found == [("bad_checkpoint_signature", seq)]


def test_checkpoint_by_another_key_is_refused(tmp_path: Path) -> None:
    """A checkpoint re-signed by another key (its node id column changed too) does not count."""
    log = filled_log(tmp_path)
    intruder = Identity.generate()
    signature = intruder.sign(
        b"confide/v1/audit-checkpoint",
        {"hash": bytes(32), "node_id": intruder.node_id, "seq": 8, "time": START, "v": 1},
    )
    tamper(
        log.connection,
        "DELETE FROM audit_checkpoints WHERE seq = 8",
    )
    log.connection.execute(
        "INSERT INTO audit_checkpoints VALUES (8, ?, zeroblob(32), ?, ?)",
        (START, intruder.node_id, signature),
    )
    damage = verify_log(log.connection, log.node_id).damage
    assert [(item.kind, item.seq) for item in damage] == [("bad_checkpoint_signature", 8)]


TAMPERING = st.one_of(
    st.tuples(
        st.just("update"),
        st.integers(1, 12),
        st.sampled_from(["time = time + 7", "event = 'x.y'", "details = '{}'", "actor = 'admin'"]),
    ),
    st.tuples(st.just("delete"), st.integers(1, 12), st.just("")),
    st.tuples(st.just("swap"), st.integers(1, 12), st.integers(1, 12).map(str)),
)


@settings(max_examples=40, deadline=None)
@given(tampering=TAMPERING)
def test_any_tampering_of_a_signed_log_is_detected(
    tmp_path_factory: pytest.TempPathFactory, tampering: tuple[str, int, str]
) -> None:
    """Every single update, delete or swap of rows covered by a checkpoint is found."""
    kind, seq, argument = tampering
    log = filled_log(tmp_path_factory.mktemp("log"))
    if kind == "update":
        statements = [f"UPDATE audit_entries SET {argument} WHERE seq = {seq}"]
    elif kind == "delete":
        statements = [f"DELETE FROM audit_entries WHERE seq = {seq}"]
    else:
        other = int(argument)
        assume(other != seq)
        statements = [
            f"UPDATE audit_entries SET seq = 100 WHERE seq = {seq}",
            f"UPDATE audit_entries SET seq = {seq} WHERE seq = {other}",
            f"UPDATE audit_entries SET seq = {other} WHERE seq = 100",
        ]
    tamper(log.connection, *statements)
    report = verify_log(log.connection, log.node_id)
    assert not report.ok
    expected = {"update": "edited", "delete": "removed", "swap": "reordered"}[kind]
    if kind == "delete" and seq == 12:
        expected = "truncated_after_checkpoint"
    assert expected in {item.kind for item in report.damage}
