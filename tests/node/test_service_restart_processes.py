"""Restart and kill -9 of `confide run` lose nothing: data spaces, datasets, policies, audit.

Everything is written through the admin API of a running node process, as an operator would,
and read back the same way; the node is then stopped with SIGTERM or killed with SIGKILL right
after the last acknowledged write, started again from its home, and every answer compared.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from network.identity import Identity
from node.client import AdminClient
from node.commands.dataset import multipart
from tests.node.processes import Node, init

pytestmark = pytest.mark.processes

SPACE, OTHER = "nl-ht", "be-ht"
CSV = (
    "\ufeffnaam;geboortedatum;regio\r\n"
    "Jan Jansen;1990-01-31;Utrecht\r\n"
    "Piet Smit;1985-06-01;Zwolle\r\n"
    "Anna de Boer;2001-12-24;Utrecht\r\n"
).encode()
SCHEMA = {
    "columns": [
        {"name": "persoon", "type": "identifier", "from": ["naam", "geboortedatum"]},
        {"name": "regio", "type": "category"},
    ]
}
FAR_FUTURE = 4_000_000_000


def policy(policy_id: str, roles: list[str]) -> dict[str, Any]:
    """A policy on the ``clients`` dataset for ``roles`` in nl-ht."""
    return {
        "id": policy_id,
        "dataset": "clients",
        "permission": {
            "action": ["union_size"],
            "constraints": [
                {"left": "requester_role", "op": "isAnyOf", "right": roles},
                {"left": "data_space", "op": "isAnyOf", "right": [SPACE]},
            ],
        },
        "approval": "manual",
    }


def write_everything(client: AdminClient) -> None:
    """Data spaces, a dataset, policies (with versions and a retirement) over the API."""
    for name in (SPACE, OTHER):
        client.post(
            "/dataspaces",
            {"data_space": name, "roles": ["lea", "ngo"], "purposes": ["monitoring"],
             "my_roles": ["lea"]},
        )  # fmt: skip
    client.post(f"/dataspaces/{SPACE}/links", {"with": OTHER, "purposes": ["monitoring"]})
    kept, gone = Identity.generate().node_id, Identity.generate().node_id
    client.post(f"/dataspaces/{SPACE}/invitations", {"member": kept, "roles": ["ngo"]})
    client.post(f"/dataspaces/{SPACE}/invitations", {"member": gone, "roles": ["ngo"]})
    client.post(f"/dataspaces/{SPACE}/revocations", {"member": gone})
    body, media = multipart(
        [
            ("file", "clients.csv", "text/csv", CSV),
            ("schema", "schema.json", "application/json", json.dumps(SCHEMA).encode()),
        ]
    )
    client.upload("/datasets/clients", body, media, query={"delimiter": "semicolon"})
    client.put("/datasets/clients/expiry", {"expires_at": FAR_FUTURE})
    client.post("/policies", policy("pol-a", ["lea"]))
    client.put("/policies/pol-a", policy("pol-a", ["lea", "ngo"]))
    client.post("/policies", policy("pol-b", ["ngo"]))
    client.post("/policies/pol-b/retire")


def read_everything(client: AdminClient) -> dict[str, Any]:
    """What an operator reads back: data spaces, datasets, policies and versions, audit."""
    return {
        "data_spaces": client.get("/dataspaces"),
        "datasets": client.get("/datasets"),
        "policies": client.get("/policies", query={"retired": True}),
        "versions": client.get("/policies/pol-a/versions"),
        "audit": client.get("/audit", query={"limit": 1000})["entries"],
    }


def _store_is_sound(home: Path) -> None:
    with sqlite3.connect(home / "store.sqlite") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["sigterm", "sigint", "kill9"]
)
def test_restart_keeps_dataspaces_datasets_policies_and_audit(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Whatever the API acknowledged before SIGTERM, SIGINT or kill -9 reads back the same."""
    home = tmp_path / "lea"
    init(home, "LEA", "--data-space", SPACE)
    node = Node(home)
    try:
        node.wait_for("node.started")
        client = AdminClient.from_home(home)
        write_everything(client)
        before = read_everything(client)
        code = node.stop(signum)
        assert code == (-signal.SIGKILL if signum == signal.SIGKILL else 0)
        node = Node(home)
        node.wait_for("node.started")
        after = read_everything(AdminClient.from_home(home))
        verified = AdminClient.from_home(home).post("/audit/verify")
        assert node.stop() == 0
    finally:
        node.close()
    assert [s["data_space"] for s in before["data_spaces"]["data_spaces"]] == [OTHER, SPACE]
    space = next(s for s in before["data_spaces"]["data_spaces"] if s["data_space"] == SPACE)
    assert (space["member"], space["members_known"], space["linked_to"]) == (True, 2, [OTHER])
    assert [(d["name"], d["expires_at"]) for d in before["datasets"]["datasets"]] == [
        ("clients", FAR_FUTURE)
    ]
    assert sorted((p["policy"]["id"], p["current"]) for p in before["policies"]["policies"]) == [
        ("pol-a", True),
        ("pol-b", True),
    ]
    assert len(before["versions"]["versions"]) == 2
    for key in ("data_spaces", "datasets", "policies", "versions"):
        assert after[key] == before[key], key
    written = before["audit"]
    assert after["audit"][: len(written)] == written  # nothing lost, nothing reordered
    events = {entry["event"] for entry in written}
    for event in ("dataspace.linked", "dataspace.member_revoked", "dataset.imported",
                  "policy.created", "policy.retired"):  # fmt: skip
        assert event in events, event
    stopped = [e["event"] for e in after["audit"][len(written) :]]
    assert ("node.stopped" in stopped) is (signum != signal.SIGKILL)
    assert verified["ok"] is True, verified["damage"]
    _store_is_sound(home)
