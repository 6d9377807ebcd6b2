"""Tests for node/consent/protocol.py: negotiations between 3 in-process nodes over real links."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from node.consent import messages
from node.consent.manifest import parse_manifest
from node.consent.negotiation import Role, State, Timeouts
from node.errors import ForbiddenError
from tests.node.consent.protocol_harness import (
    ALLOW,
    DENY,
    MANUAL,
    Node,
    eventually,
    manifest_for,
    restart_node,
    start_nodes,
    stop_nodes,
)

pytestmark = pytest.mark.asyncio


def own_state(node: Node, manifest_id: str) -> State | None:
    """The provider's own view of its negotiation, if any."""
    negotiation = node.agreements.get(manifest_id, node.node_id, Role.PROVIDER)
    return None if negotiation is None else negotiation.state


def audit_events(node: Node) -> list[str]:
    """Every audit event name of ``node``, oldest first."""
    rows = node.audit.connection.execute("SELECT event FROM audit_entries ORDER BY seq")
    return [str(row[0]) for row in rows]


async def test_all_agree_then_every_participant_holds_a_verified_agreement(tmp_path: Path) -> None:
    """Two providers agree; the proposer counter-signs; all three nodes verify and finalise."""
    nodes = await start_nodes(tmp_path, [ALLOW, ALLOW, ALLOW])
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        status = await lea.protocol.wait(manifest.id, 10)
        assert status.state is State.FINALIZED
        assert status.may_run
        assert own_state(ngo, manifest.id) is State.FINALIZED
        await eventually(lambda: care.agreements.agreement(manifest.id) is not None)
        for node in nodes:
            agreement = node.agreements.require_active(manifest.id, int(time.time()))
            assert len(agreement.bundle.decisions) == 2
            messages.check_bundle(agreement.bundle, lea.node_id, int(time.time()))
        ngo.protocol.authorize_run(manifest.id, "run-1")
        with pytest.raises(ForbiddenError) as caught:
            ngo.protocol.authorize_run(manifest.id, "run-2")
        assert caught.value.code == "runs_exhausted"
        assert "consent.agreed" in audit_events(ngo)
        assert "agreement.finalized" in audit_events(care)
        assert ("agreement.finalized", {"manifest_id": manifest.id}) in lea.events
    finally:
        await stop_nodes(nodes)


async def test_one_refusal_ends_the_proposal_for_everyone(tmp_path: Path) -> None:
    """A refusing provider's reason and constraint reach the proposer; the others are told."""
    nodes = await start_nodes(tmp_path, [ALLOW, DENY, MANUAL])
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo, care], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        status = await lea.protocol.wait(manifest.id, 10)
        assert status.state is State.TERMINATED
        by_provider = {n.provider: n for n in status.providers}
        assert by_provider[ngo.node_id].reason == "constraint_failed"
        assert by_provider[ngo.node_id].constraint == "$.permission.constraints[2]"
        assert by_provider[care.node_id].reason == "provider_refused"
        await eventually(lambda: own_state(care, manifest.id) is State.TERMINATED)
        await eventually(lambda: own_state(lea, manifest.id) is State.TERMINATED)
        assert lea.agreements.agreement(manifest.id) is None
    finally:
        await stop_nodes(nodes)


async def test_manual_approval_with_narrower_terms(tmp_path: Path) -> None:
    """A request waits for a person; approving with an earlier end finalises on those terms."""
    nodes = await start_nodes(tmp_path, [ALLOW, MANUAL, ALLOW])
    try:
        lea, ngo, care = nodes
        now = int(time.time())
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], now)
        lea.protocol.propose(manifest)
        await eventually(lambda: [n.manifest_id for n in ngo.protocol.pending()] == [manifest.id])
        await eventually(lambda: lea.protocol.status(manifest.id).state is State.PENDING_APPROVAL)
        assert ("approval.requested", {"manifest_id": manifest.id}) in ngo.events
        ngo.protocol.approve(manifest.id, valid_until=now + 600)
        status = await lea.protocol.wait(manifest.id, 10)
        assert status.state is State.FINALIZED
        agreement = lea.agreements.agreement(manifest.id)
        assert agreement is not None
        assert agreement.valid_until == now + 600
    finally:
        await stop_nodes(nodes)


