"""Shared helpers for the policy tests: fixed nodes, manifest documents per kind, facts."""

from __future__ import annotations

import copy
from typing import Any

from network.identity import Identity
from node.consent.evaluate import Facts, Link
from node.consent.manifest import Manifest, parse_manifest
from node.consent.policy import Policy, parse_policy

NOW = 1_800_000_000
"""A fixed 'now' (Unix seconds, January 2027)."""
SPACE = "nl-human-trafficking"
LINKED = "be-human-trafficking"
OTHER = "de-human-trafficking"


def node(seed: int) -> str:
    """The node id of a fixed identity from a one-byte seed."""
    return Identity.from_private_bytes(bytes([seed]) * 32).node_id


LEA, NGO_A, NGO_B, CARE, BE_NGO, STRANGER = (node(seed) for seed in range(1, 7))

PARAMETERS: dict[str, dict[str, Any]] = {
    "set_difference": {"limit": 5, "reveal_size": False},
    "intersection_size": {},
    "union_size": {},
    "intersection": {},
    "overlap_matrix": {"min_group_size": 10},
    "aggregate": {
        "statistic": "count",
        "value_column": None,
        "group_by": ["region"],
        "dedup_by": "name_dob",
        "min_group_size": 10,
    },
}


def manifest_document(kind: str = "set_difference", **changes: Any) -> dict[str, Any]:
    """A valid manifest document: the LEA asks about NGO A's and NGO B's lists."""
    columns = ["name_dob", "region"] if kind == "aggregate" else ["name_dob"]
    document: dict[str, Any] = {
        "version": 1,
        "kind": kind,
        "parameters": copy.deepcopy(PARAMETERS.get(kind, {})),
        "inputs": [
            {"provider": LEA, "dataset": "suspects", "columns": columns, "bound": 2000},
            {"provider": NGO_A, "dataset": "clients-2026", "columns": columns, "bound": 5000},
            {"provider": NGO_B, "dataset": "clients", "columns": columns, "bound": 3000},
        ],
        "compute_parties": [LEA, NGO_A, NGO_B],
        "recipients": [LEA],
        "proposer": LEA,
        "purpose": "victim-outreach",
        "data_space": SPACE,
        "created_at": NOW - 60,
        "expires_at": NOW + 86400,
        "nonce": "0123456789abcdef0123456789abcdef",
    }
    document.update(changes)
    return document


def manifest(kind: str = "set_difference", **changes: Any) -> Manifest:
    """A parsed manifest (see :func:`manifest_document`)."""
    return parse_manifest(manifest_document(kind, **changes))


def policy(*constraints: dict[str, Any], **changes: Any) -> Policy:
    """A policy on NGO A's `clients-2026` permitting every kind, with ``constraints``."""
    document: dict[str, Any] = {
        "id": "pol-test",
        "dataset": "clients-2026",
        "permission": {
            "action": sorted(PARAMETERS),
            "constraints": list(constraints),
        },
        "approval": "auto",
    }
    document.update(changes)
    return parse_policy(document)


def facts(
    usage: int | None = 0, changed: dict[str, dict[str, frozenset[str]]] | None = None
) -> Facts:
    """Everyone in the Dutch data space with their role; BE_NGO only in the linked Belgian one."""
    roles: dict[str, dict[str, frozenset[str]]] = {
        LEA: {SPACE: frozenset({"lea"})},
        NGO_A: {SPACE: frozenset({"ngo"})},
        NGO_B: {SPACE: frozenset({"ngo"})},
        CARE: {SPACE: frozenset({"care"})},
        BE_NGO: {LINKED: frozenset({"ngo"})},
        STRANGER: {OTHER: frozenset({"ngo"})},
    }
    roles.update(changed or {})
    links = (
        Link(frozenset({SPACE, LINKED}), frozenset({"victim-outreach"})),
        Link(frozenset({SPACE, OTHER}), frozenset({"research"})),
    )
    counter = None if usage is None else (lambda _policy_id, _window: usage)
    return Facts(roles=roles, links=links, usage=counter)
