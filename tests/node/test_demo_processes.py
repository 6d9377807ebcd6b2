"""`confide demo` as a user runs it: three node processes, data, policies, queries, clean stop."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

import psutil
import pytest

from node.client import AdminClient
from tests.node.helpers import confide

pytestmark = pytest.mark.processes


@pytest.mark.timeout(300)
def test_demo_sets_up_the_data_space_runs_the_queries_and_stops_cleanly(tmp_path: Path) -> None:
    """Three nodes start, import their lists and policies, both results match, all stop."""
    home = tmp_path / "demo"
    done = confide("demo", "--people", "200", "--dir", str(home), timeout=280)
    out = done.stdout
    assert re.search(r"LEA +lea +pid \d+", out), out
    assert "all three joined nl-human-trafficking and found each other" in out
    for org in ("lea", "ngo-a", "ngo-b"):
        assert re.search(rf"{org} +\d+ rows .*{org}-outreach, {org}-monitoring", out), out
    assert "the LEA proposes: LEA names on no other list (up to 5)" in out
    assert "the LEA proposes: people by exploitation type and region, each counted once" in out
    assert out.count("consent: NGO A agreed") == 2
    assert out.count("agreement finalized") == 2
    assert out.count("100 %  completed") == 2
    assert "all nodes stopped cleanly" in out
    assert done.returncode == 0, out[-3000:]
    assert out.count("match: yes") == 2
    assert "result (to the LEA only): 5 names" in out
    assert "all results match the plaintext answers" in out
    for pid in map(int, re.findall(r"pid (\d+)", out)):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert not list(home.glob("*/admin.url"))


def test_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    """`--dir` pointing at a directory with files in it fails with one line, touching nothing."""
    (tmp_path / "mine.txt").write_text("keep")
    done = confide("demo", "--people", "50", "--dir", str(tmp_path), timeout=60)
    assert done.returncode == 1
    assert "not empty" in done.stdout
    assert (tmp_path / "mine.txt").read_text() == "keep"


@pytest.mark.timeout(300)
def test_demo_keep_leaves_the_nodes_running_and_says_how_to_reach_them(tmp_path: Path) -> None:
    """With --keep the three nodes outlive the demo; each printed admin address answers."""
    home = tmp_path / "demo"
    done = confide("demo", "--keep", "--people", "100", "--dir", str(home), timeout=280)
    out = done.stdout
    pids = [int(p) for p in re.findall(r"kill -TERM ([\d ]+)", out)[0].split()]
    try:
        assert done.returncode == 0, out[-3000:]
        assert "The nodes keep running (--keep)" in out
        assert "all nodes stopped" not in out
        urls = re.findall(r"(http://127\.0\.0\.1:\d+)/api/v1 ", out)
        assert len(urls) == 3
        names = ("LEA", "NGO A", "NGO B")
        for slug, name, url in zip(("lea", "ngo-a", "ngo-b"), names, urls, strict=True):
            assert f"confide status --home {home / slug}" in out
            token = (home / slug / "admin-token").read_text().strip()
            assert AdminClient(url, token).get("/status")["name"] == name
        assert all(psutil.pid_exists(pid) for pid in pids)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).wait(timeout=30)
    assert not list(home.glob("*/admin.url"))
