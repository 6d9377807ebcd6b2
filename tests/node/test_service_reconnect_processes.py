"""The mesh heals after a node restarts, over separate node processes.

The governance node is the one every other member bootstraps from and it has no bootstrap node
of its own; restarted on a new peer port (``port = 0``), it is linked again only because it
dials the peers of its address book and they re-dial their bootstrap node. A new computation
that needs it then completes.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from node import localqueries
from node.localspace import LocalNode
from node.synthetic.config import proof_of_concept
from tests.node.e2e_helpers import expected, run_ended, running_space, start, stop, wait_for

pytestmark = pytest.mark.processes


@pytest.mark.timeout(300)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_restarted_governance_node_is_reachable_again_and_computes(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """The LEA (governance) stops and comes back on another port: within seconds every node
    links to it again, and NGO A's new computation with the LEA in it matches plaintext."""
    with running_space(tmp_path / "space", proof_of_concept(200, seed=13)) as (space, data, rows):
        lea, ngo_a, ngo_b = space.nodes
        wait_remembered(lea, [ngo_a, ngo_b])
        old_port = lea.peer_port
        assert lea.process is not None
        lea.process.send_signal(signum)
        lea.process.wait(timeout=30)
        stop(lea)
        start(space, lea, connected=False)
        assert lea.peer_port != old_port
        space.wait_connected(timeout=60)

        slugs = ["ngo-a", "lea", "ngo-b"]
        query = localqueries.union_size(slugs)
        client = ngo_a.client()
        proposed = client.post("/computations", localqueries.draft(space, query, rows))
        done = wait_for(client, proposed["manifest_id"], run_ended, 120)
        assert done["run"] is not None, done
        assert done["run"]["state"] == "completed", done["run"]
        result = client.get(f"/computations/{proposed['manifest_id']}/result")["result"]
        assert localqueries.compare(query, result, expected(space, query, data))
        own = lea.client().get(f"/computations/{proposed['manifest_id']}")
        assert own["run"]["state"] == "completed"


def wait_remembered(node: LocalNode, peers: Sequence[LocalNode], timeout: float = 20.0) -> None:
    """Wait until ``node``'s address book (its store, read-only) holds every one of ``peers``:
    what a kill -9 leaves it to dial when it comes back."""
    deadline = time.monotonic() + timeout
    wanted = {peer.node_id for peer in peers}
    while True:
        store = sqlite3.connect(f"file:{node.home / 'store.sqlite'}?mode=ro", uri=True)
        try:
            held = {row[0] for row in store.execute("SELECT node_id FROM peer_addresses")}
        except sqlite3.OperationalError:  # not migrated yet
            held = set()
        finally:
            store.close()
        if wanted <= held:
            return
        assert time.monotonic() < deadline, "the address book was never written"
        time.sleep(0.2)
