"""The layering rules of the house style, enforced on the source tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO_MODULES = {"asyncio", "aiohttp", "structlog", "socket", "time", "logging", "selectors"}
FORBIDDEN = {"pickle", "cPickle", "dill", "marshal"}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def sources(package: str) -> list[Path]:
    """Every Python file of a package."""
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", sources("protocols"), ids=lambda p: p.name)
def test_protocols_is_pure(path: Path) -> None:
    """protocols/ imports no I/O, clock, logging, network or node module."""
    bad = imported_modules(path) & (IO_MODULES | {"network", "node"})
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sources("network"), ids=lambda p: p.name)
def test_network_never_imports_node(path: Path) -> None:
    """Imports point one way: network/ never imports node/."""
    assert "node" not in imported_modules(path)


@pytest.mark.parametrize(
    "path", sources("protocols") + sources("network") + sources("node"), ids=lambda p: p.name
)
def test_no_pickle(path: Path) -> None:
    """No module may deserialise peer data with pickle or its relatives."""
    assert not imported_modules(path) & FORBIDDEN
