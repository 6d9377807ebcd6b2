"""The peer host's handshake rate limit: a token bucket per remote address (unit, with time as
a parameter) and over real sockets (excess upgrades get 429 before any Noise work)."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from network.channel import PATH, allow_nodes
from network.evilpeer import RawConnection, new_party
from network.host import HandshakeLimit, PeerHost

A, B = "192.0.2.1", "192.0.2.2"


def test_bucket_allows_the_burst_then_the_rate() -> None:
    """Burst 3 at once, the 4th refused; one token back per 1/rate seconds, never above burst."""
    limit = HandshakeLimit(rate=2.0, burst=3, exempt=frozenset())
    assert [limit.allow(A, 100.0) for _ in range(4)] == [True, True, True, False]
    assert not limit.allow(A, 100.4)  # 0.8 of a token
    assert limit.allow(A, 100.5)
    assert not limit.allow(A, 100.5)
    assert [limit.allow(A, 1000.0) for _ in range(4)] == [True, True, True, False]


def test_addresses_have_their_own_buckets_and_exempt_ones_none() -> None:
    """One address running dry leaves another's bucket full; exempt addresses are not counted."""
    limit = HandshakeLimit(rate=1.0, burst=1, exempt=frozenset({"127.0.0.1"}))
    assert limit.allow(A, 0.0)
    assert not limit.allow(A, 0.0)
    assert limit.allow(B, 0.0)
    assert all(limit.allow("127.0.0.1", 0.0) for _ in range(100))


def test_bucket_table_is_bounded_and_logs_once_per_dry_spell() -> None:
    """At most max_addresses buckets; a dry spell is one throttled line, without the address."""
    limit = HandshakeLimit(rate=1.0, burst=1, exempt=frozenset(), max_addresses=8)
    for index in range(100):
        limit.allow(f"198.51.100.{index}", 0.0)
    assert len(limit._buckets) == 8
    with capture_logs() as logs:
        for _ in range(5):
            limit.allow(A, 0.0)
        limit.allow(A, 5.0)  # refilled
        for _ in range(3):
            limit.allow(A, 5.0)
    assert [e["event"] for e in logs] == ["handshake.throttled", "handshake.throttled"]
    assert A not in repr(logs)


def test_bad_settings_are_refused() -> None:
    """A zero rate or burst is a programming error, refused at construction."""
    with pytest.raises(ValueError, match="positive"):
        HandshakeLimit(rate=0.0)
    with pytest.raises(ValueError, match="positive"):
        HandshakeLimit(burst=0)


@pytest.mark.asyncio
async def test_excess_upgrades_get_429_before_any_noise_work() -> None:
    """Over real sockets: the burst's upgrades get 101; the next gets 429 and never reaches the
    handshake (no link.refused); a dialler is let in again once its bucket refilled."""
    dialler_party, target_party = new_party(61), new_party(62)
    allowed = allow_nodes([dialler_party.identity.node_id, target_party.identity.node_id])
    limit = HandshakeLimit(rate=4.0, burst=2, exempt=frozenset())
    target = PeerHost(target_party, allowed, handshake_limit=limit)
    dialler = PeerHost(dialler_party, allowed)
    await target.start()
    await dialler.start()
    raws: list[RawConnection] = []
    try:
        with capture_logs() as logs:
            for _ in range(2):
                raws.append(raw := await RawConnection.open(target.port))
                assert await asyncio.wait_for(raw.upgrade(target.port), 3) == 101
            raws.append(raw := await RawConnection.open(target.port))
            assert await asyncio.wait_for(raw.upgrade(target.port), 3) == 429
            await asyncio.sleep(0.3)  # about one token back
            link = await dialler.connect(target.node_id, target.url, deadline=5)
            assert link.peer.node_id == target.node_id
        events = [e["event"] for e in logs]
        assert events.count("handshake.throttled") == 1
        assert "link.refused" not in events  # the refused upgrade never reached Noise
        assert target.url.endswith(PATH)
    finally:
        for raw in raws:
            raw.close()
        await dialler.aclose()
        await target.aclose()
