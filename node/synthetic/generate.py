"""Generate the organisations' lists: who knows whom, how each wrote it down, and the truth.

:func:`generate` draws, from one seed and without any I/O:

1. who each organisation knows (``config.py``: overlap with the organisations before it), plus
   re-registrations of the same person (``duplicates``), in a shuffled file order;
2. each row as the organisation wrote it: names in a soft spelling (``names.py``) with
   probability ``noise``, stray spaces around cells, family names in capitals where the style
   says so, dates in the style's format, categories in any case; a share ``hard`` of rows
   carries one change normalisation cannot undo;
3. the CSV bytes of each organisation (its separator, BOM and line ends), the schema that
   imports it (``node.datasets``), and the ground truth: the person behind each row, whether
   the row is a hard variant, and every stored column exactly as ``DatasetStore.load_column``
   will return it after the import.

Everything is vectorised over rows (numpy index arithmetic, object-array string
concatenation), so 100,000 rows per organisation take a fraction of a second.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from node.datasets.columns import ColumnData, numbers
from node.datasets.schema import fold_category
from node.errors import InvalidError
from node.identifiers import normalise
from node.synthetic.config import DateStyle, OrganisationSpec, SyntheticConfig
from node.synthetic.names import Pool, pool
from node.synthetic.population import (
    AGE_BANDS,
    EXPLOITATION,
    NATIONALITIES,
    REGIONS,
    Population,
    age_at,
    age_band,
    draw_population,
    iso_dates,
)

IDENTIFIER = "name_dob"
"""The stored composite identifier column: given name, family name, date of birth."""
MAX_AGE = 120
_HEADERS = {
    "nl": ("Dossiernummer", "Voornaam", "Achternaam", "Geboortedatum", "Nationaliteit",
           "Soort uitbuiting", "Regio", "Leeftijdscategorie", "Jaar van registratie", "Leeftijd"),
    "en": ("Case number", "Given name", "Family name", "Date of birth", "Nationality",
           "Exploitation type", "Region", "Age band", "Year registered", "Age"),
}  # fmt: skip
_CATEGORY_COLUMNS = ("nationality", "exploitation_type", "region", "age_band", "registration_year")


@dataclass(frozen=True)
class OrganisationData:
    """One organisation's generated export and its ground truth (arrays in file row order).

    ``persons[r]`` is the population index of row ``r``'s person; ``hard[r]`` whether the row's
    identifier differs from that person's; ``columns`` every stored column as
    ``DatasetStore.load_column`` returns it after importing ``csv`` with ``schema``.
    """

    spec: OrganisationSpec
    csv: bytes
    schema: dict[str, Any]
    persons: npt.NDArray[np.int64]
    hard: npt.NDArray[np.bool_]
    columns: dict[str, ColumnData]

    @property
    def name(self) -> str:
        """The dataset name (the organisation's spec name)."""
        return self.spec.name

    @property
    def delimiter(self) -> str:
        """The separator of ``csv``."""
        return self.spec.style.delimiter

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return int(self.persons.size)

    @property
    def identifiers(self) -> list[str]:
        """The stored identifier column (``name_dob``), one per row."""
        values = self.columns[IDENTIFIER]
        assert isinstance(values, list)
        return values

    @property
    def person_keys(self) -> list[str]:
        """One key per row naming its true person (``p<index>``): the oracle's input for the
        answer normalisation would give if it reconciled every spelling."""
        return [f"p{index}" for index in self.persons.tolist()]


@dataclass(frozen=True)
class Synthetic:
    """A generated data space: its config, the people, and each organisation's data."""

    config: SyntheticConfig
    population: Population
    organisations: tuple[OrganisationData, ...]

    def organisation(self, name: str) -> OrganisationData:
        """The organisation called ``name`` (``KeyError`` if none)."""
        for item in self.organisations:
            if item.name == name:
                return item
        raise KeyError(name)


def generate(config: SyntheticConfig) -> Synthetic:
    """The whole data space of ``config``, deterministic in ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    shared = [round(o.overlap * o.people) for o in config.organisations]
    fresh = [o.people - s for o, s in zip(config.organisations, shared, strict=True)]
    population = draw_population(rng, sum(fresh), config.first_year, config.last_year)
    known = np.empty(0, dtype=np.int64)
    next_fresh = 0
    result = []
    for spec, from_known, new in zip(config.organisations, shared, fresh, strict=True):
        if from_known > known.size:
            raise InvalidError(
                "synthetic_config_invalid",
                f"organisation {spec.name!r} overlaps with more people than the earlier "
                "organisations know",
            )
        members = np.concatenate(
            [
                rng.choice(known, size=from_known, replace=False),
                np.arange(next_fresh, next_fresh + new, dtype=np.int64),
            ]
        )
        next_fresh += new
        known = np.union1d(known, members)
        extra = round(spec.duplicates * spec.people) if spec.people else 0
        persons = np.concatenate([members, rng.choice(members, size=extra)]) if extra else members
        persons = rng.permutation(persons).astype(np.int64)
        result.append(_organisation(rng, config, spec, population, persons))
    return Synthetic(config, population, tuple(result))


def _organisation(
    rng: np.random.Generator,
    config: SyntheticConfig,
    spec: OrganisationSpec,
    people: Population,
    persons: npt.NDArray[np.int64],
) -> OrganisationData:
    """The rows of one organisation for the people ``persons`` (one row each, in order)."""
    n = persons.size
    style = spec.style
    given_pool, family_pool = pool("given"), pool("family")
    given_text, given_norm = _soft(rng, given_pool, people.given[persons], config.noise)
    family_text, family_norm = _soft(rng, family_pool, people.family[persons], config.noise)
    dob = people.dob[persons].copy()
    hard_kind = np.where(rng.random(n) < config.hard, rng.integers(0, 4, size=n), -1)
    _hard_names(rng, given_pool, people.given[persons], hard_kind == 0, given_text, given_norm)
    _hard_names(rng, family_pool, people.family[persons], hard_kind == 1, family_text, family_norm)
    swap = hard_kind == 2
    given_text[swap], family_text[swap] = family_text[swap], given_text[swap].copy()
    given_norm[swap], family_norm[swap] = family_norm[swap], given_norm[swap].copy()
    dob[hard_kind == 3] = _slipped_dates(dob[hard_kind == 3])
    if style.family_caps:
        family_text = np.array([text.upper() for text in family_text], dtype=object)
    given_text = _stray_spaces(rng, given_text, config.noise / 4)
    family_text = _stray_spaces(rng, family_text, config.noise / 4)
    identifiers = given_norm + "|" + family_norm + "|" + iso_dates(dob)
    canonical = np.array(people.identifiers, dtype=object)[persons]
    hard = np.asarray(identifiers != canonical, dtype=bool) if n else np.zeros(0, dtype=bool)

    exploitation = people.exploitation[persons].copy()
    differs = rng.random(n) < config.disagreement
    exploitation[differs] = (
        exploitation[differs] + rng.integers(1, 4, size=int(differs.sum()))
    ) % 4
    years = np.minimum(
        people.first_year[persons] + rng.integers(0, 3, size=n), config.last_year
    ).astype(np.int64)
    ages = np.minimum(age_at(people.dob[persons], years), MAX_AGE)
    year_names = tuple(str(y) for y in range(config.first_year, config.last_year + 1))
    categories = {
        "nationality": (NATIONALITIES, people.nationality[persons]),
        "exploitation_type": (EXPLOITATION, exploitation),
        "region": (REGIONS, people.region[persons]),
        "age_band": (AGE_BANDS, age_band(ages)),
        "registration_year": (year_names, years - config.first_year),
    }
    category_text = {
        name: _category_cells(rng, vocabulary, codes, config.noise / 3)
        for name, (vocabulary, codes) in categories.items()
    }
    columns: dict[str, ColumnData] = {IDENTIFIER: identifiers.tolist()}
    for name, (vocabulary, codes) in categories.items():
        folded = np.array([fold_category(v) for v in vocabulary], dtype=object)
        columns[name] = folded[codes].tolist()
    columns["age"] = numbers(ages.tolist(), None)

    case_numbers = [f"{spec.name.upper()}-{i:06d}" for i in range(1, n + 1)]
    given_cells, family_cells = given_text.tolist(), family_text.tolist()
    names_in_order = (
        (family_cells, given_cells) if style.family_first else (given_cells, family_cells)
    )
    cells: list[Sequence[Any]] = [
        case_numbers,
        *names_in_order,
        _format_dates(dob, style.dates),
        *(category_text[name] for name in _CATEGORY_COLUMNS),
        ages.tolist(),
    ]
    headers = list(_HEADERS[style.language])
    if style.family_first:
        headers[1], headers[2] = headers[2], headers[1]
    return OrganisationData(
        spec=spec,
        csv=_csv_bytes(headers, cells, spec),
        schema=schema_for(spec, year_names),
        persons=persons,
        hard=hard,
        columns=columns,
    )


def _soft(
    rng: np.random.Generator, names: Pool, index: npt.NDArray[np.int64], noise: float
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Cells for names ``index``: a random soft spelling with probability ``noise``; and the
    matching form of each (the same for every soft spelling)."""
    flat = np.array([s for spellings in names.soft for s in spellings], dtype=object)
    counts = np.array([len(s) for s in names.soft], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    noisy = rng.random(index.size) < noise
    pick = 1 + np.floor(rng.random(index.size) * (counts[index] - 1)).astype(np.int64)
    choice = offsets[index] + np.where(noisy & (counts[index] > 1), pick, 0)
    matching = np.array(names.matching, dtype=object)
    return flat[choice], matching[index]


def _hard_names(
    rng: np.random.Generator,
    names: Pool,
    index: npt.NDArray[np.int64],
    where: npt.NDArray[np.bool_],
    text: npt.NDArray[np.object_],
    norm: npt.NDArray[np.object_],
) -> None:
    """Replace the cells at ``where`` by a random hard spelling of their name (in place)."""
    if not where.any():
        return
    flat = [h for spellings in names.hard for h in spellings]
    counts = np.array([len(h) for h in names.hard], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    chosen = index[where]
    pick = offsets[chosen] + np.floor(rng.random(chosen.size) * counts[chosen]).astype(np.int64)
    spelled = np.array(flat, dtype=object)[pick]
    text[where] = spelled
    norm[where] = np.array([normalise(s) for s in spelled], dtype=object)


def _slipped_dates(dob: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Day and month swapped where that is another date, else the year one off."""
    dates = dob.astype("datetime64[D]")
    years = dates.astype("datetime64[Y]")
    months = (dates.astype("datetime64[M]") - years.astype("datetime64[M]")).astype(np.int64) + 1
    days = (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    swappable = (days <= 12) & (days != months)
    swapped = (years.astype("datetime64[M]") + (days - 1).astype("timedelta64[M]")).astype(
        "datetime64[D]"
    ) + (months - 1).astype("timedelta64[D]")
    return np.where(swappable, swapped.astype(np.int64), dob + 365).astype(np.int64)


def _stray_spaces(
    rng: np.random.Generator, text: npt.NDArray[np.object_], share: float
) -> npt.NDArray[np.object_]:
    """A leading or trailing space on a share of the cells (what copying from forms leaves)."""
    pads = np.array(["", " "], dtype=object)
    before = pads[(rng.random(text.size) < share / 2).astype(np.int64)]
    after = pads[(rng.random(text.size) < share / 2).astype(np.int64)]
    return before + text + after if text.size else text


def _category_cells(
    rng: np.random.Generator, vocabulary: Sequence[str], codes: npt.NDArray[np.int64], share: float
) -> list[str]:
    """Category cells: the value as written, or in capitals, lower case or padded (a share)."""
    forms = np.array(
        [[v, v.upper(), v.lower(), f" {v} "] for v in vocabulary], dtype=object
    ).reshape(len(vocabulary), 4)
    variant = np.where(rng.random(codes.size) < share, rng.integers(1, 4, size=codes.size), 0)
    return list(forms[codes, variant].tolist())


def _format_dates(days: npt.NDArray[np.int64], style: DateStyle) -> list[str]:
    """Dates in ``style`` (one format per distinct day, then looked up)."""
    unique, inverse = np.unique(days, return_inverse=True)
    iso = iso_dates(unique)
    if style == "iso":
        formatted = iso
    else:
        separator = {"dd-mm-yyyy": "-", "d-m-yyyy": "-", "dd/mm/yyyy": "/", "dd.mm.yyyy": "."}
        sep = separator[style]
        if style == "d-m-yyyy":
            parts = [f"{int(d[8:])}{sep}{int(d[5:7])}{sep}{d[:4]}" for d in iso]
        else:
            parts = [f"{d[8:]}{sep}{d[5:7]}{sep}{d[:4]}" for d in iso]
        formatted = np.array(parts, dtype=object)
    return list(formatted[inverse].tolist()) if days.size else []


def _csv_bytes(headers: list[str], cells: list[Sequence[Any]], spec: OrganisationSpec) -> bytes:
    """The export: the style's separator, line ends and byte-order mark (RFC 4180 quoting)."""
    out = io.StringIO(newline="")
    writer = csv.writer(
        out, delimiter=spec.style.delimiter, lineterminator="\r\n" if spec.style.crlf else "\n"
    )
    writer.writerow(headers)
    writer.writerows(zip(*cells, strict=True))
    body = out.getvalue().encode("utf-8")
    return b"\xef\xbb\xbf" + body if spec.style.bom else body


def schema_for(spec: OrganisationSpec, year_names: Sequence[str]) -> dict[str, Any]:
    """The import schema (JSON form) of ``spec``'s export: same stored columns for everyone."""
    header = dict(zip(("case", "given", "family", "dob", *_CATEGORY_COLUMNS, "age"),
                      _HEADERS[spec.style.language], strict=True))  # fmt: skip
    date_format = "iso" if spec.style.dates == "iso" else "dmy"
    vocabularies = {
        "nationality": NATIONALITIES,
        "exploitation_type": EXPLOITATION,
        "region": REGIONS,
        "age_band": AGE_BANDS,
        "registration_year": tuple(year_names),
    }
    columns: list[dict[str, Any]] = [
        {
            "name": IDENTIFIER,
            "type": "identifier",
            "from": [
                header["given"],
                header["family"],
                {"source": header["dob"], "format": date_format},
            ],
        }
    ]
    columns += [
        {"name": name, "type": "category", "source": header[name], "values": list(values)}
        for name, values in vocabularies.items()
    ]
    columns.append(
        {"name": "age", "type": "integer", "source": header["age"], "min": 0, "max": MAX_AGE}
    )
    return {"version": 1, "columns": columns}
