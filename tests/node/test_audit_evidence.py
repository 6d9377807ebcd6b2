"""Tests for node/audit_evidence.py: export for one subject, offline verification."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from network.identity import Identity
from node.audit import DOMAIN_CHECKPOINT, AuditLog
from node.audit_evidence import (
    EvidenceError,
    build_evidence,
    export_evidence,
    verify_evidence,
)
from node.errors import ConflictError, NotFoundError
from node.store import open_store
from tests.node.audit_helpers import AGREEMENT, START, filled_log, tamper


def exported(tmp_path: Path) -> tuple[AuditLog, dict[str, Any]]:
    """A 14-entry log (checkpoints at 4, 8, 12) and the evidence for AGREEMENT, as JSON."""
    log = filled_log(tmp_path, entries=14)
    document = export_evidence(log, AGREEMENT, now=START + 100)
    return log, json.loads(json.dumps(document))


def test_export_names_subject_entries_and_redacts_the_rest(tmp_path: Path) -> None:
    """Entries naming the subject are in full, the others between them are redacted."""
    log, document = exported(tmp_path)
    entries = document["entries"]
    assert [item["seq"] for item in entries] == list(range(2, 15))
    full = [item["seq"] for item in entries if "details" in item]
    assert full == [2, 5, 8, 11, 14]
    redacted = next(item for item in entries if item["seq"] == 3)
    assert set(redacted) == {"seq", "prev_hash", "content_hash", "hash"}
    assert [c["seq"] for c in document["checkpoints"]] == [4, 8, 12, 14]
    assert document["node_id"] == log.node_id


def test_evidence_verifies_offline(tmp_path: Path) -> None:
    """A third party with only the document and the node id checks it."""
    log, document = exported(tmp_path)
    summary = verify_evidence(document, node_id=log.node_id)
    assert summary.entries == (2, 5, 8, 11, 14)
    assert (summary.checkpoint_seq, summary.checkpoint_time) == (14, START + 100)
    assert summary.to_json()["subject"] == AGREEMENT


def test_export_reuses_a_covering_checkpoint(tmp_path: Path) -> None:
    """When a checkpoint already covers the subject, export signs nothing new."""
    log = filled_log(tmp_path, entries=0)
    log.append("policy.created", {"policy_id": "pol-a"}, now=START)
    log.checkpoint(now=START + 1)
    log.append("policy.created", {"policy_id": "pol-b"}, now=START + 2)
    document = export_evidence(log, "pol-a", now=START + 3)
    assert [c["seq"] for c in document["checkpoints"]] == [1]
    assert [c.seq for c in log.checkpoints()] == [1]


def tampered(document: dict[str, Any], path: list[Any], value: object) -> dict[str, Any]:
    """A deep copy of ``document`` with the field at ``path`` set to ``value``."""
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (["entries", 0, "details", "decision"], "refused", "hash_mismatch"),
        (["entries", 0, "time"], 1, "hash_mismatch"),
        (["entries", 1, "content_hash"], "00" * 32, "hash_mismatch"),
        (["entries", 3, "details", "agreement_id"], "agr-0c21", "entry_does_not_name_subject"),
        (["entries", 3, "seq"], 99, "hash_mismatch"),
        (["checkpoints", 0, "time"], 0, "bad_checkpoint_signature"),
        (["checkpoints", 0, "hash"], "00" * 32, "does_not_match_chain"),
        (["checkpoints", 0, "signature"], "zz", "expected_hex"),
        (["public_key"], "00" * 32, "does_not_match_node_id"),
        (["v"], 2, "unsupported_format"),
        (["entries", 0, "extra"], 1, "unexpected_fields"),
    ],
)
def test_tampered_evidence_is_refused(
    tmp_path: Path, path: list[Any], value: object, reason: str
) -> None:
    """Any edited field fails verification with its path and a reason code."""
    log, document = exported(tmp_path)
    with pytest.raises(EvidenceError) as caught:
        verify_evidence(tampered(document, path, value), node_id=log.node_id)
    assert caught.value.details["reason"] == reason
    assert caught.value.code == "audit_evidence_invalid"


def test_removed_or_reordered_evidence_entries_are_refused(tmp_path: Path) -> None:
    """Dropping or swapping entries breaks contiguity or the chain."""
    log, document = exported(tmp_path)
    dropped = copy.deepcopy(document)
    del dropped["entries"][2]
    swapped = copy.deepcopy(document)
    swapped["entries"][1], swapped["entries"][2] = swapped["entries"][2], swapped["entries"][1]
    uncovered = copy.deepcopy(document)
    uncovered["checkpoints"].pop()
    for changed, reason in (
        (dropped, "entries_not_contiguous"),
        (swapped, "entries_not_contiguous"),
        (uncovered, "last_entry_not_covered"),
    ):
        with pytest.raises(EvidenceError) as caught:
            verify_evidence(changed, node_id=log.node_id)
        assert caught.value.details["reason"] == reason


def test_evidence_from_another_node_is_refused(tmp_path: Path) -> None:
    """Evidence re-signed by an intruder's key verifies only as the intruder's, not the node's."""
    log, document = exported(tmp_path)
    intruder = Identity.generate()
    forged = copy.deepcopy(document)
    forged["node_id"] = intruder.node_id
    forged["public_key"] = intruder.public_key.hex()
    for checkpoint in forged["checkpoints"]:
        checkpoint["node_id"] = intruder.node_id
        body = {
            "hash": bytes.fromhex(checkpoint["hash"]),
            "node_id": intruder.node_id,
            "seq": checkpoint["seq"],
            "time": checkpoint["time"],
            "v": 1,
        }
        checkpoint["signature"] = intruder.sign(DOMAIN_CHECKPOINT, body).hex()
    assert verify_evidence(forged).node_id == intruder.node_id
    with pytest.raises(EvidenceError, match="does not verify") as caught:
        verify_evidence(forged, node_id=log.node_id)
    assert caught.value.details == {"path": "$.node_id", "reason": "not_the_expected_node"}
    mixed = copy.deepcopy(document)
    mixed["checkpoints"][0] = forged["checkpoints"][0]
    with pytest.raises(EvidenceError) as caught:
        verify_evidence(mixed, node_id=log.node_id)
    assert caught.value.details["reason"] == "not_the_signer"


def test_export_refuses_unknown_subject_and_damaged_log(tmp_path: Path) -> None:
    """No entry names the subject: not found; the stretch is tampered: conflict."""
    log = filled_log(tmp_path, entries=14)
    with pytest.raises(NotFoundError):
        export_evidence(log, "agr-none", now=START)
    tamper(log.connection, "UPDATE audit_entries SET time = 1 WHERE seq = 3")
    with pytest.raises(ConflictError) as caught:
        export_evidence(log, AGREEMENT, now=START)
    assert caught.value.code == "audit_log_damaged"


def test_build_without_a_covering_checkpoint_is_refused(tmp_path: Path) -> None:
    """Reading evidence before any checkpoint covers it says so instead of exporting it."""
    log = AuditLog(open_store(tmp_path / "s.sqlite"), Identity.generate(), checkpoint_every=50)
    log.append("agreement.signed", {"agreement_id": AGREEMENT}, now=START)
    with pytest.raises(ConflictError) as caught:
        build_evidence(log.connection, log.node_id, AGREEMENT)
    assert caught.value.code == "audit_evidence_unsigned"
