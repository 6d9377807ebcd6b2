"""The aggregate kind: whole party programs in memory against the plaintext oracle."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from network import canonical
from network.identity import Identity
from node import oracle
from node.computations.aggregating import TableInput, _pack, _unpack_vocabularies, value_bound
from node.computations.plan import party_program, plan_for
from node.consent.manifest import Manifest, parse_manifest
from node.errors import InvalidError
from protocols.errors import ProtocolAbortedError
from protocols.program import Context
from protocols.randomness import InsecureSeededRandomSource
from protocols.runner import Runner

TYPES = ("labour", "sexual")
REGIONS = ("north", "south", "west")


def manifest(providers: list[str], compute: list[str], statistic: str = "count") -> Manifest:
    """An aggregate by type and region over every provider's rows, deduplicated by name."""
    return parse_manifest(
        {
            "version": 1,
            "kind": "aggregate",
            "parameters": {
                "statistic": statistic,
                "value_column": None if statistic == "count" else "age",
                "group_by": ["type", "region"],
                "dedup_by": "name",
                "min_group_size": 2,
            },
            "inputs": [
                {
                    "provider": p,
                    "dataset": "people",
                    "columns": ["age", "name", "region", "type"],
                    "bound": 8,
                }
                for p in providers
            ],
            "compute_parties": compute,
            "recipients": [compute[0]],
            "proposer": compute[0],
            "purpose": "monitoring",
            "data_space": "test-space",
            "created_at": 1,
            "expires_at": 1 << 39,
            "nonce": "0" * 32,
        }
    )


def table(rows: list[tuple[str, str, str, int]], vocab: tuple[tuple[str, ...], ...]) -> TableInput:
    """A provider's rows (name, type, region, age) as the loader would build them."""
    groups = np.array(
        [[vocab[0].index(r[1]) for r in rows], [vocab[1].index(r[2]) for r in rows]],
        dtype=np.int64,
    ).reshape(2, len(rows))
    values = np.array([r[3] for r in rows], dtype=np.int64)
    return TableInput("people", "name", 8, tuple(r[0] for r in rows), groups, values, vocab)


DATA = {
    0: [
        ("anna", "labour", "north", 30),
        ("jose", "labour", "north", 40),
        ("lin", "sexual", "west", 20),
    ],
    1: [
        ("anna", "sexual", "south", 31),
        ("mia", "labour", "north", 50),
        ("yu", "labour", "north", 22),
    ],
    2: [
        ("jose", "labour", "north", 41),
        ("kai", "sexual", "west", 25),
        ("lin", "sexual", "west", 21),
    ],
}


def run(statistic: str, vocabularies: dict[int, tuple[tuple[str, ...], ...]] | None = None) -> Any:
    """Run every party's program; the recipient's result and the manifest's providers."""
    nodes = sorted(Identity.generate().node_id for _ in range(4))
    providers = nodes[:3]
    plan = plan_for(manifest(providers, nodes[:3], statistic))
    programs = []
    for index, node in enumerate(plan.parties):
        mine = None
        if node in providers:
            position = providers.index(node)
            vocab = (vocabularies or {}).get(position, (TYPES, REGIONS))
            mine = table(DATA[position], vocab)
        ctx = Context(
            index,
            plan.committee,
            InsecureSeededRandomSource(index),
            n_participants=len(plan.parties),
        )
        programs.append(party_program(ctx, plan, mine, lambda phase: None))
    results = Runner().run(programs)
    return results[plan.positions[plan.manifest.recipients[0]]]


def expected(statistic: str) -> dict[tuple[str, ...], int | None]:
    """The oracle's cells for DATA in manifest order (providers sorted by node id)."""
    tables = [
        {
            "name": [r[0] for r in DATA[p]],
            "type": [r[1] for r in DATA[p]],
            "region": [r[2] for r in DATA[p]],
            "age": np.ma.masked_array([r[3] for r in DATA[p]], dtype=np.int64),
        }
        for p in range(3)
    ]
    answer = oracle.aggregate(
        tables,
        statistic=statistic,
        value_column=None if statistic == "count" else "age",
        group_by=("type", "region"),
        dedup_by="name",
        min_group_size=2,
        vocabularies={"type": list(TYPES), "region": list(REGIONS)},
    )
    return dict(answer.cells)


@pytest.mark.parametrize("statistic", ["count", "sum", "mean"])
def test_dedup_two_group_by_matches_the_oracle(statistic: str) -> None:
    """Count, sum and mean by type and region, each person once, small cells hidden."""
    body = run(statistic)
    cells = {tuple(c["group"]): c["value"] for c in body["cells"]}
    assert cells == expected(statistic)
    assert body["scale"] == (100 if statistic == "mean" else 1)
    assert any(v is None for v in cells.values())


def test_a_provider_with_another_vocabulary_refuses() -> None:
    """A provider whose declared vocabulary differs stops the run with its code."""
    with pytest.raises(InvalidError) as error:
        run("count", {1: (TYPES, ("east", "north", "south"))})
    assert error.value.code == "vocabulary_mismatch"


def test_vocabularies_pack_into_field_elements_and_back() -> None:
    """Seven bytes per element round-trip; garbage is a malformed message."""
    vocab = (("a", "é"), ("x",))
    words = _pack(canonical.encode([list(v) for v in vocab]))
    assert int(words.max()) < 1 << 56
    assert _unpack_vocabularies(words, 0) == vocab
    with pytest.raises(ProtocolAbortedError):
        _unpack_vocabularies(np.array([1 << 60], dtype=np.uint64), 0)
    with pytest.raises(ProtocolAbortedError):
        _unpack_vocabularies(_pack(b"\x01"), 0)


def test_the_value_bound_is_derived_from_the_row_bounds() -> None:
    """Larger public row bounds leave a smaller (still positive) public value bound."""
    nodes = sorted(Identity.generate().node_id for _ in range(3))
    small = manifest(nodes, nodes, "mean")
    body = small.to_json()
    for item in body["inputs"]:
        item["bound"] = 1 << 32
    large = parse_manifest(body)
    assert value_bound(small) > value_bound(large) > 0