async def test_person_refuses_a_pending_request(tmp_path: Path) -> None:
    """A person's refusal is signed and ends the proposal with its reason."""
    nodes = await start_nodes(tmp_path, [ALLOW, MANUAL, ALLOW])
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        await eventually(lambda: bool(ngo.protocol.pending()))
        ngo.protocol.refuse(manifest.id)
        status = await lea.protocol.wait(manifest.id, 10)
        assert status.ended is not None
        assert {n.provider: n.reason for n in status.providers}[ngo.node_id] == (
            "refused_by_approver"
        )
    finally:
        await stop_nodes(nodes)


async def test_approval_times_out(tmp_path: Path) -> None:
    """A request no one approves in time ends with approval_timeout, at both ends."""
    nodes = await start_nodes(tmp_path, [ALLOW, MANUAL, ALLOW], Timeouts(approval=1))
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        status = await lea.protocol.wait(manifest.id, 10)
        assert status.state is State.TERMINATED
        assert {n.provider: n.reason for n in status.providers}[ngo.node_id] == "approval_timeout"
        assert own_state(ngo, manifest.id) is State.TERMINATED
    finally:
        await stop_nodes(nodes)


async def test_a_request_pending_at_the_expiry_ends_with_approval_timeout(
    tmp_path: Path,
) -> None:
    """The manifest expires while one provider waits for a person and the others agreed: the
    pending provider's reason is approval_timeout everywhere, not a countersignature or
    decision timeout that fired at the same moment; the others were ended by it."""
    nodes = await start_nodes(tmp_path, [ALLOW, MANUAL, ALLOW])
    try:
        lea, ngo, care = nodes
        now = int(time.time())
        manifest = dataclasses.replace(
            manifest_for(lea, [lea, ngo, care], [lea, ngo, care], now), expires_at=now + 3
        )
        manifest = parse_manifest(manifest.to_json())
        lea.protocol.propose(manifest)
        status = await lea.protocol.wait(manifest.id, 15)
        assert status.state is State.TERMINATED
        assert {n.provider: n.reason for n in status.providers} == {
            ngo.node_id: "approval_timeout",
            lea.node_id: "provider_terminated",
            care.node_id: "provider_terminated",
        }
        await eventually(lambda: own_state(ngo, manifest.id) is State.TERMINATED)
        own = ngo.agreements.get(manifest.id, ngo.node_id, Role.PROVIDER)
        assert own is not None
        assert own.reason == "approval_timeout"
        await eventually(lambda: own_state(care, manifest.id) is State.TERMINATED)
        told = care.agreements.get(manifest.id, care.node_id, Role.PROVIDER)
        assert told is not None
        assert told.reason == "provider_terminated"
    finally:
        await stop_nodes(nodes)


async def test_deadline_is_rearmed_after_a_restart(tmp_path: Path) -> None:
    """A provider restarted with a pending request still expires it when its deadline passes."""
    nodes = await start_nodes(tmp_path, [ALLOW, MANUAL, ALLOW], Timeouts(approval=2))
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        await eventually(lambda: bool(ngo.protocol.pending()))
        await restart_node(ngo, [lea, care], Timeouts(approval=2))
        await eventually(lambda: own_state(ngo, manifest.id) is State.TERMINATED)
        status = await lea.protocol.wait(manifest.id, 10)
        assert status.state is State.TERMINATED
    finally:
        await stop_nodes(nodes)


