"""The people behind the lists: one row of attributes per presumed victim, drawn vectorised.

Each person has an origin (the pool their names come from), a given and a family name, a date
of birth, a nationality, a type of exploitation, a Dutch province and the year they were first
registered. The proportions are plausible for the Netherlands, not statistics: the purpose is
data that looks and behaves like the real thing (skewed categories, small cells, accents), not
figures anyone should quote.

No two people share a matching identifier (given name, family name and date of birth after
normalisation): a draw that repeats one gets a new date of birth until none does, so in the
ground truth "same identifier" means "same person" for every row written without a hard variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from node.synthetic.names import ORIGINS, pool

EXPLOITATION = ("sexual", "labour", "criminal", "other")
"""The types of exploitation named in the use case (sexual, labour, criminal) and the rest."""
REGIONS = (
    "Groningen", "Fryslân", "Drenthe", "Overijssel", "Flevoland", "Gelderland", "Utrecht",
    "Noord-Holland", "Zuid-Holland", "Zeeland", "Noord-Brabant", "Limburg",
)  # fmt: skip
"""The twelve Dutch provinces, as written in Dutch."""
NATIONALITIES = tuple(dict.fromkeys(origin.nationality for origin in ORIGINS))
"""Every origin's country (English names), the Netherlands first."""
AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45+")
_BAND_STARTS = np.array([18, 25, 35, 45])

_REGION_WEIGHTS = np.array([0.03, 0.04, 0.03, 0.07, 0.02, 0.12, 0.08, 0.17, 0.21, 0.02, 0.15, 0.06])
_EXPLOITATION_WEIGHTS = np.array(  # per origin profile: sexual, labour, criminal, other
    [
        [0.70, 0.05, 0.20, 0.05],
        [0.50, 0.35, 0.10, 0.05],
        [0.75, 0.10, 0.10, 0.05],
        [0.70, 0.15, 0.10, 0.05],
        [0.40, 0.45, 0.10, 0.05],
    ]
)
DUTCH_NATIONALITY_SHARE = 0.08
"""Share of people of another origin who hold Dutch nationality."""
_DAY_KEY = 1 << 17
_DAY_OFFSET = 1 << 16


@dataclass(frozen=True)
class Population:
    """Everyone on any list, one entry per person (arrays of equal length).

    ``given`` and ``family`` index ``names.pool("given")`` / ``pool("family")``; ``dob`` is days
    since 1970-01-01; ``nationality``, ``exploitation`` and ``region`` index the vocabularies of
    this module; ``identifiers`` is each person's matching identifier as the import stores it
    (``given|family|YYYY-MM-DD``, each part normalised).
    """

    origin: npt.NDArray[np.int64]
    given: npt.NDArray[np.int64]
    family: npt.NDArray[np.int64]
    dob: npt.NDArray[np.int64]
    nationality: npt.NDArray[np.int64]
    exploitation: npt.NDArray[np.int64]
    region: npt.NDArray[np.int64]
    first_year: npt.NDArray[np.int64]
    identifiers: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of people."""
        return int(self.origin.size)


def draw_population(
    rng: np.random.Generator, size: int, first_year: int, last_year: int
) -> Population:
    """``size`` distinct people, registered between ``first_year`` and ``last_year``."""
    given_pool, family_pool = pool("given"), pool("family")
    shares = np.array([o.share for o in ORIGINS])
    origin = rng.choice(len(ORIGINS), size=size, p=shares / shares.sum()).astype(np.int64)
    given = _names_of(rng, origin, np.array(given_pool.origin))
    family = _names_of(rng, origin, np.array(family_pool.origin))
    first_year_of = rng.integers(first_year, last_year + 1, size=size)
    age = np.clip(14 + rng.gamma(2.2, 5.0, size=size), 12, 75)
    registered = days_of_year_start(first_year_of) + rng.integers(0, 365, size=size)
    dob = (registered - np.floor(age * 365.2425)).astype(np.int64)
    dob = _distinct_identities(rng, given, family, dob, family_pool_size=len(family_pool.names))
    own = np.array([NATIONALITIES.index(o.nationality) for o in ORIGINS])[origin]
    dutch = rng.random(size) < DUTCH_NATIONALITY_SHARE
    nationality = np.where(dutch, NATIONALITIES.index("Netherlands"), own).astype(np.int64)
    profile = np.array([o.profile for o in ORIGINS])[origin]
    cumulative = np.cumsum(_EXPLOITATION_WEIGHTS, axis=1)[profile]
    exploitation = (rng.random(size)[:, None] >= cumulative[:, :-1]).sum(axis=1).astype(np.int64)
    region = rng.choice(len(REGIONS), size=size, p=_REGION_WEIGHTS).astype(np.int64)
    dates = iso_dates(dob)
    given_match = np.array(given_pool.matching, dtype=object)[given]
    family_match = np.array(family_pool.matching, dtype=object)[family]
    identifiers = given_match + "|" + family_match + "|" + dates
    return Population(
        origin=origin,
        given=given,
        family=family,
        dob=dob,
        nationality=nationality,
        exploitation=exploitation,
        region=region,
        first_year=first_year_of.astype(np.int64),
        identifiers=tuple(identifiers.tolist()),
    )


def _names_of(
    rng: np.random.Generator, origin: npt.NDArray[np.int64], name_origin: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """For each person, a random name of their origin (indices into the pool)."""
    order = np.argsort(name_origin, kind="stable")
    starts = np.searchsorted(name_origin[order], np.arange(len(ORIGINS)))
    counts = np.bincount(name_origin, minlength=len(ORIGINS))
    pick = np.floor(rng.random(origin.size) * counts[origin]).astype(np.int64)
    chosen: npt.NDArray[np.int64] = order[starts[origin] + pick].astype(np.int64)
    return chosen


def _distinct_identities(
    rng: np.random.Generator,
    given: npt.NDArray[np.int64],
    family: npt.NDArray[np.int64],
    dob: npt.NDArray[np.int64],
    *,
    family_pool_size: int,
) -> npt.NDArray[np.int64]:
    """``dob`` with the birth date of every repeated (given, family, dob) moved until unique."""
    dob = dob.copy()
    while True:
        key = (given * family_pool_size + family) * _DAY_KEY + (dob + _DAY_OFFSET)
        _, first = np.unique(key, return_index=True)
        repeated = np.ones(key.size, dtype=bool)
        repeated[first] = False
        if not repeated.any():
            return dob
        dob[repeated] -= rng.integers(1, 3 * 365, size=int(repeated.sum()))


def days_of_year_start(years: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Days since 1970-01-01 of 1 January of each year."""
    return (
        (np.asarray(years) - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    )


def iso_dates(days: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """``YYYY-MM-DD`` of each day (days since 1970-01-01), as a string object array."""
    unique, inverse = np.unique(np.asarray(days, dtype=np.int64), return_inverse=True)
    text = np.datetime_as_string(unique.astype("datetime64[D]")).astype(object)
    return text[inverse.reshape(-1)]


def age_at(dob: npt.NDArray[np.int64], years: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Whole years of age on 1 July of each year."""
    mid_year = days_of_year_start(years) + 181
    return np.maximum(np.floor((mid_year - dob) / 365.2425), 0).astype(np.int64)


def age_band(ages: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Index into ``AGE_BANDS`` of each age."""
    return np.searchsorted(_BAND_STARTS, ages, side="right").astype(np.int64)
