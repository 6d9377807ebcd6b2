"""Forged, tampered and replayed consent messages on the wire to node processes.

A rogue member (``tests.node.rogue``: invited by the governance, so its handshake is admitted)
speaks the consent wire to real ``confide run`` processes and signs what it likes. Each of its
messages is refused with its coded reason, the negotiation it targets ends as the protocol says,
and the refusal is in the node's audit log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from network.identity import SIGNATURE_SIZE, Identity
from node.consent import messages
from node.consent.manifest import parse_manifest
from node.documents import Invitation, from_text
from node.localspace import MONITORING, LocalDataSpace, LocalNode
from node.synthetic.config import proof_of_concept
from node.synthetic.generate import IDENTIFIER
from tests.node.e2e_helpers import running_space, wait_for
from tests.node.rogue import Rogue

pytestmark = pytest.mark.processes


def union_draft(space: LocalDataSpace, rogue: str) -> dict[str, Any]:
    """A union over the LEA's list and the rogue's, proposed by the LEA."""
    lea = space.nodes[0]
    return {
        "kind": "union_size",
        "parameters": {},
        "inputs": [
            {"provider": lea.node_id, "dataset": "lea", "columns": [IDENTIFIER], "bound": 200},
            {"provider": rogue, "dataset": "rogue", "columns": [IDENTIFIER], "bound": 200},
        ],
        "compute_parties": sorted(node.node_id for node in space.nodes),
        "recipients": ["self"],
        "purpose": MONITORING,
        "data_space": space.data_space,
    }


async def ended(node: LocalNode, manifest_id: str) -> dict[str, Any]:
    """The node's view once the computation's negotiation TERMINATED."""
    view: dict[str, Any] = await asyncio.to_thread(
        wait_for, node.client(), manifest_id, lambda v: v["state"] == "TERMINATED", 30
    )
    return view


async def rejections(node: LocalNode) -> list[dict[str, Any]]:
    """The details of every ``consent.rejected`` entry of ``node``'s audit log."""
    body = await asyncio.to_thread(node.client().get, "/audit")
    return [e["details"] for e in body["entries"] if e["event"] == "consent.rejected"]


@pytest.mark.asyncio
@pytest.mark.timeout(300)
async def test_tampered_replayed_and_forged_consent_messages_are_refused_with_their_codes(
    tmp_path: Path,
) -> None:
    """A decision tampered after signing: invalid_signature ends the proposal. The same
    decision replayed verbatim: illegal_transition, nothing changes. Replayed into another
    manifest: invalid_signature. A counter-signed bundle with a forged counter-signature sent
    to a provider: invalid_signature, and the provider ends its part with invalid_bundle."""
    with running_space(tmp_path / "space", proof_of_concept(100, seed=3)) as (space, _, _):
        lea, ngo_a, _ = space.nodes
        identity = Identity.generate()
        invited = await asyncio.to_thread(
            lea.client().post,
            f"/dataspaces/{space.data_space}/invitations",
            {"member": identity.node_id, "roles": ["ngo"]},
        )
        invitation = from_text(invited["invitation"])
        assert isinstance(invitation, Invitation)
        rogue = Rogue(identity, invitation.credential, [n.node_id for n in space.nodes])
        await rogue.start()
        try:
            await rogue.dial(lea)

            # a decision whose terms were changed after it was signed
            first = await asyncio.to_thread(
                lea.client().post, "/computations", union_draft(space, rogue.node_id)
            )
            request = await rogue.receive(lea.node_id)
            assert isinstance(request, messages.Request)
            assert request.manifest.id == first["manifest_id"]
            genuine = messages.sign_decision(
                identity,
                request.manifest.id,
                agreed=True,
                valid_until=request.manifest.expires_at,
                max_runs=1,
                now=int(time.time()),
            )
            await rogue.send(lea.node_id, dataclasses.replace(genuine, max_runs=1000))
            view = await ended(lea, first["manifest_id"])
            reasons = {n["provider"]: n["reason"] for n in view["negotiations"]}
            assert reasons[rogue.node_id] == "invalid_signature"
            assert view["agreement"] is None

            # the genuine decision replayed: for its own (ended) manifest, then for another
            second = await asyncio.to_thread(
                lea.client().post, "/computations", union_draft(space, rogue.node_id)
            )
            request = await rogue.receive(lea.node_id)
            assert isinstance(request, messages.Request)
            await rogue.send(lea.node_id, genuine)
            await wait_rejected(lea, "illegal_transition")
            waiting = await asyncio.to_thread(
                lea.client().get, f"/computations/{second['manifest_id']}"
            )
            assert waiting["state"] == "REQUESTED"
            await rogue.send(
                lea.node_id, dataclasses.replace(genuine, manifest_id=second["manifest_id"])
            )
            view = await ended(lea, second["manifest_id"])
            reasons = {n["provider"]: n["reason"] for n in view["negotiations"]}
            assert reasons[rogue.node_id] == "invalid_signature"

            # the rogue proposes to NGO A, then sends a bundle it never really counter-signed
            await rogue.dial(ngo_a)
            now = int(time.time())
            manifest = parse_manifest(
                {
                    "version": 1,
                    "kind": "union_size",
                    "parameters": {},
                    "inputs": [
                        {
                            "provider": ngo_a.node_id,
                            "dataset": "ngo-a",
                            "columns": [IDENTIFIER],
                            "bound": 200,
                        },
                        {
                            "provider": rogue.node_id,
                            "dataset": "rogue",
                            "columns": [IDENTIFIER],
                            "bound": 200,
                        },
                    ],
                    "compute_parties": sorted(node.node_id for node in space.nodes),
                    "recipients": [rogue.node_id],
                    "proposer": rogue.node_id,
                    "purpose": MONITORING,
                    "data_space": space.data_space,
                    "created_at": now,
                    "expires_at": now + 600,
                    "nonce": secrets.token_hex(16),
                }
            )
            await rogue.send(ngo_a.node_id, messages.Request(manifest))
            decision = await rogue.receive(ngo_a.node_id)
            assert isinstance(decision, messages.Decision)
            assert decision.outcome == messages.AGREED
            own = messages.sign_decision(
                identity,
                manifest.id,
                agreed=True,
                valid_until=manifest.expires_at,
                max_runs=1,
                now=now,
            )
            decisions = tuple(sorted((decision, own), key=lambda d: d.provider))
            signature = secrets.token_bytes(SIGNATURE_SIZE)
            forged = messages.Countersigned(manifest, decisions, signature)
            await rogue.send(ngo_a.node_id, forged)
            told = await rogue.receive(ngo_a.node_id)
            assert told == messages.Terminated(manifest.id, "invalid_bundle")
            view = await ended(ngo_a, manifest.id)
            assert view["negotiations"][0]["reason"] == "invalid_bundle"
            assert view["agreement"] is None
            assert "invalid_signature" in {r["code"] for r in await rejections(ngo_a)}
        finally:
            await rogue.aclose()


async def wait_rejected(node: LocalNode, code: str, timeout: float = 30.0) -> None:
    """Wait until ``node`` audited a ``consent.rejected`` with ``code``."""
    give_up = time.monotonic() + timeout
    while code not in {r["code"] for r in await rejections(node)}:
        assert time.monotonic() < give_up, f"no consent.rejected {code}"
        await asyncio.sleep(0.2)
