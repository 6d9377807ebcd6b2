"""The catalog across nodes: what other nodes may see of this node's datasets, and theirs.

- :mod:`node.catalog.visibility` — ``sight(requester, policies, facts, own_spaces, now)``:
  which datasets one requester may see (its verified roles and data spaces against the current
  policies), and why each other one is hidden;
- :mod:`node.catalog.wire` — the versioned query / answer / refusal messages and their one
  strict decoder (``CatalogWireError``, code ``catalog_malformed``);
- :mod:`node.catalog.exchange` — ``Catalogs``: serves queries on session ``CATALOG_SESSION``
  (4) of every link, fetches peers' catalogs with a deadline, keeps them a short while.

The entries themselves (public schema, rounded row count) are ``node.datasets.catalog``'s.
The protocol is specified in docs/spec/catalog.md.
"""

from node.catalog.exchange import CATALOG_SESSION, CatalogAnswerError, Catalogs, RemoteCatalog
from node.catalog.visibility import Hidden, Sight, sight

__all__ = [
    "CATALOG_SESSION",
    "CatalogAnswerError",
    "Catalogs",
    "Hidden",
    "RemoteCatalog",
    "Sight",
    "sight",
]
