"""Tests for node/catalog/exchange.py over real loopback links between in-process nodes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import structlog

from network import canonical
from network.errors import NetworkError
from node.catalog import CATALOG_SESSION, CatalogAnswerError
from node.catalog.exchange import MAX_WAITING
from node.datasets.catalog import CatalogEntry, rounded_rows
from node.errors import ForbiddenError, InvalidError, UnavailableError
from tests.node.catalog.harness import NOW, linked, open_services, steward

pytestmark = pytest.mark.asyncio


def _names(entries: tuple[CatalogEntry, ...]) -> list[str]:
    return [entry.dataset for entry in entries]


async def test_a_requester_with_the_role_sees_the_dataset_with_a_rounded_count(
    tmp_path: Path,
) -> None:
    """The LEA member sees `clients` (123 rows shown as 130, public columns only), not `empty`."""
    owner, lea = open_services(tmp_path, ["owner", "lea"])
    steward(owner, {lea.identity.node_id: ["lea"]})
    async with linked([owner, lea]) as (first, asker):
        remote = await asker.catalogs.fetch(first.node_id)
    assert remote.node_id == owner.identity.node_id
    assert not remote.truncated
    (entry,) = remote.entries
    assert entry.dataset == "clients"
    assert entry.rows == rounded_rows(123) == 130
    assert list(entry.columns) == [
        {"name": "name", "type": "identifier"},
        {"name": "type", "type": "category", "values": ["labour", "sexual"]},
        {"name": "region", "type": "category"},
    ]
    assert remote.fetched_at == NOW


async def test_a_requester_without_the_role_sees_nothing_of_it(tmp_path: Path) -> None:
    """A care member is answered an empty catalog: `clients` is not listed at all."""
    owner, care = open_services(tmp_path, ["owner", "care"])
    steward(owner, {care.identity.node_id: ["care"]})
    async with linked([owner, care]) as (first, asker):
        remote = await asker.catalogs.fetch(first.node_id)
    assert remote.entries == ()
    assert not remote.truncated


async def test_a_non_member_is_refused_with_a_code(tmp_path: Path) -> None:
    """A linked node the owner knows in none of its data spaces gets 403 not_a_member."""
    owner, stranger = open_services(tmp_path, ["owner", "stranger"])
    steward(owner, {})
    async with linked([owner, stranger]) as (first, asker):
        with pytest.raises(ForbiddenError) as caught:
            await asker.catalogs.fetch(first.node_id)
        assert asker.catalogs.cached(first.node_id, NOW) is None
    assert caught.value.code == "not_a_member"
    assert caught.value.http_status == 403


async def test_the_answer_is_cached_and_refreshed_on_request(tmp_path: Path) -> None:
    """A second fetch within the cache time is not asked again; refresh asks anew."""
    owner, lea = open_services(tmp_path, ["owner", "lea"])
    steward(owner, {lea.identity.node_id: ["lea"]})
    async with linked([owner, lea]) as (first, asker):
        one = await asker.catalogs.fetch(first.node_id)
        owner.policies.retire("pol-clients", now=NOW)
        assert await asker.catalogs.fetch(first.node_id) is one
        fresh = await asker.catalogs.fetch(first.node_id, refresh=True)
        channel = next(iter(asker.catalogs._channels.values()))
    assert _names(one.entries) == ["clients"]
    assert fresh.entries == ()
    assert channel.asked == 2


async def test_both_ends_of_a_link_may_ask_each_other(tmp_path: Path) -> None:
    """Queries cross on one session, each answered by the other side's own knowledge: the
    member holds no charter, so it knows the owner in no data space and refuses it."""
    owner, lea = open_services(tmp_path, ["owner", "lea"])
    steward(owner, {lea.identity.node_id: ["lea"]})
    async with linked([owner, lea]) as (first, asker):
        theirs, mine = await asyncio.gather(
            asker.catalogs.fetch(first.node_id),
            first.catalogs.fetch(asker.node_id),
            return_exceptions=True,
        )
    assert not isinstance(theirs, BaseException)
    assert _names(theirs.entries) == ["clients"]
    assert isinstance(mine, ForbiddenError)
    assert mine.code == "not_a_member"


async def test_a_malformed_query_ends_the_session_and_the_node_keeps_serving(
    tmp_path: Path,
) -> None:
    """Garbage on session 4 is aborted with a code and logged once; others are still served."""
    owner, rogue, lea = open_services(tmp_path, ["owner", "rogue", "lea"])
    steward(owner, {rogue.identity.node_id: ["lea"], lea.identity.node_id: ["lea"]})
    async with linked([owner, rogue, lea]) as (first, bad, good):
        link = bad.host.link(first.node_id)
        assert link is not None
        session = link.session(CATALOG_SESSION, "catalog")
        with structlog.testing.capture_logs() as logs:
            await session.send("q1", (np.frombuffer(b"\xc1not msgpack", dtype=np.uint8),))
            with pytest.raises(NetworkError):
                await session.receive("a1", timeout=5)
        rejected = [log for log in logs if log["event"] == "catalog.rejected"]
        assert len(rejected) == 1
        assert rejected[0]["code"] == "catalog_malformed"
        remote = await good.catalogs.fetch(first.node_id)
        assert _names(remote.entries) == ["clients"]
        assert not link.is_closed
    assert "not msgpack" not in str(logs)


async def test_an_answer_of_the_wrong_kind_or_unasked_is_refused(tmp_path: Path) -> None:
    """A peer answering with a query, or answering what nobody asked, ends the session."""
    owner, lea = open_services(tmp_path, ["owner", "lea"])
    steward(owner, {lea.identity.node_id: ["lea"]})
    async with linked([owner, lea]) as (first, asker):
        link = first.host.link(asker.node_id)
        assert link is not None
        session = link.session(CATALOG_SESSION, "catalog")
        with structlog.testing.capture_logs() as logs:
            unasked = canonical.encode({"v": 1, "type": "refused", "code": "not_a_member"})
            await session.send("a1", (np.frombuffer(unasked, dtype=np.uint8),))
            with pytest.raises(NetworkError):
                await session.receive("never", timeout=5)
        assert [log["message"] for log in logs if log["event"] == "catalog.rejected"] == ["answer"]
        with pytest.raises(UnavailableError) as caught:
            await asker.catalogs.fetch(first.node_id)
    assert caught.value.code == "catalog_session_ended"


async def test_a_malformed_answer_fails_the_fetch_with_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer with an unrounded count is refused: 502 catalog_malformed, session ended."""
    owner, lea = open_services(tmp_path, ["owner", "lea"])
    steward(owner, {lea.identity.node_id: ["lea"]})
    async with linked([owner, lea]) as (first, asker):
        link = first.host.link(asker.node_id)
        assert link is not None
        monkeypatch.setattr(first.catalogs, "on_session", lambda session: None)  # silent owner
        session = link.session(CATALOG_SESSION, "catalog")
        fetch = asyncio.ensure_future(asker.catalogs.fetch(first.node_id))
        await session.receive("q1", timeout=5)
        entry = {
            "dataset": "clients",
            "columns": [{"name": "a", "type": "identifier"}],
            "rows": 123,
        }
        bad = canonical.encode({"v": 1, "type": "catalog", "entries": [entry], "truncated": False})
        await session.send("a1", (np.frombuffer(bad, dtype=np.uint8),))
        with pytest.raises(CatalogAnswerError) as caught:
            await fetch
    assert caught.value.code == "catalog_malformed"
    assert caught.value.http_status == 502


