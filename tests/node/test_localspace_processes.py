"""A local data space of real `confide run` processes: start, connect, load, stop, clean up."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from node.client import AdminClient
from node.localspace import LocalDataSpace, LocalSpaceError, default_members
from node.synthetic.config import monitoring
from node.synthetic.generate import generate

pytestmark = pytest.mark.processes


def _gone(pid: int) -> bool:
    """Whether process ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.timeout(180)
def test_five_nodes_load_data_and_policies_then_stop_cleanly(tmp_path: Path) -> None:
    """Five processes connect, import their CSVs and policies over the API, and exit 0."""
    space = LocalDataSpace(tmp_path / "space", default_members(5))
    space.create(int(time.time()))
    with space:
        clients = space.start(int(time.time()))
        pids = [node.pid for node in space.nodes]
        assert len(set(pids)) == 5
        names = [client.get("/status")["name"] for client in clients]
        assert names == ["LEA", "NGO A", "NGO B", "Care provider", "Municipality"]
        data = generate(monitoring(100, seed=3))
        for org in data.organisations:
            report = space.import_dataset(
                org.name, org.name, org.csv, schema=org.schema, delimiter=org.delimiter
            )
            assert report["dataset"]["row_count"] == org.rows
            created = space.create_policies(org.name, org.name)
            assert [p["policy"]["id"] for p in created] == [
                f"{org.name}-outreach",
                f"{org.name}-monitoring",
            ]
        spaces = clients[2].get("/dataspaces")["data_spaces"]
        assert [s["data_space"] for s in spaces] == ["nl-human-trafficking"]
        codes = space.stop()
    assert codes == {m.slug: 0 for m in space.members}
    assert all(_gone(pid) for pid in pids if pid is not None)
    assert not any((node.home / "admin.url").exists() for node in space.nodes)


@pytest.mark.timeout(120)
def test_a_node_that_cannot_start_leaves_no_process_behind(tmp_path: Path) -> None:
    """A member whose node exits at once fails the start; the nodes already up are stopped."""
    space = LocalDataSpace(tmp_path / "space", default_members(3))
    space.create(int(time.time()))
    (space.node("ngo-b").home / "node.toml").write_text("[node]\nname = 3\n")
    with pytest.raises(LocalSpaceError) as raised:
        space.start(int(time.time()))
    assert raised.value.code == "node_start_failed"
    assert "NGO B" in raised.value.message
    assert all(node.process is None for node in space.nodes)
    assert space.node("lea").exit_code == 0


@pytest.mark.timeout(120)
def test_a_node_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    """A stopped (SIGSTOP) node does not answer SIGTERM: stop kills it once time is up.

    Its peers may be killed too: closing a link to a frozen peer waits for the link's own
    close timeout, longer than the 2 s given here.
    """
    space = LocalDataSpace(tmp_path / "space", default_members(3), stop_timeout=2.0)
    space.create(int(time.time()))
    space.start(int(time.time()))
    stuck = space.node("ngo-a")
    assert stuck.pid is not None
    pid = stuck.pid
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    codes = space.stop()
    assert time.monotonic() - started < 8
    assert codes["ngo-a"] == -signal.SIGKILL
    assert set(codes.values()) <= {0, -signal.SIGKILL}
    assert all(node.process is None for node in space.nodes)
    assert _gone(pid)


@pytest.mark.timeout(120)
def test_keep_leaves_the_nodes_running_after_the_block(tmp_path: Path) -> None:
    """With keep=True the nodes outlive the block and still answer on their admin API."""
    space = LocalDataSpace(tmp_path / "space", default_members(3), keep=True)
    space.create(int(time.time()))
    pids: list[int] = []
    try:
        with space:
            space.start(int(time.time()))
            pids = [node.pid for node in space.nodes if node.pid is not None]
        assert not any(_gone(pid) for pid in pids)
        assert AdminClient.from_home(space.node("lea").home).get("/status")["name"] == "LEA"
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            psutil.Process(pid).wait(timeout=10) if not _gone(pid) else None
    assert all(_gone(pid) for pid in pids)
