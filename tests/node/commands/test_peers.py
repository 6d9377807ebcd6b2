"""``confide peers catalog NODE_ID`` against a node serving its API on a real socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from network.identity import Identity
from node.catalog import RemoteCatalog
from node.datasets.catalog import CatalogEntry
from node.service import NodeService
from tests.node.api.helpers import NOW
from tests.node.commands.helpers import cli, running_node

PEER = Identity.from_private_bytes(bytes([7]) * 32).node_id
ENTRY = CatalogEntry(
    "clients",
    ({"name": "name", "type": "identifier"}, {"name": "region", "type": "category"}),
    130,
)


def _remember(service: NodeService) -> None:
    """The peer answered a moment ago: its catalog is in the node's cache."""
    service.catalogs._cache[PEER] = RemoteCatalog(PEER, (ENTRY,), False, NOW - 5)


def test_catalog_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The peer's datasets are shown with their rounded counts and typed columns."""
    with running_node(tmp_path) as node:
        node.run(_remember)
        code, out, _ = cli(capsys, "peers", "catalog", PEER, "--home", str(node.home.path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["dataset", "rows", "(rounded", "up)", "columns"]
    assert lines[1].split() == ["clients", "~130", "name", "(identifier),", "region", "(category)"]


def test_catalog_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the API's document."""
    with running_node(tmp_path) as node:
        node.run(_remember)
        code, out, _ = cli(
            capsys, "peers", "catalog", PEER, "--home", str(node.home.path), "--json"
        )
    assert code == 0
    body = json.loads(out)
    assert body["node_id"] == PEER
    assert body["datasets"] == [ENTRY.to_json()]


def test_catalog_of_a_node_not_running_its_peer_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asking afresh with no peer host is a one-line failure, exit code 1."""
    with running_node(tmp_path) as node:
        node.run(_remember)
        args = ("peers", "catalog", PEER, "--refresh", "--home", str(node.home.path))
        code, out, err = cli(capsys, *args)
    assert code == 1
    assert out == ""
    assert "confide: the node's peer host is not running" in err.splitlines()


def test_catalog_needs_a_node_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`confide peers catalog` alone is a usage error; a node id without `catalog` too."""
    for args in (("peers", "catalog"), ("peers", "--home", str(tmp_path), "catalog")):
        with pytest.raises(SystemExit) as caught:
            cli(capsys, *args, "--home", str(tmp_path))
        assert caught.value.code == 2
    with pytest.raises(SystemExit):
        cli(capsys, "peers", "catalog", "x1", "extra", "--home", str(tmp_path))
