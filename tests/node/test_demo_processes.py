"""`confide demo` as a user runs it: three node processes, data, policies, queries, clean stop."""

from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest

from tests.node.helpers import confide

pytestmark = pytest.mark.processes

UNAVAILABLE = "these nodes do not serve computations yet"


@pytest.mark.timeout(300)
def test_demo_sets_up_the_data_space_runs_the_queries_and_stops_cleanly(tmp_path: Path) -> None:
    """Three nodes start, import their lists and policies, answer (or refuse) and stop cleanly."""
    home = tmp_path / "demo"
    done = confide("demo", "--people", "200", "--dir", str(home), timeout=280)
    out = done.stdout
    assert re.search(r"LEA +lea +pid \d+", out), out
    assert "all three joined nl-human-trafficking and found each other" in out
    for org in ("lea", "ngo-a", "ngo-b"):
        assert re.search(rf"{org} +\d+ rows .*{org}-outreach, {org}-monitoring", out), out
    assert "the LEA proposes: LEA names on no other list (up to 5)" in out
    assert "all nodes stopped cleanly" in out
    if UNAVAILABLE in out:  # until the nodes serve /computations (issue 5, consent API)
        assert done.returncode == 1
    else:
        assert done.returncode == 0, out[-3000:]
        assert out.count("-> match") == 2
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
