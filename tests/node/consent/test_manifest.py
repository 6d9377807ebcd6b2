"""Tests for node/consent/manifest.py: validation with paths, canonical form and id, summary."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network import canonical
from node.consent.manifest import (
    KINDS,
    Manifest,
    check_manifest_id,
    manifest_id,
    parse_manifest,
    summarise,
)
from node.consent.problems import InvalidConsentError
from tests.node.consent.policy_helpers import LEA, NGO_A, NGO_B, manifest, manifest_document


def problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The (path, reason) of every problem ``parse_manifest`` finds in ``document``."""
    with pytest.raises(InvalidConsentError) as caught:
        parse_manifest(document)
    assert caught.value.code == "invalid_manifest"
    return [(p.path, p.reason) for p in caught.value.problems]


def paths(document: dict[str, Any]) -> list[str]:
    """The paths of every problem in ``document``."""
    return [path for path, _ in problems(document)]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_parses_and_round_trips(kind: str) -> None:
    """A valid manifest of each kind parses, and its mapping parses back to the same id."""
    parsed = manifest(kind)
    assert parsed.kind == kind
    again = parse_manifest(parsed.to_json())
    assert again == parsed
    assert again.id == parsed.id


def test_id_is_sha256_of_the_canonical_bytes() -> None:
    """The id is m- and the hex SHA-256 of the canonical msgpack of the mapping."""
    parsed = manifest()
    encoded = canonical.encode(parsed.to_json())
    assert parsed.encode() == encoded
    assert parsed.digest == hashlib.sha256(encoded).digest()
    assert parsed.id == "m-" + hashlib.sha256(encoded).hexdigest()
    assert manifest_id(manifest_document()) == parsed.id
    assert check_manifest_id(parsed.id) == parsed.id


def test_any_change_changes_the_id() -> None:
    """Changing the limit, a bound or the nonce gives another id."""
    base = manifest().id
    limit = manifest_document()
    limit["parameters"]["limit"] = 6
    bound = manifest_document()
    bound["inputs"][1]["bound"] = 5001
    nonce = manifest_document(nonce="f" * 32)
    assert len({base, *(parse_manifest(d).id for d in (limit, bound, nonce))}) == 4


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(KINDS))
def test_reordered_keys_and_sets_give_the_same_id(rng: Any, kind: str) -> None:
    """Shuffling map keys and the order of sets (inputs, columns, parties) keeps the id."""
    document = manifest_document(kind, compute_parties=[LEA, NGO_A, NGO_B])

    def shuffled(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rng.shuffle(items)
            return {k: shuffled(v, k) for k, v in items}
        if isinstance(value, list):
            items = [shuffled(v) for v in value]
            if key != "group_by":  # group_by is ordered: it fixes the result's layout
                rng.shuffle(items)
            return items
        return value

    assert parse_manifest(shuffled(copy.deepcopy(document))).id == parse_manifest(document).id


def test_decode_accepts_only_canonical_bytes() -> None:
    """Canonical bytes decode to the manifest; other bytes are refused with a path."""
    parsed = manifest("aggregate")
    assert Manifest.decode(parsed.encode()) == parsed
    with pytest.raises(InvalidConsentError):
        Manifest.decode(b"\xc1")
    unsorted = parsed.to_json()
    unsorted["compute_parties"] = list(reversed(parsed.compute_parties))
    with pytest.raises(InvalidConsentError) as caught:
        Manifest.decode(canonical.encode(unsorted))
    assert "canonical order" in caught.value.problems[0].reason


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"version": 2}, "$.version"),
        ({"kind": "join"}, "$.kind"),
        ({"extra": 1}, "$.extra"),
        ({"proposer": "cfd1nope"}, "$.proposer"),
        ({"purpose": "Victim Outreach"}, "$.purpose"),
        ({"data_space": ""}, "$.data_space"),
        ({"created_at": -1}, "$.created_at"),
        ({"expires_at": NotImplemented}, "$.expires_at"),
        ({"created_at": 10, "expires_at": 10}, "$.expires_at"),
        ({"nonce": "ABC"}, "$.nonce"),
        ({"compute_parties": [LEA, NGO_A]}, "$.compute_parties"),
        ({"compute_parties": [LEA, NGO_A, NGO_A]}, "$.compute_parties"),
        ({"compute_parties": [LEA, NGO_A, 7]}, "$.compute_parties[2]"),
        ({"recipients": []}, "$.recipients"),
        ({"recipients": "lea"}, "$.recipients"),
        ({"inputs": []}, "$.inputs"),
        ({"parameters": {"limit": 5}}, "$.parameters.reveal_size"),
        ({"parameters": {"limit": 0, "reveal_size": False}}, "$.parameters.limit"),
        ({"parameters": {"limit": 1001, "reveal_size": False}}, "$.parameters.limit"),
        ({"parameters": {"limit": 5, "reveal_size": 1}}, "$.parameters.reveal_size"),
        ({"parameters": {"limit": 5.0, "reveal_size": False}}, "$.parameters.limit"),
        ({"parameters": {"limit": 5, "reveal_size": False, "x": 1}}, "$.parameters.x"),
        ({"recipients": [NGO_A]}, "$.recipients"),
        ({"proposer": NGO_A, "recipients": [NGO_A], "inputs": []}, "$.inputs"),
    ],
)
def test_bad_fields_are_named_by_path(change: dict[str, Any], path: str) -> None:
    """Each bad or unknown field is reported at its exact JSON path."""
    assert path in paths(manifest_document(**change))


