"""A local data space of real node processes: what ``confide demo`` and ``bench queries`` run on.

:class:`LocalDataSpace` does, under one directory ``root``, what operators do by hand
(``docs/how-to/run-a-node.md``, ``join-a-data-space.md``)::

    root/
      lea/  ngo-a/  ngo-b/ …     one node home each (``confide init`` semantics, ports 0)
      logs/lea.log …             each node's stderr (JSON lines)

1. :meth:`~LocalDataSpace.create` makes every home, a charter signed by the first member (the
   governance node) with the roles ``lea``/``ngo``/``care`` and the purposes of
   :data:`PURPOSES`, and a membership credential for every member.
2. :meth:`~LocalDataSpace.start` starts the governance node as its own ``confide run`` process,
   reads its ready line (``node.started``: the peer and admin ports it bound), lets every other
   member join with the governance node as bootstrap, starts them all, and waits until every
   node has discovered every other one. Any failure stops whatever was started and raises.
3. :meth:`~LocalDataSpace.stop` sends SIGTERM to each node, waits ``stop_timeout`` and kills
   what is still running; it returns each member's exit code. The default of 20 s leaves room
   for a node whose peer froze: closing that link waits for the link's own close timeout (10 s).

Each node runs in its own session (``start_new_session``): a Ctrl-C in the terminal reaches only
the orchestrating process, which then stops the nodes cleanly — or, with ``keep``, leaves them
running. Data and policies go through each node's admin API (:class:`~node.client.AdminClient`),
exactly as an operator's ``confide dataset import`` and ``confide policy create`` do.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from network.dataspace import Charter, MembershipCredential
from node.audit import AuditLog
from node.client import AdminClient
from node.commands.dataset import multipart
from node.config import parse_config
from node.dataspaces import DataSpaces
from node.errors import ConflictError, NodeError, UnavailableError
from node.home import Home, create_home
from node.store import open_store

DATA_SPACE: Final = "nl-human-trafficking"
ROLES: Final = ("care", "lea", "municipality", "ngo")
OUTREACH: Final = "victim-outreach"
MONITORING: Final = "prevalence-monitoring"
PURPOSES: Final = (MONITORING, OUTREACH)
READY_EVENT: Final = "node.started"
DELIMITERS: Final = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
MONITORING_COLUMNS: Final = (
    "age_band",
    "exploitation_type",
    "name_dob",
    "nationality",
    "region",
    "registration_year",
)
MIN_GROUP_SIZE: Final = 5
RESULT_LIMIT: Final = 5
POLL: Final = 0.05


class LocalSpaceError(NodeError):
    """The local data space could not be set up, started or reached (``code`` says which)."""


@dataclass(frozen=True)
class Member:
    """One organisation: ``slug`` names its home directory and its dataset; ``role`` its role."""

    slug: str
    name: str
    role: str


_DEFAULT_MEMBERS: Final = (
    Member("lea", "LEA", "lea"),
    Member("ngo-a", "NGO A", "ngo"),
    Member("ngo-b", "NGO B", "ngo"),
    Member("care", "Care provider", "care"),
    Member("municipality", "Municipality", "municipality"),
)


def default_members(count: int = 3) -> tuple[Member, ...]:
    """An LEA first (the governance node), then NGO A, NGO B, a care provider, a municipality,
    then further NGOs: the organisations of ``node.synthetic``'s configurations, in order."""
    if count < 1:
        raise LocalSpaceError("members_invalid", "a data space needs at least one member")
    extra = [Member(f"ngo-{i}", f"NGO {i}", "ngo") for i in range(3, count - 1)]
    return (_DEFAULT_MEMBERS + tuple(extra))[:count]


@dataclass
class LocalNode:
    """One member's node: its home, log, process (while running) and admin client."""

    member: Member
    home: Path
    log_path: Path
    node_id: str
    process: subprocess.Popen[bytes] | None = None
    admin: AdminClient | None = None
    peer_port: int | None = None
    exit_code: int | None = field(default=None)

    @property
    def pid(self) -> int | None:
        """The process id while it is started."""
        return None if self.process is None else self.process.pid

    @property
    def peer_url(self) -> str:
        """The address other nodes dial (after start)."""
        return f"ws://127.0.0.1:{self.peer_port}/confide/v1"

    def client(self) -> AdminClient:
        """The admin client (after start)."""
        if self.admin is None:
            raise UnavailableError("node_not_running", f"{self.member.name} is not running")
        return self.admin


