"""``confide dataset``, ``policy`` and ``audit`` against a node serving its API on a real socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.commands.dataset import multipart_stream
from tests.node.commands.helpers import cli, running_node

CSV = b"name;dob;region\r\nJan Jansen;1990-01-31;Utrecht\r\nPiet Smit;1985-06-01;Zwolle\r\n"
SCHEMA = {
    "columns": [
        {"name": "person", "type": "identifier", "from": ["name", "dob"]},
        {"name": "region", "type": "category"},
    ]
}
POLICY = {
    "id": "pol-ngo-a",
    "dataset": "clients",
    "permission": {
        "action": ["union_size"],
        "constraints": [{"left": "requester_role", "op": "isAnyOf", "right": ["lea"]}],
    },
    "approval": "manual",
}


def _reason(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("confide:")]


def test_dataset_import_list_show_delete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV is imported with a schema, listed, shown and deleted through the CLI."""
    (tmp_path / "clients.csv").write_bytes(CSV)
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    with running_node(tmp_path) as node:
        home = ("--home", str(node.home.path))
        csv, schema = str(tmp_path / "clients.csv"), str(tmp_path / "schema.json")
        code, out, _ = cli(capsys, "dataset", "import", "clients", csv, "--schema", schema, *home)
        assert (code, out.strip()) == (0, "imported clients: 2 rows")
        code, out, _ = cli(capsys, "dataset", "import", "clients", csv, *home)
        assert code == 1
        code, out, _ = cli(capsys, "dataset", "list", *home, "--json")
        assert [d["name"] for d in json.loads(out)["datasets"]] == ["clients"]
        code, out, _ = cli(capsys, "dataset", "show", "clients", *home)
        assert "person" in out
        assert "identifier" in out
        assert "Jan" not in out
        code, out, _ = cli(capsys, "dataset", "delete", "clients", *home)
        assert (code, out.strip()) == (0, "deleted")
        code, _, err = cli(capsys, "dataset", "show", "clients", *home)
        assert code == 1
        assert _reason(err) == ["confide: no dataset by that name"]


def test_dataset_import_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be read is a one-line failure, nothing sent."""
    with running_node(tmp_path) as node:
        code, _, err = cli(
            capsys,
            "dataset",
            "import",
            "d",
            str(tmp_path / "missing.csv"),
            "--home",
            str(node.home.path),
        )
        assert code == 1
        assert len(_reason(err)) == 1


def test_policy_create_validate_explain_retire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Policies are validated, created, explained and retired through the CLI."""
    good = tmp_path / "policy.json"
    good.write_text(json.dumps(POLICY))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**POLICY, "approval": "sometimes"}))
    with running_node(tmp_path) as node:
        home = ("--home", str(node.home.path))
        code, out, _ = cli(capsys, "policy", "validate", str(good), *home)
        assert code == 1
        assert "$.dataset" in out
        (tmp_path / "clients.csv").write_bytes(CSV)
        code, _, err = cli(
            capsys, "dataset", "import", "clients", str(tmp_path / "clients.csv"), *home
        )
        assert code == 0, err
        code, out, _ = cli(capsys, "policy", "validate", str(bad), *home)
        assert code == 1
        assert out.startswith("not valid")
        assert "$.approval" in out
        code, out, _ = cli(capsys, "policy", "validate", str(good), *home)
        assert (code, out.strip()) == (0, "valid")
        code, out, _ = cli(capsys, "policy", "create", str(good), *home)
        assert (code, out.strip()) == (0, "pol-ngo-a version 1 on clients (active)")
        node_id = node.run(lambda service: service.identity.node_id)
        code, out, _ = cli(
            capsys, "policy", "explain", "pol-ngo-a", "--requester", node_id,
            "--data-space", "nl", "--role", "ngo", *home, "--json",
        )  # fmt: skip
        assert code == 0
        assert json.loads(out)["outcome"] == "refuse"
        code, _, err = cli(capsys, "policy", "explain", "pol-ngo-a", "--requester", node_id, *home)
        assert (code, _reason(err)) == (1, ["confide: --requester needs --data-space"])
        code, out, _ = cli(capsys, "policy", "retire", "pol-ngo-a", *home)
        assert out.strip() == "pol-ngo-a version 1 on clients (retired)"
        code, out, _ = cli(capsys, "policy", "list", *home)
        assert out.strip() == "(none)"


def test_audit_show_verify_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The audit log is shown, verified and its evidence exported to a new file."""
    with running_node(tmp_path) as node:
        home = ("--home", str(node.home.path))
        node.run(
            lambda s: s.audit.append("consent.decided", {"manifest": "m-1", "decision": "agreed"})
        )
        code, out, _ = cli(capsys, "audit", "show", "--event", "consent", *home, "--json")
        assert [e["event"] for e in json.loads(out)["entries"]] == ["consent.decided"]
        code, out, _ = cli(capsys, "audit", "verify", *home)
        assert code == 0
        assert out.startswith("ok: ")
        target = tmp_path / "evidence.json"
        code, out, _ = cli(capsys, "audit", "export", "m-1", "--out", str(target), *home)
        assert code == 0
        assert json.loads(target.read_text())["subject"] == "m-1"
        code, _, err = cli(capsys, "audit", "export", "m-1", "--out", str(target), *home)
        assert code == 1
        assert _reason(err) == [f"confide: {target} exists; not overwritten"]
        code, _, err = cli(capsys, "audit", "show", "--limit", "0", *home)
        assert code == 1


def test_multipart_stream_length_and_chunks(tmp_path: Path) -> None:
    """The streamed upload body is exactly as long as announced and holds the whole file."""
    source = tmp_path / "big.csv"
    source.write_bytes(b"naam\r\n" + b"x" * (3 << 20))
    with source.open("rb") as file:
        chunks, length, media = multipart_stream(
            [("file", "big.csv", "text/csv", file), ("schema", "s.json", "application/json", b"{}")]
        )
        pieces = list(chunks)
    body = b"".join(pieces)
    assert len(body) == length
    assert max(len(p) for p in pieces) <= 1 << 20
    boundary = media.split("boundary=")[1]
    assert body.endswith(f"--{boundary}--\r\n".encode())
    assert source.read_bytes() in body
