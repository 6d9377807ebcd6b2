"""Datasets: CSV import with a schema, normalised identifiers, storage, catalog and retention.

``DatasetStore`` (store.py) is the entry point; ``read_csv`` (csvimport.py) parses without
storing (a dry run); ``catalog`` (catalog.py) is what other nodes may see. The format and the
schema are specified in docs/reference/dataset-format.md.
"""

from node.datasets.catalog import CatalogEntry, catalog, catalog_entry, rounded_rows
from node.datasets.columns import ColumnData, NumberColumn
from node.datasets.csvimport import Limits, RowError, Table, read_csv
from node.datasets.metadata import DatasetInfo, ImportReport
from node.datasets.schema import Column, Part, Schema, check_name, parse_schema
from node.datasets.store import DatasetStore

__all__ = [
    "CatalogEntry",
    "Column",
    "ColumnData",
    "DatasetInfo",
    "DatasetStore",
    "ImportReport",
    "Limits",
    "NumberColumn",
    "Part",
    "RowError",
    "Schema",
    "Table",
    "catalog",
    "catalog_entry",
    "check_name",
    "parse_schema",
    "read_csv",
    "rounded_rows",
]