async def test_a_peer_that_never_answers_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query left unanswered fails at the deadline with catalog_timeout."""
    owner, lea = open_services(tmp_path, ["owner", "lea"])
    steward(owner, {lea.identity.node_id: ["lea"]})
    async with linked([owner, lea], deadline=0.5) as (first, asker):
        monkeypatch.setattr(first.catalogs, "on_session", lambda session: None)  # silent owner
        with pytest.raises(UnavailableError) as caught:
            await asker.catalogs.fetch(first.node_id)
        channel = next(iter(asker.catalogs._channels.values()))
        assert channel.waiting == {}
    assert caught.value.code == "catalog_timeout"


async def test_too_many_waiting_queries_are_refused_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_WAITING unanswered queries on a link, a fetch fails with catalog_busy."""
    owner, lea = open_services(tmp_path, ["owner", "lea"])
    steward(owner, {lea.identity.node_id: ["lea"]})
    async with linked([owner, lea], deadline=2.0) as (first, asker):
        monkeypatch.setattr(first.catalogs, "on_session", lambda session: None)
        waiting = [
            asyncio.ensure_future(asker.catalogs.fetch(first.node_id, refresh=True))
            for _ in range(MAX_WAITING)
        ]
        await asyncio.sleep(0.2)
        with pytest.raises(UnavailableError) as caught:
            await asker.catalogs.fetch(first.node_id, refresh=True)
        for task in waiting:
            with pytest.raises(UnavailableError):
                await task
    assert caught.value.code == "catalog_busy"


async def test_an_unknown_peer_is_unreachable_and_its_own_id_is_refused(tmp_path: Path) -> None:
    """No link and no address: peer_unreachable at the deadline; this node's id: own_node."""
    owner, lea, absent = open_services(tmp_path, ["owner", "lea", "absent"])
    steward(owner, {lea.identity.node_id: ["lea"]})
    async with linked([owner, lea], deadline=0.3) as (first, _asker):
        with pytest.raises(UnavailableError) as caught:
            await first.catalogs.fetch(absent.identity.node_id)
        with pytest.raises(InvalidError) as own:
            await first.catalogs.fetch(first.node_id)
    await absent.aclose("test_ended")
    assert caught.value.code in {"peer_unreachable", "catalog_timeout"}
    assert own.value.code == "own_node"
