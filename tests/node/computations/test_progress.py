"""Progress of a run: monotone percentages that move while computing, rate-limited, end at 100."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.computations.progress import PERCENT, Progress
from node.computations.results import RunStore
from node.store import open_store
from protocols.program import Exchange, Program
from tests.node.computations.harness import Node, ended, start_nodes, stop_nodes
from tests.node.computations.test_runner import LISTS, agreed

RUN = "r-" + "1" * 32
MANIFEST = "m-" + "a" * 64


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store(tmp_path: Path) -> RunStore:
    """A run store with one running run."""
    runs = RunStore(open_store(tmp_path / "runs.sqlite"))
    runs.begin(RUN, MANIFEST, "set_difference", "participant", 1)
    return runs


def program(progress: Progress, rounds: int, clock: FakeClock | None = None) -> Program[str]:
    """Keys, ``rounds`` computing exchanges (the clock moves a second each), one output."""
    progress.enter("keys")
    yield Exchange("keys:0:1", {}, {})
    progress.enter("computing")
    for step in range(rounds):
        if clock is not None:
            clock.now += 1.0
        yield Exchange(f"s{step}", {}, {})
    yield Exchange("out:0:1", {}, {})
    return "done"


def drain(watched: Program[str]) -> str:
    """Run a program that needs no replies."""
    try:
        while True:
            next(watched)
    except StopIteration as stop:
        return str(stop.value)


def percents(events: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """The percentages of the ``run.progressed`` events, in order."""
    return [data["percent"] for kind, data in events if kind == "run.progressed"]


def test_an_unknown_shape_moves_towards_but_never_reaches_opening(tmp_path: Path) -> None:
    """Without a past run the percentage rises with every round and stays below 90."""
    events: list[tuple[str, dict[str, Any]]] = []
    clock = FakeClock()
    progress = Progress(
        RUN, MANIFEST, store(tmp_path), lambda k, d: events.append((k, dict(d))), monotonic=clock
    )
    assert drain(progress.watch(program(progress, 200, clock))) == "done"
    seen = percents(events)
    assert seen == sorted(set(seen))
    assert seen[:2] == [PERCENT["keys"], PERCENT["computing"]]
    assert max(p for p in seen if p < PERCENT["opening"]) in range(80, 90)
    assert seen[-1] == PERCENT["opening"]
    assert progress.rounds == 202
    assert progress.computing_rounds == 200
    assert progress.output_started


def test_a_known_shape_spreads_the_computing_span_over_its_rounds(tmp_path: Path) -> None:
    """With the rounds of a past run, half the rounds show half of the span."""
    events: list[tuple[str, dict[str, Any]]] = []
    clock = FakeClock()
    progress = Progress(
        RUN, MANIFEST, store(tmp_path), lambda k, d: events.append((k, dict(d))), monotonic=clock
    )
    watched = progress.watch(program(progress, 10, clock), expected=10)
    for _ in range(6):  # the keys round, then 5 of the 10 computing rounds
        next(watched)
    assert progress.percent == PERCENT["computing"] + 25
    drain(watched)
    seen = percents(events)
    assert seen == sorted(set(seen))
    assert max(p for p in seen if p < PERCENT["opening"]) == PERCENT["computing"] + 45  # 9 of 10


def test_percentages_within_a_phase_are_published_at_most_once_per_interval(
    tmp_path: Path,
) -> None:
    """With a clock that stands still, only the phase changes are published and stored."""
    events: list[tuple[str, dict[str, Any]]] = []
    runs = store(tmp_path)
    progress = Progress(
        RUN, MANIFEST, runs, lambda k, d: events.append((k, dict(d))), monotonic=FakeClock()
    )
    watched = progress.watch(program(progress, 50))
    for _ in range(40):
        next(watched)
    assert progress.percent > PERCENT["computing"]
    assert percents(events) == [PERCENT["keys"], PERCENT["computing"]]
    assert runs.get(RUN).percent == PERCENT["computing"]
    drain(watched)
    assert percents(events)[-1] == PERCENT["opening"]


def progressed(node: Node, run_id: str) -> list[int]:
    """``node``'s published percentages of ``run_id``, then 100 if it completed."""
    return [
        data["percent"]
        for kind, data in node.events
        if data.get("run_id") == run_id and kind in ("run.progressed", "run.completed")
    ]


@pytest.mark.asyncio
async def test_a_run_reports_monotone_progress_ending_at_100(tmp_path: Path) -> None:
    """Every node's percentages never go back and end at 100; a second run of the same shape
    knows its rounds and gets closer to 90 before opening."""
    nodes = await start_nodes(tmp_path, LISTS)
    lea = nodes[0]
    try:
        manifest_id = agreed(nodes)
        peaks = []
        for _ in range(2):
            run_id = lea.computations.start(manifest_id)
            await ended(nodes, run_id)
            for node in nodes:
                seen = progressed(node, run_id)
                assert seen == sorted(seen), node.name
                assert seen[-1] == 100
                assert node.runs.get(run_id).percent == 100
                assert any(PERCENT["computing"] < p < PERCENT["opening"] for p in seen)
            peaks.append(max(p for p in progressed(lea, run_id) if p < PERCENT["opening"]))
        assert peaks[1] > peaks[0]
        assert peaks[1] >= PERCENT["opening"] - 5
    finally:
        await stop_nodes(nodes)
