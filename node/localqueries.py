"""Computations on a local data space: manifest drafts, plaintext answers, propose and follow.

What ``confide demo`` and ``confide bench queries`` share. A :class:`Query` names a kind, its
parameters, the providers (member slugs; the first is the proposer's own list), the columns each
provides, the recipients and the purpose; :func:`draft` turns it into the manifest draft that
``POST /api/v1/computations`` takes (node ids, public input bounds, compute parties —
``docs/reference/api.md``). :func:`expected` is the plaintext answer (``node.oracle``) on the
generated lists, and :func:`compare` says whether a run's result matches it.

:class:`EventFollower` subscribes to a node's event stream (``/api/v1/events``) *before* a
proposal is made; :meth:`EventFollower.run` proposes a draft and follows its events —
``negotiation.updated``, ``agreement.finalized``, ``run.started``, ``run.progressed`` — to
``run.completed``, so the demo can show progress and the benchmark can split consent time
(proposal to ``run.started``) from compute time (``run.started`` to ``run.completed``). A
refusal, a run that cannot start or an aborted run raises with its reason code.
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
from node.client import AdminClient
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


def expected(query: Query, data: Synthetic, node_ids: Mapping[str, str] | None = None) -> Any:
    """The plaintext answer of ``query`` on the generated lists (``node.oracle``).

    ``node_ids`` maps each provider's slug to its node id. A deduplicated ``aggregate`` counts a
    person at the first provider *in the manifest's order* — inputs sorted by provider node id —
    so with ``node_ids`` the oracle's tables are put in that order; without it, the order of
    ``query.providers`` is taken as the manifest's. The other kinds do not depend on the order
    (a set difference is always the proposer's list minus the others).
    """
    providers = list(query.providers)
    if node_ids is not None:
        providers.sort(key=lambda slug: node_ids[slug])
    lists = [data.organisation(slug).identifiers for slug in query.providers]
    if query.kind == "set_difference":
        return oracle.set_difference(lists[0], lists[1:], int(query.parameters["limit"]))
    if query.kind == "union_size":
        return oracle.union_size(lists)
    if query.kind == "aggregate":
        parameters = query.parameters
        return oracle.aggregate(
            [data.organisation(slug).columns for slug in providers],
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
    """Whether a run's ``result`` (the ``result`` member of ``GET /computations/{id}/result``)
    is a correct answer to ``query``: for a set difference, ``min(limit, size)`` distinct
    candidates; for a union, the exact size; for an aggregate, every cell — suppressed ones
    (``null``) included — and no cell more."""
    if query.kind == "set_difference":
        identifiers = body.get("identifiers")
        return isinstance(identifiers, list) and bool(answer.accepts(identifiers))
    if query.kind == "union_size":
        return bool(body.get("size") == answer)
    if query.kind == "aggregate":
        cells = _cells(body)
        return cells is not None and cells == dict(answer.cells)
    return False


def _cells(body: Mapping[str, Any]) -> dict[tuple[str, ...], int | None] | None:
    """An aggregate result's cells keyed by their group values; None if a group repeats."""
    cells: dict[tuple[str, ...], int | None] = {}
    for cell in body.get("cells", []):
        key = tuple(str(v) for v in cell["group"])
        if key in cells:
            return None
        cells[key] = cell["value"]
    return cells


# -- proposing and following -------------------------------------------------------------------


def result(client: AdminClient, manifest_id: str) -> dict[str, Any]:
    """The ``result`` member of a completed computation's result, as its recipient holds it."""
    body: dict[str, Any] = client.get(f"/computations/{manifest_id}/result")["result"]
    return body


@dataclass(frozen=True)
class Timed:
    """An event and the monotonic time it arrived."""

    at: float
    event: dict[str, Any]


@dataclass(frozen=True)
class Followed:
    """A computation followed from its proposal to ``run.completed``, with its phases' times.

    Consent runs from just before the proposal was sent until ``run.started`` (requests, each
    provider's signed decision, counter-signatures, finalisation); compute from ``run.started``
    until ``run.completed``.
    """

    manifest_id: str
    run_id: str
    proposed_at: float
    started_at: float
    completed_at: float
    events: tuple[Timed, ...]

    @property
    def consent_seconds(self) -> float:
        """Proposal sent until the run started."""
        return self.started_at - self.proposed_at

    @property
    def compute_seconds(self) -> float:
        """Run started until it completed."""
        return self.completed_at - self.started_at


class EventFollower:
    """A node's event stream, read in a daemon thread from before a proposal is made.

    One follower serves any number of computations proposed at its node, one after the other.
    """

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

    def run(
        self,
        manifest_draft: Mapping[str, Any],
        timeout: float,
        on_event: Callable[[Timed], None] = lambda _: None,
    ) -> Followed:
        """Propose ``manifest_draft`` at this node and follow it until its run completed.

        ``on_event`` sees each event of the computation as it arrives. Raises
        :class:`~node.localspace.LocalSpaceError`: ``consent_refused`` (a provider refused;
        its reason code is in the message), ``run_start_failed``, ``run_aborted`` (with its
        reason), ``run_timeout``, ``events_ended``; an :class:`~node.client.ApiError` if the
        node refuses the draft itself.
        """
        proposed_at = time.monotonic()
        view = self.client.post("/computations", dict(manifest_draft))
        manifest_id = str(view["manifest_id"])
        deadline = proposed_at + timeout
        seen: list[Timed] = []
        started: Timed | None = None
        while True:
            item = self._next(deadline)
            data = item.event["data"]
            if data.get("manifest_id") != manifest_id:
                continue
            seen.append(item)
            on_event(item)
            kind = item.event["event"]
            if kind == "negotiation.updated" and data.get("state") == "TERMINATED":
                reason = data.get("reason") or "unknown"
                raise LocalSpaceError("consent_refused", f"a provider refused ({reason})")
            if kind == "run.start_failed":
                reason = data.get("reason") or "unknown"
                raise LocalSpaceError("run_start_failed", f"the run could not start ({reason})")
            if kind == "run.aborted":
                reason = data.get("reason") or "unknown"
                raise LocalSpaceError("run_aborted", f"the run aborted ({reason})")
            if kind == "run.started" and started is None:
                started = item
            if kind == "run.completed":
                begun = started or item
                return Followed(
                    manifest_id, str(data["run_id"]), proposed_at, begun.at, item.at, tuple(seen)
                )

    def _next(self, deadline: float) -> Timed:
        try:
            item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise LocalSpaceError("run_timeout", "the computation did not end in time") from None
        if item is None:
            raise LocalSpaceError("events_ended", "the node's event stream ended")
        return item


def _subscribers(client: AdminClient) -> int:
    return int(client.get("/status").get("events", {}).get("subscribers", 0))
