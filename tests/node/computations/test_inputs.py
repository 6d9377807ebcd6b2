"""A provider's input: distinct identifiers within the bound, and the run's encoding key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from network.identity import Identity
from node.audit import AuditLog
from node.computations.inputs import encoding_key, load_identifiers
from node.consent.manifest import ManifestInput
from node.datasets import DatasetStore
from node.errors import InvalidError
from node.store import open_store
from protocols.runner import Runner, make_contexts

SCHEMA = {
    "version": 1,
    "columns": [
        {"name": "name", "type": "identifier", "source": "Name"},
        {"name": "region", "type": "category", "source": "Region"},
    ],
}
CSV = "Name,Region\nJosé García,north\njose  garcia,south\nAnna Smit,east\n".encode()


def datasets(tmp_path: Path) -> DatasetStore:
    """A dataset store holding ``people`` (one identifier twice among 3 rows)."""
    connection = open_store(tmp_path / "store.sqlite")
    store = DatasetStore(connection, AuditLog(connection, Identity.generate()))
    store.import_bytes("people", CSV, now=1_700_000_000, schema=SCHEMA)
    return store


def item(bound: int, columns: tuple[str, ...] = ("name",)) -> ManifestInput:
    """This provider's input of ``people``."""
    return ManifestInput(Identity.generate().node_id, "people", columns, bound)


def test_identifiers_are_distinct_in_first_seen_order(tmp_path: Path) -> None:
    """Normalised duplicates count once, in first-seen order."""
    loaded = load_identifiers(datasets(tmp_path), item(2), "name", 1_700_000_100)
    assert loaded.identifiers == ("jose garcia", "anna smit")
    encoded = loaded.encoded(b"k" * 32)
    assert encoded.dtype == np.uint64
    assert encoded.size == 2
    assert not np.array_equal(encoded, loaded.encoded(b"j" * 32))


def test_more_identifiers_than_the_bound_are_refused(tmp_path: Path) -> None:
    """A list over its public bound is refused, not cut."""
    with pytest.raises(InvalidError) as error:
        load_identifiers(datasets(tmp_path), item(1), "name", 1_700_000_100)
    assert error.value.code == "input_over_bound"
    assert "jose" not in str(error.value)


def test_a_non_identifier_column_is_refused(tmp_path: Path) -> None:
    """Set computations read identifier columns only."""
    with pytest.raises(InvalidError) as error:
        load_identifiers(datasets(tmp_path), item(9), "region", 1_700_000_100)
    assert error.value.code == "column_not_identifier"


def test_encoding_key_reaches_the_holders_only() -> None:
    """The first holder draws the key; the other holders get it; a non-holder gets nothing."""

    contexts = make_contexts(3, n_external=1, seed=4)
    runner = Runner()
    holders = [0, 3]
    keys = runner.run([encoding_key(ctx, holders) for ctx in contexts])
    assert keys[0] == keys[3]
    assert keys[0] is not None
    assert len(keys[0]) == 32
    assert keys[1] is None
    assert keys[2] is None
    assert {d.receiver for d in runner.deliveries} == {3}
