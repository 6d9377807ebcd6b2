"""Shared helpers for the negotiation tests: fixed identities and a valid manifest between them."""

from __future__ import annotations

import secrets

from network.identity import Identity
from node.consent.manifest import Manifest, parse_manifest

NOW = 1_800_000_000
"""A fixed 'now' (Unix seconds) for tests that do not use the clock."""


def identity(seed: int) -> Identity:
    """A fixed identity from a one-byte seed."""
    return Identity.from_private_bytes(bytes([seed]) * 32)


def make_manifest(
    proposer: Identity,
    providers: list[Identity],
    compute: list[Identity] | None = None,
    *,
    now: int = NOW,
    lifetime: int = 3600,
    nonce: str | None = None,
) -> Manifest:
    """A union_size manifest over one dataset per provider, computed by ``compute``."""
    parties = compute if compute is not None else providers
    document = {
        "version": 1,
        "kind": "union_size",
        "parameters": {},
        "inputs": [
            {"provider": p.node_id, "dataset": "clients", "columns": ["name_dob"], "bound": 100}
            for p in providers
        ],
        "compute_parties": [p.node_id for p in parties],
        "recipients": [proposer.node_id],
        "proposer": proposer.node_id,
        "purpose": "prevalence-monitoring",
        "data_space": "nl-human-trafficking",
        "created_at": now - 10,
        "expires_at": now + lifetime,
        "nonce": nonce or secrets.token_hex(16),
    }
    return parse_manifest(document)
