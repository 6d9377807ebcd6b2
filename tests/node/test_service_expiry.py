"""A running node deletes a dataset whose retention ended, audits it and tells subscribers."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import AdminConfig, NodeConfig, PeerConfig
from node.errors import NotFoundError
from node.home import create_home
from node.service import NodeService

NOW = 1_780_000_000
CSV = b"name,dob\nJan Jansen,1990-01-31\nPiet Smit,1985-06-01\n"


@pytest.mark.asyncio
async def test_started_node_deletes_expired_data_and_audits_it(tmp_path: Path) -> None:
    """At start (and every minute) the node deletes what expired; what has not stays."""
    config = NodeConfig(name="NGO A", peer=PeerConfig(port=0), admin=AdminConfig(port=0))
    home, _ = create_home(tmp_path / "home", config)
    clock = [NOW]
    service = NodeService.open(home, clock=lambda: clock[0])
    try:
        service.datasets.import_bytes("short", CSV, now=NOW, expires_at=NOW + 10)
        service.datasets.import_bytes("long", CSV, now=NOW, expires_at=NOW + 1000)
        clock[0] = NOW + 20
        subscription = service.events.subscribe()
        await service.start()
        event = await subscription.next(timeout=5)
        assert event is not None
        assert (event.kind, dict(event.data)) == (
            "dataset.deleted",
            {"dataset": "short", "reason": "expired"},
        )
        with pytest.raises(NotFoundError):
            service.datasets.get("short")
        assert service.datasets.get("long").row_count == 2
        deleted = [e for e in service.audit.entries() if e.event == "dataset.deleted"]
        assert len(deleted) == 1
        assert deleted[0].details["reason"] == "expired"
        assert deleted[0].time == NOW + 20
        subscription.close()
    finally:
        await service.aclose("test_ended")
