"""``confide status`` and ``confide peers`` against a node serving its API on a real socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.node.commands.helpers import cli, running_node


def _reason(err: str) -> list[str]:
    """The CLI's own lines on stderr (log lines of the in-process server are skipped)."""
    return [line for line in err.splitlines() if line.startswith("confide:")]


def test_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`confide status --json` prints the node's status document."""
    with running_node(tmp_path) as node:
        code, out, _ = cli(capsys, "status", "--home", str(node.home.path), "--json")
        assert code == 0
        body = json.loads(out)
        assert body["name"] == "NGO A"
        assert body["node_id"] == node.run(lambda service: service.identity.node_id)


def test_status_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`confide status` prints aligned name/value lines."""
    with running_node(tmp_path) as node:
        code, out, _ = cli(capsys, "status", "--home", str(node.home.path))
        assert code == 0
        assert any(line.split() == ["name", "NGO", "A"] for line in out.splitlines())


def test_peers_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`confide peers` on a node that knows nobody says so."""
    with running_node(tmp_path) as node:
        code, out, _ = cli(capsys, "peers", "--home", str(node.home.path))
        assert code == 0
        assert out.strip() == "(none)"


def test_node_not_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Against a home whose node stopped, the CLI exits 1 with a one-line reason."""
    with running_node(tmp_path) as node:
        home = str(node.home.path)
    code, out, err = cli(capsys, "status", "--home", home)
    assert code == 1
    assert out == ""
    assert _reason(err) == ["confide: the node is not running (no admin.url in its home)"]


def test_not_a_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory that is no node home is a one-line failure."""
    code, _, err = cli(capsys, "peers", "--home", str(tmp_path))
    assert code == 1
    assert len(_reason(err)) == 1


def test_wrong_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A home whose token does not match the node's is refused with the API's message."""
    with running_node(tmp_path) as node:
        token = node.home.token_path
        token.chmod(0o600)
        token.write_text("another-token-of-enough-length\n")
        code, _, err = cli(capsys, "status", "--home", str(node.home.path))
        assert code == 1
        assert _reason(err) == [
            "confide: a valid admin token is required (Authorization: Bearer …)"
        ]
