"""Generated data spaces (node/synthetic/): determinism, overlaps, truth, CSVs that import."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from node.datasets import ColumnData, read_csv
from node.datasets.schema import parse_schema
from node.errors import InvalidError
from node.synthetic import (
    EXPLOITATION,
    REGIONS,
    OrganisationSpec,
    Synthetic,
    SyntheticConfig,
    generate,
    monitoring,
    proof_of_concept,
)
from tests.node.datasets.helpers import NOW, make_store


def test_same_seed_gives_the_same_bytes_and_truth() -> None:
    """Two runs with one seed agree byte for byte; another seed gives other data."""
    first, again = generate(monitoring(300, seed=7)), generate(monitoring(300, seed=7))
    other = generate(monitoring(300, seed=8))
    for a, b, c in zip(first.organisations, again.organisations, other.organisations, strict=True):
        assert a.csv == b.csv
        assert a.persons.tolist() == b.persons.tolist()
        assert a.hard.tolist() == b.hard.tolist()
        assert _same_columns(a.columns, b.columns)
        assert a.csv != c.csv


def _same_columns(a: dict[str, ColumnData], b: dict[str, ColumnData]) -> bool:
    """Columns equal: text by value, numbers by value and mask."""
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)


def _same(a: ColumnData, b: ColumnData) -> bool:
    """One column equal to another."""
    if isinstance(a, list) or isinstance(b, list):
        return a == b
    data = np.array_equal(np.ma.getdata(a), np.ma.getdata(b))
    return data and np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overlaps_and_duplicates_are_as_configured(seed: int) -> None:
    """Each list knows ``people`` people, ``overlap`` of them known earlier; rows add duplicates."""
    config = monitoring(2000, seed=seed)
    data = generate(config)
    earlier: set[int] = set()
    for spec, item in zip(config.organisations, data.organisations, strict=True):
        people = set(item.persons.tolist())
        assert len(people) == spec.people
        assert len(people & earlier) == round(spec.overlap * spec.people)
        assert item.rows == spec.people + round(spec.duplicates * spec.people)
        earlier |= people


def test_non_hard_rows_carry_their_persons_identifier() -> None:
    """A row without a hard variant stores its person's identifier; a hard row another one."""
    data = generate(monitoring(3000, seed=3))
    identifiers = np.array(data.population.identifiers, dtype=object)
    for item in data.organisations:
        stored = np.array(item.identifiers, dtype=object)
        expected = identifiers[item.persons]
        assert (stored[~item.hard] == expected[~item.hard]).all()
        assert (stored[item.hard] != expected[item.hard]).all()


def test_same_identifier_means_same_person_without_hard_variants() -> None:
    """With hard variants off, rows match across organisations exactly when the person does."""
    data = generate(dataclasses.replace(monitoring(2000, seed=4), hard=0.0))
    owner: dict[str, int] = {}
    for item in data.organisations:
        assert not item.hard.any()
        for identifier, person in zip(item.identifiers, item.persons.tolist(), strict=True):
            assert owner.setdefault(identifier, person) == person
    assert len(owner) == data.population.size


def test_hard_share_is_as_configured() -> None:
    """About ``hard`` of the rows carry a change normalisation cannot undo."""
    data = generate(monitoring(10_000, seed=5, hard=0.05))
    rows = sum(item.rows for item in data.organisations)
    hard = sum(int(item.hard.sum()) for item in data.organisations)
    assert 0.04 * rows < hard < 0.055 * rows


def test_noise_changes_the_cells_but_not_the_identifiers() -> None:
    """With noise 1, most name cells differ from the plain spelling yet all still match."""
    config = dataclasses.replace(proof_of_concept(500, seed=6), noise=1.0, hard=0.0)
    item = generate(config).organisation("ngo-b")
    table = read_csv(item.csv, parse_schema(item.schema))
    assert table.columns["name_dob"] == item.identifiers
    lines = item.csv.decode("utf-8").splitlines()[1:]
    plain = generate(dataclasses.replace(config, noise=0.0)).organisation("ngo-b")
    plain_lines = plain.csv.decode("utf-8").splitlines()[1:]
    changed = sum(a != b for a, b in zip(lines, plain_lines, strict=True))
    assert changed > 0.5 * len(lines)


