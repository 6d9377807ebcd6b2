"""Computations on a local data space: manifest drafts, plaintext answers, propose and follow.

What ``confide demo`` and ``confide bench queries`` share. A :class:`Query` names a kind, its
parameters, the providers (member slugs, in the run's provider order), the columns each
provides, the recipients and the purpose; :func:`draft` turns it into the manifest draft the
proposer's admin API takes (node ids, public input bounds, compute parties). :func:`expected`
is the plaintext answer (``node.oracle``) on the generated lists, and :func:`compare` says
whether a run's result body matches it.

:class:`EventFollower` subscribes to a node's event stream (``/api/v1/events``) *before* a
proposal is made and keeps each event with the moment it arrived, so the demo can show progress
and the benchmark can split consent time (proposal to the run's first phase) from compute time
(first phase to ``run.completed``).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from node import oracle
from node.client import AdminClient, ApiError
from node.datasets.schema import fold_category
from node.errors import NodeError
from node.localspace import (
    MIN_GROUP_SIZE,
    MONITORING,
    OUTREACH,
    RESULT_LIMIT,
    LocalDataSpace,
    LocalSpaceError,
)
from node.synthetic.generate import IDENTIFIER, Synthetic

BOUND_STEP: Final = 100
COMPUTE_PARTIES: Final = 3
RUN_EVENTS: Final = ("run.progressed", "run.completed", "run.aborted")


@dataclass(frozen=True)
class Query:
    """One computation to propose on a local data space (members named by slug)."""

    title: str
    kind: str
    parameters: Mapping[str, Any]
    proposer: str
    providers: tuple[str, ...]
    columns: tuple[str, ...]
    recipients: tuple[str, ...]
    purpose: str


def proof_of_concept(slugs: Sequence[str]) -> Query:
    """The PoC: up to 5 of the LEA's names on none of the other lists, to the LEA alone."""
    lea = slugs[0]
    return Query(
        "LEA names on no other list (up to 5)",
        "set_difference",
        {"limit": RESULT_LIMIT, "reveal_size": False},
        lea,
        tuple(slugs),
        (IDENTIFIER,),
        (lea,),
        OUTREACH,
    )


def monitoring(slugs: Sequence[str]) -> Query:
    """Distinct people by exploitation type and region across all lists, small cells hidden."""
    group_by = ["exploitation_type", "region"]
    return Query(
        "people by exploitation type and region, each counted once",
        "aggregate",
        {
            "statistic": "count",
            "value_column": None,
            "group_by": group_by,
            "dedup_by": IDENTIFIER,
            "min_group_size": MIN_GROUP_SIZE,
        },
        slugs[0],
        tuple(slugs),
        (IDENTIFIER, *group_by),
        (slugs[0],),
        MONITORING,
    )


def union_size(slugs: Sequence[str]) -> Query:
    """How many distinct people all lists hold together."""
    return Query(
        "distinct people across all lists",
        "union_size",
        {},
        slugs[0],
        tuple(slugs),
        (IDENTIFIER,),
        (slugs[0],),
        MONITORING,
    )


def bound_for(rows: int) -> int:
    """The public input bound a provider declares: its row count rounded up to 100."""
    return max(BOUND_STEP, math.ceil(rows / BOUND_STEP) * BOUND_STEP)


def draft(space: LocalDataSpace, query: Query, rows: Mapping[str, int]) -> dict[str, Any]:
    """The manifest draft of ``query``: what the proposer's node completes and signs.

    The first three members are the compute parties; ``rows`` gives each provider's row count.
    """
    members = [node.node_id for node in space.nodes]
    return {
        "kind": query.kind,
        "parameters": dict(query.parameters),
        "inputs": [
            {
                "provider": space.node(slug).node_id,
                "dataset": slug,
                "columns": sorted(query.columns),
                "bound": bound_for(rows[slug]),
            }
            for slug in query.providers
        ],
        "compute_parties": sorted(members[:COMPUTE_PARTIES]),
        "recipients": sorted(space.node(slug).node_id for slug in query.recipients),
        "purpose": query.purpose,
        "data_space": space.data_space,
    }


def expected(query: Query, data: Synthetic) -> Any:
    """The plaintext answer of ``query`` on the generated lists (``node.oracle``)."""
    tables = [data.organisation(slug).columns for slug in query.providers]
    lists = [data.organisation(slug).identifiers for slug in query.providers]
    if query.kind == "set_difference":
        return oracle.set_difference(lists[0], lists[1:], int(query.parameters["limit"]))
    if query.kind == "union_size":
        return oracle.union_size(lists)
    if query.kind == "aggregate":
        parameters = query.parameters
        return oracle.aggregate(
            tables,
            statistic=str(parameters["statistic"]),
            value_column=parameters["value_column"],
            group_by=tuple(parameters["group_by"]),
            dedup_by=parameters["dedup_by"],
            min_group_size=int(parameters["min_group_size"]),
            vocabularies=_vocabularies(data, query.providers[0]),
        )
    raise LocalSpaceError("query_unsupported", f"no plaintext check for {query.kind}")