def test_bad_inputs_are_named_by_path() -> None:
    """Problems inside inputs name the input and the field."""
    document = manifest_document()
    document["inputs"][0]["bound"] = -1
    document["inputs"][1]["columns"] = ["name_dob", "name_dob"]
    document["inputs"][2]["colour"] = "red"
    document["inputs"].append({"provider": LEA, "dataset": "Bad Name", "columns": [], "bound": 1})
    found = paths(document)
    assert "$.inputs[0].bound" in found
    assert "$.inputs[1].columns" in found
    assert "$.inputs[2].colour" in found
    assert "$.inputs[3].dataset" in found
    assert "$.inputs[3].columns" in found


def test_repeated_input_is_refused() -> None:
    """The same dataset of the same provider twice is a problem."""
    document = manifest_document()
    document["inputs"].append(copy.deepcopy(document["inputs"][1]))
    assert "$.inputs" in paths(document)


def test_every_problem_is_reported_not_just_the_first() -> None:
    """Several mistakes are all listed, and the message counts them without quoting values."""
    document = manifest_document(kind="nothing", nonce="x", purpose="Bad Purpose", extra=True)
    with pytest.raises(InvalidConsentError) as caught:
        parse_manifest(document)
    found = [p.path for p in caught.value.problems]
    assert found == ["$.extra", "$.kind", "$.purpose", "$.nonce"]
    assert "4 problems" in caught.value.message
    assert "Bad Purpose" not in caught.value.message
    assert caught.value.details["errors"][0] == {"path": "$.extra", "reason": "unknown field"}


def test_not_a_mapping_is_refused() -> None:
    """A list instead of an object is one problem at $."""
    with pytest.raises(InvalidConsentError) as caught:
        parse_manifest([])  # type: ignore[arg-type]
    assert caught.value.problems[0].path == "$"


@pytest.mark.parametrize(
    ("parameters", "path"),
    [
        ({"statistic": "median"}, "$.parameters.statistic"),
        ({"statistic": "sum"}, "$.parameters.value_column"),
        ({"statistic": "count", "value_column": "region"}, "$.parameters.value_column"),
        ({"group_by": ["region", "region"]}, "$.parameters.group_by"),
        ({"group_by": ["a", "b", "c"]}, "$.parameters.group_by"),
        ({"group_by": ["age"]}, "$.parameters.group_by[0]"),
        ({"dedup_by": "passport"}, "$.parameters.dedup_by"),
        ({"min_group_size": 0}, "$.parameters.min_group_size"),
    ],
)
def test_aggregate_parameters(parameters: dict[str, Any], path: str) -> None:
    """Aggregate parameters are checked, including that their columns are in every input."""
    document = manifest_document("aggregate")
    document["parameters"].update(parameters)
    assert path in paths(document)


def test_aggregate_sum_with_a_value_column() -> None:
    """A sum over a column every input provides is valid."""
    document = manifest_document("aggregate")
    document["parameters"].update({"statistic": "sum", "value_column": "region"})
    assert parse_manifest(document).parameters["value_column"] == "region"


def test_intersection_has_one_recipient() -> None:
    """An intersection reveals identifiers to exactly one recipient."""
    assert "$.recipients" in paths(manifest_document("intersection", recipients=[LEA, NGO_A]))


def test_participants_and_inputs() -> None:
    """Providers and participants are sorted, each node once; input_of finds an input."""
    parsed = manifest()
    assert parsed.providers == tuple(sorted([LEA, NGO_A, NGO_B]))
    assert parsed.participants == parsed.providers
    found = parsed.input_of(NGO_A, "clients-2026")
    assert found is not None
    assert found.bound == 5000
    assert parsed.input_of(NGO_A, "suspects") is None


def test_bad_manifest_id_is_refused() -> None:
    """A manifest id that is not m- and 64 hex digits is refused."""
    with pytest.raises(InvalidConsentError):
        check_manifest_id("m-" + "g" * 64)


NAMES = {LEA: "the LEA", NGO_A: "NGO A", NGO_B: "NGO B"}


def test_summary_of_the_proof_of_concept() -> None:
    """The set-difference summary says whose lists are used and what the LEA learns."""
    text = summarise(manifest(), NAMES)
    assert "NGO A's list `clients-2026` (columns name_dob" in text
    assert "The LEA would learn up to 5 identifiers from its own list" in text
    assert "not the size of the difference" in text
    assert "purpose `victim-outreach`" in text
    assert "2027-01-16" in text


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("intersection_size", "the number of identifiers common to all the lists"),
        ("union_size", "the number of distinct identifiers"),
        ("intersection", "the identifiers common to all the lists themselves"),
        ("overlap_matrix", "counts below 10 suppressed"),
        ("aggregate", "the number of rows per `region` over all the lists, each `name_dob`"),
    ],
)
def test_summary_per_kind(kind: str, phrase: str) -> None:
    """Each kind's summary states what the recipients learn."""
    assert phrase in summarise(manifest(kind), NAMES)


def test_summary_without_names_shows_short_ids() -> None:
    """A node without a display name is shown by the start of its id, never a full key."""
    text = summarise(manifest())
    assert f"node {LEA[:12]}…" in text
    assert LEA not in text
