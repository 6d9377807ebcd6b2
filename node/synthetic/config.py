"""What to generate: the organisations, how their lists overlap, how each writes its CSV.

Overlap is set per organisation as a share of its people: organisations are drawn in order, and
``overlap`` of the ``people`` of organisation *i* are drawn from those already known to
organisations 0 … i − 1, the rest are people no earlier organisation knows. So with an LEA first,
``overlap=0.6`` on an NGO means 60 % of the NGO's clients are also on the LEA's list (or an
earlier NGO's). The first organisation's overlap must be 0.

A :class:`CsvStyle` is how one organisation exports: headers in Dutch or English, given or
family name first, separator, byte-order mark and line ends (Excel on Dutch Windows writes
``;``, a BOM and CRLF), date format, family names in capitals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from node.datasets.schema import check_name
from node.errors import InvalidError

Kind = Literal["lea", "ngo", "care", "municipality"]
DateStyle = Literal["iso", "dd-mm-yyyy", "d-m-yyyy", "dd/mm/yyyy", "dd.mm.yyyy"]
MAX_PEOPLE = 1_000_000


@dataclass(frozen=True)
class CsvStyle:
    """How one organisation writes its export."""

    language: Literal["nl", "en"] = "nl"
    delimiter: Literal[";", ",", "\t"] = ";"
    bom: bool = True
    crlf: bool = True
    dates: DateStyle = "dd-mm-yyyy"
    family_first: bool = False
    family_caps: bool = False


EXCEL_NL = CsvStyle()
"""Excel on a Dutch desktop: ``;``, BOM, CRLF, ``dd-mm-yyyy``, Dutch headers."""
POLICE_EXPORT = CsvStyle(
    language="nl", delimiter=";", bom=False, crlf=True, dates="iso", family_first=True,
    family_caps=True,
)  # fmt: skip
"""A case-management export: family name first and in capitals, ISO dates."""
WEB_EXPORT_EN = CsvStyle(language="en", delimiter=",", bom=False, crlf=False, dates="iso")
"""A web application's export: ``,``, no BOM, LF, ISO dates, English headers."""
SPREADSHEET_EN = CsvStyle(language="en", delimiter=",", bom=True, crlf=True, dates="d-m-yyyy")
"""A spreadsheet saved as "CSV UTF-8" with day-first dates without leading zeros."""


@dataclass(frozen=True)
class OrganisationSpec:
    """One organisation: its dataset name, kind, how many people it knows, overlap, style.

    ``duplicates`` is the share of extra rows that register a person of the list a second
    time (a re-registration, often spelled differently).
    """

    name: str
    kind: Kind
    people: int
    overlap: float = 0.0
    style: CsvStyle = EXCEL_NL
    duplicates: float = 0.0

    def __post_init__(self) -> None:
        check_name(self.name)
        if not 0 <= self.people <= MAX_PEOPLE:
            raise InvalidError(
                "synthetic_config_invalid", f"people is 0 to {MAX_PEOPLE} per organisation"
            )
        if not (0.0 <= self.overlap <= 1.0 and 0.0 <= self.duplicates <= 1.0):
            raise InvalidError(
                "synthetic_config_invalid", "overlap and duplicates are shares from 0 to 1"
            )


@dataclass(frozen=True)
class SyntheticConfig:
    """A whole data space's generated lists.

    ``noise``: share of name cells written in a spelling the normalisation reconciles (case,
    accents, spaces, dashes, quotes), on top of each style's habits. ``hard``: share of rows
    with one change it does *not* reconcile (see ``names.py``; given and family name swapped; day
    and month of birth swapped). ``disagreement``: share of rows where an organisation records
    a different exploitation type than the others.
    """

    organisations: tuple[OrganisationSpec, ...]
    seed: int = 0
    noise: float = 0.3
    hard: float = 0.02
    disagreement: float = 0.05
    first_year: int = 2019
    last_year: int = 2025

    def __post_init__(self) -> None:
        names = [o.name for o in self.organisations]
        if not names or len(set(names)) != len(names):
            raise InvalidError(
                "synthetic_config_invalid", "organisations have distinct names, at least one"
            )
        if self.organisations[0].overlap != 0:
            raise InvalidError(
                "synthetic_config_invalid", "the first organisation has no one to overlap with"
            )
        for share in (self.noise, self.hard, self.disagreement):
            if not 0.0 <= share <= 1.0:
                raise InvalidError("synthetic_config_invalid", "shares are from 0 to 1")
        if not 1900 < self.first_year <= self.last_year < 2100:
            raise InvalidError("synthetic_config_invalid", "registration years out of range")


def proof_of_concept(people: int = 1000, *, seed: int = 0, hard: float = 0.02) -> SyntheticConfig:
    """The PoC's data space: an LEA and two NGOs whose clients partly overlap with it."""
    return SyntheticConfig(
        (
            OrganisationSpec("lea", "lea", people, style=POLICE_EXPORT, duplicates=0.02),
            OrganisationSpec("ngo-a", "ngo", people * 2 // 5, 0.6, EXCEL_NL, 0.01),
            OrganisationSpec("ngo-b", "ngo", people * 3 // 10, 0.5, WEB_EXPORT_EN, 0.01),
        ),
        seed=seed,
        hard=hard,
    )


def monitoring(people: int = 1000, *, seed: int = 0, hard: float = 0.02) -> SyntheticConfig:
    """The sandbox: an LEA, two NGOs, a care provider and a municipality."""
    poc = proof_of_concept(people, seed=seed, hard=hard)
    return SyntheticConfig(
        (
            *poc.organisations,
            OrganisationSpec("care", "care", people // 4, 0.7, SPREADSHEET_EN, 0.02),
            OrganisationSpec("municipality", "municipality", people // 5, 0.4, EXCEL_NL),
        ),
        seed=seed,
        hard=hard,
    )