def _vocabularies(data: Synthetic, slug: str) -> dict[str, list[str]]:
    """Each category column's values, from the import schema (the cells a result has)."""
    columns = data.organisation(slug).schema["columns"]
    return {
        c["name"]: [fold_category(v) for v in c["values"]]
        for c in columns
        if c["type"] == "category"
    }


def compare(query: Query, body: Mapping[str, Any], answer: Any) -> bool:
    """Whether a run's result ``body`` is a correct answer to ``query``."""
    if query.kind == "set_difference":
        return bool(answer.accepts(list(body.get("identifiers", []))))
    if query.kind == "union_size":
        return bool(body.get("size") == answer)
    if query.kind == "aggregate":
        return _cells(body) == dict(answer.cells)
    return False


def _cells(body: Mapping[str, Any]) -> dict[tuple[str, ...], int | None]:
    """An aggregate result's cells keyed by their group values."""
    cells: dict[tuple[str, ...], int | None] = {}
    for cell in body.get("cells", []):
        key = tuple(str(v) for v in cell.get("group", cell.get("key", [])))
        cells[key] = cell.get("value")
    return cells


# -- proposing and following -------------------------------------------------------------------


def propose(client: AdminClient, manifest_draft: Mapping[str, Any]) -> str:
    """Propose a computation at ``client``'s node; its manifest id.

    ``computations_unavailable`` if the node does not serve the computations resource.
    """
    try:
        body = client.post("/computations", dict(manifest_draft))
    except ApiError as error:
        if error.status in (404, 405) and error.code in ("not_found", "method_not_allowed"):
            raise LocalSpaceError(
                "computations_unavailable", "these nodes do not serve computations yet"
            ) from None
        raise
    found = _find(body, ("manifest_id", "id"))
    if not isinstance(found, str):
        raise LocalSpaceError("proposal_unreadable", "the proposal's answer names no manifest")
    return found


def result(client: AdminClient, manifest_id: str) -> dict[str, Any]:
    """The result body of a completed computation, as its recipient holds it."""
    body = client.get(f"/computations/{manifest_id}/result")
    inner = _find(body, ("result", "body"))
    return dict(inner) if isinstance(inner, Mapping) else dict(body)


def _find(body: Any, names: Sequence[str]) -> Any:
    """The first of ``names`` in ``body`` or in its one nested object."""
    if not isinstance(body, Mapping):
        return None
    for name in names:
        if name in body:
            return body[name]
    for value in body.values():
        if isinstance(value, Mapping):
            found = _find(value, names)
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class Timed:
    """An event and the monotonic time it arrived."""

    at: float
    event: dict[str, Any]


class EventFollower:
    """A node's event stream, read in a daemon thread from before a proposal is made."""

    def __init__(self, client: AdminClient, *, timeout: float = 30.0) -> None:
        self.client = client
        self.events: queue.Queue[Timed | None] = queue.Queue()
        before = _subscribers(client)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while _subscribers(client) <= before:
            if time.monotonic() > deadline:
                raise LocalSpaceError("events_unavailable", "could not follow the node's events")
            time.sleep(0.02)

    def _read(self) -> None:
        try:
            for event in self.client.events():
                self.events.put(Timed(time.monotonic(), event))
        except (NodeError, OSError, ValueError):
            pass
        finally:
            self.events.put(None)

    def until_done(
        self,
        manifest_id: str,
        timeout: float,
        on_event: Callable[[Timed], None] = lambda _: None,
    ) -> list[Timed]:
        """The events of ``manifest_id`` up to its ``run.completed`` or ``run.aborted``."""
        deadline = time.monotonic() + timeout
        seen: list[Timed] = []
        while True:
            try:
                item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise LocalSpaceError(
                    "run_timeout", "the computation did not end in time"
                ) from None
            if item is None:
                raise LocalSpaceError("events_ended", "the node's event stream ended")
            if item.event["data"].get("manifest_id") != manifest_id:
                continue
            seen.append(item)
            on_event(item)
            if item.event["event"] == "run.aborted":
                reason = item.event["data"].get("reason", "unknown")
                raise LocalSpaceError("run_aborted", f"the run aborted ({reason})")
            if item.event["event"] == "run.completed":
                return seen


def _subscribers(client: AdminClient) -> int:
    return int(client.get("/status").get("events", {}).get("subscribers", 0))