def test_every_organisation_imports_through_the_dataset_store(tmp_path: Path) -> None:
    """Each CSV imports with its schema, and every stored column equals the ground truth."""
    data = generate(monitoring(400, seed=9))
    store, _ = make_store(tmp_path)
    for item in data.organisations:
        report = store.import_bytes(item.name, item.csv, now=NOW, schema=item.schema)
        assert report.dataset.row_count == item.rows
        assert report.dataset.skipped_rows == 0
        for name, expected in item.columns.items():
            loaded = store.load_column(item.name, name)
            if isinstance(expected, list):
                assert loaded == expected
            else:
                assert isinstance(loaded, np.ma.MaskedArray)
                assert loaded.tolist() == expected.tolist()
    assert _vocabulary(data, "exploitation_type") <= set(EXPLOITATION)
    assert _vocabulary(data, "region") <= {r.casefold() for r in REGIONS}


def _vocabulary(data: Synthetic, column: str) -> set[str]:
    """Every stored value of a category column across the organisations."""
    return set().union(*(set(item.columns[column]) for item in data.organisations))


def test_styles_show_in_the_bytes() -> None:
    """Separators, byte-order marks, line ends, headers and date formats follow each style."""
    data = generate(proof_of_concept(50, seed=1))
    lea, ngo_a, ngo_b = data.organisations
    assert not lea.csv.startswith(b"\xef\xbb\xbf")
    assert lea.csv.split(b"\r\n")[0].startswith(b"Dossiernummer;Achternaam;Voornaam")
    assert ngo_a.csv.startswith(b"\xef\xbb\xbfDossiernummer;Voornaam;Achternaam")
    assert ngo_a.schema["columns"][0]["from"][2] == {"source": "Geboortedatum", "format": "dmy"}
    assert b"\r\n" not in ngo_b.csv
    assert ngo_b.csv.startswith(b"Case number,Given name,Family name,Date of birth")
    assert ngo_b.schema["columns"][0]["from"][2]["format"] == "iso"


@pytest.mark.parametrize("people", [0, 1, 100_000])
def test_sizes_from_empty_to_a_hundred_thousand(people: int) -> None:
    """A list of 0, 1 or 100,000 people is generated whole; an empty one is a header only."""
    data = generate(SyntheticConfig((OrganisationSpec("lea", "lea", people),), seed=1))
    item = data.organisations[0]
    assert item.rows == people == len(item.identifiers)
    assert item.csv.count(b"\r\n") == people + 1


@pytest.mark.parametrize(
    "build",
    [
        lambda: SyntheticConfig((OrganisationSpec("lea", "lea", 5, overlap=0.5),)),
        lambda: SyntheticConfig(
            (OrganisationSpec("a", "ngo", 5), OrganisationSpec("a", "ngo", 5, 0.5))
        ),
        lambda: OrganisationSpec("Not Safe", "ngo", 5),
        lambda: OrganisationSpec("a", "ngo", -1),
        lambda: SyntheticConfig((OrganisationSpec("a", "ngo", 5),), hard=1.5),
        lambda: generate(
            SyntheticConfig(
                (OrganisationSpec("a", "ngo", 5), OrganisationSpec("b", "ngo", 10, 1.0))
            )
        ),
    ],
    ids=["first-overlaps", "same-name", "unsafe-name", "negative", "share", "overlap-too-big"],
)
def test_bad_configs_are_refused(build: object) -> None:
    """A config that cannot be generated is refused with one stable code."""
    with pytest.raises(InvalidError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.code in {"synthetic_config_invalid", "dataset_name_invalid"}
