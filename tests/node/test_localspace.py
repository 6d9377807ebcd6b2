"""The local data space's set-up without processes: members, homes, charter, policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.audit import AuditLog
from node.consent.policy import parse_policy
from node.dataspaces import DataSpaces
from node.errors import ConflictError
from node.home import Home
from node.localspace import (
    DATA_SPACE,
    LocalDataSpace,
    LocalSpaceError,
    default_members,
    standing_policies,
)
from node.store import open_store

NOW = 1_780_000_000


def test_default_members_start_with_the_lea_and_grow_with_ngos() -> None:
    """Three members are the PoC; more add a care provider, a municipality, then NGOs."""
    assert [m.slug for m in default_members(3)] == ["lea", "ngo-a", "ngo-b"]
    seven = default_members(7)
    assert [m.role for m in seven] == ["lea", "ngo", "ngo", "care", "municipality", "ngo", "ngo"]
    assert len({m.slug for m in seven}) == 7
    with pytest.raises(LocalSpaceError):
        default_members(0)


def test_create_makes_homes_and_the_governance_node_holds_every_credential(tmp_path: Path) -> None:
    """Every home is made on free ports; the LEA's charter knows all three members."""
    space = LocalDataSpace(tmp_path / "space", default_members(3))
    space.create(NOW)
    assert all(Home(node.home).config().peer.port == 0 for node in space.nodes)
    lea = Home(space.node("lea").home)
    connection = open_store(lea.store_path)
    try:
        identity = lea.identity()
        (summary,) = DataSpaces(connection, identity, audit=AuditLog(connection, identity)).summary(
            NOW
        )
    finally:
        connection.close()
    assert summary["data_space"] == DATA_SPACE
    assert summary["governance"] == [space.node("lea").node_id]
    assert summary["my_roles"] == ["lea"]
    assert summary["members_known"] == 3
    assert summary["purposes"] == ["prevalence-monitoring", "victim-outreach"]
    assert space.node_ids() == {node.member.slug: node.node_id for node in space.nodes}
    assert len(set(space.node_ids().values())) == 3


def test_create_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    """An existing, non-empty root is never touched."""
    (tmp_path / "space").mkdir()
    (tmp_path / "space" / "keep.txt").write_text("mine")
    with pytest.raises(ConflictError):
        LocalDataSpace(tmp_path / "space").create(NOW)
    assert (tmp_path / "space" / "keep.txt").read_text() == "mine"


def test_start_before_create_is_refused(tmp_path: Path) -> None:
    """Nothing is started from a data space that was never created."""
    with pytest.raises(LocalSpaceError) as raised:
        LocalDataSpace(tmp_path / "space").start(NOW)
    assert raised.value.code == "not_created"


def test_standing_policies_validate() -> None:
    """Both standing policies pass the policy format's validation."""
    for document in standing_policies("ngo-a", ["lea", "ngo"]):
        policy = parse_policy(document)
        assert policy.dataset == "ngo-a"
        assert policy.approval == "auto"
