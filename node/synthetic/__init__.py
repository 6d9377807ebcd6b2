"""Generated, realistic lists of presumed victims for the demo, the tests and the benchmarks.

Seeded, deterministic and offline (numpy and the standard library only). ``config.py`` says
what to generate (organisations, overlaps, CSV styles), ``names.py`` the names and the spellings
normalisation does and does not reconcile, ``population.py`` the people, ``generate.py`` the
rows, CSV bytes, import schemas and ground truth, ``edgecases.py`` the corner cases the
end-to-end tests need. The plaintext answers live in ``node.oracle``. Reference:
docs/reference/synthetic-data.md.
"""

from node.synthetic.config import (
    EXCEL_NL,
    POLICE_EXPORT,
    SPREADSHEET_EN,
    WEB_EXPORT_EN,
    CsvStyle,
    OrganisationSpec,
    SyntheticConfig,
    monitoring,
    proof_of_concept,
)
from node.synthetic.generate import IDENTIFIER, OrganisationData, Synthetic, generate
from node.synthetic.population import AGE_BANDS, EXPLOITATION, NATIONALITIES, REGIONS

__all__ = [
    "AGE_BANDS",
    "EXCEL_NL",
    "EXPLOITATION",
    "IDENTIFIER",
    "NATIONALITIES",
    "POLICE_EXPORT",
    "REGIONS",
    "SPREADSHEET_EN",
    "WEB_EXPORT_EN",
    "CsvStyle",
    "OrganisationData",
    "OrganisationSpec",
    "Synthetic",
    "SyntheticConfig",
    "generate",
    "monitoring",
    "proof_of_concept",
]
