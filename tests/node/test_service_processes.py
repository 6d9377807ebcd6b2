"""`confide init` and `confide run` as an operator uses them: real processes and sockets."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from node.home import Home
from tests.node.helpers import confide
from tests.node.processes import Node, dataspace, init, status

pytestmark = pytest.mark.processes


@pytest.mark.timeout(90)
def test_init_run_status_and_sigterm(tmp_path: Path) -> None:
    """Ready line, status with the token (401 without), a second run refused, SIGTERM exits 0."""
    home = tmp_path / "a"
    init(home, "NGO A")
    node = Node(home)
    try:
        ready = json.loads(node.wait_for("node.started"))
        assert len(ready["node"]) == 12
        assert ready["peer_port"] > 0
        assert ready["admin_port"] > 0
        token = (home / "admin-token").read_text().strip()
        code, body = status(home, token)
        assert code == 200
        assert body["name"] == "NGO A"
        code, body = status(home, None)
        assert code == 401
        assert body["error"]["code"] == "unauthorized"  # type: ignore[index]
        second = confide("run", "--home", str(home), timeout=30)
        assert second.returncode != 0
        assert "already running" in second.stderr
        started = time.monotonic()
        assert node.stop() == 0
        assert time.monotonic() - started < 5
        assert not (home / "admin.url").exists()
        assert sum("node.started" in line for line in node.lines) == 1
    finally:
        node.close()


@pytest.mark.timeout(90)
def test_kill_nine_then_run_again_keeps_state(tmp_path: Path) -> None:
    """After kill -9 the home runs again with its data space and identity intact."""
    home = tmp_path / "a"
    made = init(home, "LEA", "--data-space", "nl-ht")
    dataspace(home, "create", "--role", "lea", "--purpose", "monitoring", "--my-role", "lea")
    node = Node(home)
    node.wait_for("node.started")
    node.stop(signal.SIGKILL)
    node = Node(home)
    try:
        node.wait_for("node.started")
        listed = json.loads(dataspace(home, "list", "--json"))
        assert [(s["data_space"], s["member"]) for s in listed] == [("nl-ht", True)]
        token = (home / "admin-token").read_text().strip()
        assert status(home, token)[1]["node_id"] == made["node_id"]
        assert node.stop() == 0
    finally:
        node.close()


@pytest.mark.timeout(120)
def test_members_connect_and_a_revoked_node_is_refused(tmp_path: Path) -> None:
    """Two members created by the CLI link up; a revoked node's handshake is refused."""
    lea_home, ngo_home, bad_home = (tmp_path / n for n in ("lea", "ngo", "bad"))
    lea = init(lea_home, "LEA", "--data-space", "nl-ht")
    dataspace(lea_home, "create", "--role", "lea", "--role", "ngo", "--purpose", "monitoring")
    nodes = []
    try:
        for home, name in ((ngo_home, "NGO"), (bad_home, "Bad")):
            made = init(home, name)
            text = dataspace(lea_home, "invite", "--member", made["node_id"], "--role", "ngo")
            dataspace(home, "join", text)
        nodes.append(Node(lea_home))
        nodes[0].wait_for("node.started")
        dataspace(lea_home, "revoke", "--member", init_id(bad_home))
        nodes.append(Node(ngo_home))
        nodes[1].wait_for("node.started")
        joined = json.loads(nodes[1].wait_for("bootstrap.joined", timeout=40))
        assert joined["peer"] == lea["node_id"][:12]
        nodes.append(Node(bad_home))
        nodes[2].wait_for("bootstrap.failed", timeout=40)
        refused = json.loads(nodes[0].wait_for("link.refused"))
        assert refused["reason"] == "REVOKED"
        for node in nodes:
            assert node.stop() == 0
    finally:
        for node in nodes:
            node.close()


def init_id(home: Path) -> str:
    """The node id of an initialised home (via the identity file)."""
    return Home(home).identity().node_id


def test_init_refuses_an_existing_home(tmp_path: Path) -> None:
    """A second init on the same directory fails with one line and touches nothing."""
    home = tmp_path / "a"
    init(home, "A")
    before = (home / "admin-token").read_text()
    done = confide("init", "--home", str(home), "--name", "B")
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1
    assert "not empty" in done.stderr
    assert (home / "admin-token").read_text() == before


def test_bad_node_toml_is_one_line_error(tmp_path: Path) -> None:
    """An unknown key in node.toml stops `run` with a one-line reason naming the key."""
    home = tmp_path / "a"
    init(home, "A")
    with (home / "node.toml").open("a") as file:
        file.write("\n[peers]\nport = 1\n")
    done = confide("run", "--home", str(home), timeout=30)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["confide: node.toml: peers: unknown section"]


@pytest.mark.timeout(120)
def test_join_while_running_is_announced_without_restart(tmp_path: Path) -> None:
    """A node that joins while running dials the bootstrap and is discovered by the other."""
    lea_home, ngo_home = tmp_path / "lea", tmp_path / "ngo"
    init(lea_home, "LEA", "--data-space", "nl-ht")
    dataspace(lea_home, "create", "--role", "lea", "--role", "ngo", "--purpose", "monitoring")
    ngo = init(ngo_home, "NGO")
    nodes = [Node(lea_home), Node(ngo_home)]
    try:
        for node in nodes:
            node.wait_for("node.started")
        invitation = dataspace(lea_home, "invite", "--member", ngo["node_id"], "--role", "ngo")
        dataspace(ngo_home, "join", invitation)
        nodes[1].wait_for("node.claims_changed", timeout=20)
        nodes[1].wait_for("bootstrap.joined", timeout=40)
        end = time.monotonic() + 40
        discovered: list[object] = []
        while time.monotonic() < end and ngo["node_id"] not in discovered:
            done = confide("peers", "--home", str(lea_home), "--json", timeout=30)
            assert done.returncode == 0, done.stderr
            discovered = [p["node_id"] for p in json.loads(done.stdout)["peers"] if p["discovered"]]
            time.sleep(0.5)
        assert ngo["node_id"] in discovered
        for node in nodes:
            assert node.stop() == 0
    finally:
        for node in nodes:
            node.close()


def test_taken_peer_port_is_a_one_line_error(tmp_path: Path) -> None:
    """A peer port another process holds stops `run` with one line, not a traceback."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        home = tmp_path / "a"
        done = confide("init", "--home", str(home), "--name", "A", "--peer-port", str(port))
        assert done.returncode == 0, done.stderr
        done = confide("run", "--home", str(home), timeout=30)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("confide: the node cannot start (")
    assert "address already in use" in line