async def test_retirement_mid_way_ends_the_proposal(tmp_path: Path) -> None:
    """A provider that agreed retires while another is pending: the proposal ends for all."""
    nodes = await start_nodes(tmp_path, [ALLOW, ALLOW, MANUAL])
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo, care], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        await eventually(lambda: own_state(ngo, manifest.id) is State.AGREED)
        await eventually(lambda: bool(care.protocol.pending()))
        ngo.protocol.retire(manifest.id)
        status = await lea.protocol.wait(manifest.id, 10)
        reasons = {n.provider: n.reason for n in status.providers}
        assert reasons[ngo.node_id] == "provider_retired"
        await eventually(lambda: own_state(care, manifest.id) is State.TERMINATED)
        assert care.protocol.pending() == []
    finally:
        await stop_nodes(nodes)


async def test_retirement_after_finalisation_refuses_runs_at_once(tmp_path: Path) -> None:
    """After retirement the provider refuses runs at once; other participants learn of it."""
    nodes = await start_nodes(tmp_path, [ALLOW, ALLOW, ALLOW])
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        await lea.protocol.wait(manifest.id, 10)
        await eventually(lambda: care.agreements.agreement(manifest.id) is not None)
        ngo.protocol.retire(manifest.id)
        with pytest.raises(ForbiddenError) as caught:
            ngo.protocol.authorize_run(manifest.id, "run-1")
        assert caught.value.code == "agreement_retired"
        for node in (lea, care):
            await eventually(
                lambda node=node: node.agreements.agreement(manifest.id).state == "retired"  # type: ignore[union-attr]
            )
        assert lea.protocol.status(manifest.id).state is State.TERMINATED
    finally:
        await stop_nodes(nodes)


async def test_forged_decision_is_refused_and_ends_the_proposal(tmp_path: Path) -> None:
    """A decision whose signature is not the provider's is never accepted."""
    nodes = await start_nodes(tmp_path, [ALLOW, MANUAL, ALLOW])
    try:
        lea, ngo, care = nodes
        now = int(time.time())
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], now)
        lea.protocol.propose(manifest)
        await eventually(lambda: bool(ngo.protocol.pending()))
        genuine = messages.sign_decision(
            care.identity, manifest.id, agreed=True, valid_until=now + 60, max_runs=1, now=now
        )
        forged = dataclasses.replace(genuine, provider=ngo.node_id)
        ngo.protocol.transport.post(lea.node_id, forged)
        status = await lea.protocol.wait(manifest.id, 10)
        assert {n.provider: n.reason for n in status.providers}[ngo.node_id] == "invalid_signature"
        assert lea.agreements.agreement(manifest.id) is None
        assert "consent.rejected" in audit_events(lea)
    finally:
        await stop_nodes(nodes)


async def test_replayed_and_foreign_decisions_are_refused(tmp_path: Path) -> None:
    """A decision replayed from another manifest, or sent by a non-provider, changes nothing."""
    nodes = await start_nodes(tmp_path, [ALLOW, ALLOW, ALLOW])
    try:
        lea, ngo, care = nodes
        first = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(first)
        await lea.protocol.wait(first.id, 10)
        old = next(d for d in lea.agreements.decisions(first.id) if d.provider == ngo.node_id)
        ngo.verdict[0] = MANUAL
        second = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(second)
        await eventually(lambda: bool(ngo.protocol.pending()))
        care.protocol.transport.post(lea.node_id, dataclasses.replace(old, manifest_id=second.id))
        ngo.protocol.transport.post(lea.node_id, old)  # the same decision again, first manifest
        rejected = 2
        await eventually(lambda: audit_events(lea).count("consent.rejected") == rejected)
        assert lea.protocol.status(first.id).state is State.FINALIZED
        assert lea.protocol.status(second.id).state is State.PENDING_APPROVAL
        ngo.protocol.transport.post(lea.node_id, dataclasses.replace(old, manifest_id=second.id))
        status = await lea.protocol.wait(second.id, 10)
        assert {n.provider: n.reason for n in status.providers}[ngo.node_id] == "invalid_signature"
    finally:
        await stop_nodes(nodes)