class LocalDataSpace:
    """The members' nodes under ``root``, as separate ``confide run`` processes on loopback."""

    def __init__(
        self,
        root: Path | str,
        members: Sequence[Member] | None = None,
        *,
        data_space: str = DATA_SPACE,
        ready_timeout: float = 60.0,
        stop_timeout: float = 20.0,
        keep: bool = False,
    ) -> None:
        self.root = Path(root).absolute()
        self.members = tuple(members or default_members())
        if len({m.slug for m in self.members}) != len(self.members):
            raise LocalSpaceError("members_invalid", "member slugs must be distinct")
        self.data_space = data_space
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.keep = keep
        self.nodes: list[LocalNode] = []
        self._credentials: dict[str, MembershipCredential] = {}
        self._charter: Charter | None = None

    def __repr__(self) -> str:
        return f"LocalDataSpace({str(self.root)!r}, {len(self.members)} members)"

    def node_ids(self) -> dict[str, str]:
        """Each member's node id by slug (after :meth:`create`)."""
        return {node.member.slug: node.node_id for node in self.nodes}

    def node(self, slug: str) -> LocalNode:
        """The node of member ``slug``."""
        for node in self.nodes:
            if node.member.slug == slug:
                return node
        raise LocalSpaceError("member_unknown", f"no member {slug!r} in this data space")

    # -- set up ------------------------------------------------------------------------------

    def create(self, now: int) -> None:
        """Every home, the charter (first member governs) and every member's credential."""
        if self.root.exists() and any(self.root.iterdir()):
            raise ConflictError("root_not_empty", "the local data space directory is not empty")
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        for member in self.members:
            config = parse_config(
                {
                    "node": {"name": member.name, "data_space": self.data_space},
                    "peer": {"host": "127.0.0.1", "port": 0},
                    "admin": {"host": "127.0.0.1", "port": 0},
                }
            )
            home, identity = create_home(self.root / member.slug, config)
            log_path = self.root / "logs" / f"{member.slug}.log"
            self.nodes.append(LocalNode(member, home.path, log_path, identity.node_id))
        with _dataspaces(self.nodes[0].home) as spaces:
            self._charter = spaces.create(
                self.data_space,
                roles=sorted({*ROLES, *(m.role for m in self.members)}),
                purposes=PURPOSES,
                now=now,
            )
            for node in self.nodes:
                credential = spaces.issue(self.data_space, node.node_id, [node.member.role], now)
                self._credentials[node.member.slug] = credential

    def _join(self, node: LocalNode, bootstrap: str, now: int) -> None:
        """``confide dataspace join`` of ``node`` with the governance node as bootstrap."""
        assert self._charter is not None
        with _dataspaces(node.home) as spaces:
            spaces.join(self._charter, self._credentials[node.member.slug], [bootstrap], now)

    # -- start -------------------------------------------------------------------------------

    def start(self, now: int) -> list[AdminClient]:
        """Start every node, wait until each is ready and knows every other; their clients.

        On any failure every process started so far is stopped before the error propagates.
        """
        if not self.nodes:
            raise LocalSpaceError("not_created", "create the local data space before starting it")
        try:
            governance = self.nodes[0]
            self._launch(governance)
            self._wait_ready([governance])
            bootstrap = f"{governance.node_id}@{governance.peer_url}"
            for node in self.nodes[1:]:
                self._join(node, bootstrap, now)
                self._launch(node)
            self._wait_ready(self.nodes[1:])
            self.wait_connected()
        except BaseException:
            self.stop()
            raise
        return [node.client() for node in self.nodes]

    def _launch(self, node: LocalNode) -> None:
        with node.log_path.open("ab") as log:
            node.process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
                [sys.executable, "-m", "node.cli", "run", "--home", str(node.home)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        node.exit_code = None

    def _wait_ready(self, nodes: Sequence[LocalNode]) -> None:
        """Read each node's ready line from its log (its ports); fail fast if one exits."""
        deadline = time.monotonic() + self.ready_timeout
        waiting = list(nodes)
        while waiting:
            for node in list(waiting):
                ready = _ready_line(node.log_path)
                if ready is not None:
                    node.peer_port = int(ready["peer_port"])
                    node.admin = AdminClient.from_home(node.home, timeout=60.0)
                    waiting.remove(node)
                    continue
                assert node.process is not None
                if node.process.poll() is not None:
                    raise LocalSpaceError(
                        "node_start_failed",
                        f"{node.member.name} exited with code {node.process.returncode} "
                        f"before it was ready; see {node.log_path}",
                    )
            if waiting and time.monotonic() > deadline:
                names = ", ".join(node.member.name for node in waiting)
                raise LocalSpaceError("node_not_ready", f"not ready in time: {names}")
            if waiting:
                time.sleep(POLL)

    def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until every node lists every other as discovered and is linked to the first."""
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        governance = self.nodes[0].node_id
        while True:
            missing = []
            for node in self.nodes:
                peers = {p["node_id"]: p for p in node.client().get("/peers")["peers"]}
                others = [n for n in self.nodes if n is not node]
                known = all(peers.get(o.node_id, {}).get("discovered") for o in others)
                linked = node.node_id == governance or peers.get(governance, {}).get("linked")
                if not (known and linked):
                    missing.append(node.member.name)
            if not missing:
                return
            if time.monotonic() > deadline:
                raise LocalSpaceError(
                    "mesh_not_connected", f"nodes not connected in time: {', '.join(missing)}"
                )
            time.sleep(0.2)

    # -- data and policies ---------------------------------------------------------------------

    def import_dataset(
        self,
        slug: str,
        dataset: str,
        data: bytes,
        *,
        schema: Mapping[str, Any] | None = None,
        delimiter: str | None = None,
        replace: bool = False,
    ) -> dict[str, Any]:
        """Upload a CSV to member ``slug``'s node as ``dataset`` (every row or none)."""
        parts = [("file", f"{dataset}.csv", "text/csv", data)]
        if schema is not None:
            parts.append(("schema", "schema.json", "application/json", json.dumps(schema).encode()))
        body, media = multipart(parts)
        query = {
            "delimiter": DELIMITERS[delimiter] if delimiter else None,
            "replace": replace or None,
        }
        report: dict[str, Any] = (
            self.node(slug).client().upload(f"/datasets/{dataset}", body, media, query=query)
        )
        return report

    def create_policies(self, slug: str, dataset: str) -> list[dict[str, Any]]:
        """Create the standing policies of :func:`standing_policies` on member ``slug``'s node."""
        client = self.node(slug).client()
        roles = sorted({m.role for m in self.members})
        return [client.post("/policies", p) for p in standing_policies(dataset, roles)]

    # -- stop --------------------------------------------------------------------------------

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to every running node, kill any still running after ``stop_timeout``."""
        running = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        for node in running:
            assert node.process is not None
            with contextlib.suppress(ProcessLookupError):
                node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.exit_code = node.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.exit_code = node.process.wait()
            node.process = None
            node.admin = None
        return {node.member.slug: node.exit_code for node in self.nodes}

    def detach(self) -> list[LocalNode]:
        """Leave the nodes running (``--keep``): forget the processes without stopping them."""
        for node in self.nodes:
            if node.process is not None:
                node.process.returncode = 0  # never reaped here: Popen must not warn about it
        return list(self.nodes)

    def __enter__(self) -> LocalDataSpace:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.keep and error is None:
            self.detach()
        else:
            self.stop()


@contextmanager
def _dataspaces(path: Path) -> Iterator[DataSpaces]:
    """The data-space state of the (stopped) node home at ``path``, as ``confide dataspace``."""
    home = Home(path)
    identity = home.identity()
    connection = open_store(home.store_path)
    try:
        yield DataSpaces(connection, identity, audit=AuditLog(connection, identity))
    finally:
        connection.close()


def _ready_line(path: Path) -> dict[str, Any] | None:
    """The ``node.started`` JSON line of a node's log, if written yet."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if READY_EVENT in line:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == READY_EVENT:
                    return event
    return None


def standing_policies(dataset: str, roles: Sequence[str]) -> list[dict[str, Any]]:
    """A provider's two standing policies on ``dataset``, approved automatically.

    ``victim-outreach``: an LEA may learn up to 5 of its own names on no other list
    (``set_difference``), nothing more; ``prevalence-monitoring``: anyone in the data space may
    count people across the lists, once per person, with cells under 5 suppressed.
    """
    common = [
        {"left": "data_space", "op": "eq", "right": DATA_SPACE},
        {"left": "compute_party_role", "op": "isPartOf", "right": list(roles)},
        {"left": "count", "op": "lteq", "right": 1000, "per": "P1D"},
    ]
    outreach = {
        "id": f"{dataset}-outreach",
        "dataset": dataset,
        "description": "The LEA may learn up to 5 of its names that no other organisation knows.",
        "permission": {
            "action": ["set_difference"],
            "constraints": [
                {"left": "purpose", "op": "eq", "right": OUTREACH},
                {"left": "requester_role", "op": "isPartOf", "right": ["lea"]},
                {"left": "recipient_role", "op": "isPartOf", "right": ["lea"]},
                {"left": "columns", "op": "isPartOf", "right": ["name_dob"]},
                {"left": "result_limit", "op": "lteq", "right": RESULT_LIMIT},
                {"left": "reveal_size", "op": "eq", "right": False},
                *common,
            ],
        },
        "approval": "auto",
    }
    monitoring = {
        "id": f"{dataset}-monitoring",
        "dataset": dataset,
        "description": "Counts across the data space, each person once, small cells suppressed.",
        "permission": {
            "action": ["aggregate", "intersection_size", "overlap_matrix", "union_size"],
            "constraints": [
                {"left": "purpose", "op": "eq", "right": MONITORING},
                {"left": "columns", "op": "isPartOf", "right": list(MONITORING_COLUMNS)},
                {"left": "min_group_size", "op": "gteq", "right": MIN_GROUP_SIZE},
                *common,
            ],
        },
        "approval": "auto",
    }
    return [outreach, monitoring]
