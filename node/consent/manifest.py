"""The computation manifest: the exact, canonical description of one proposed computation.

A manifest is a plain mapping (the shape is in ``docs/reference/policy-format.md``). Parsing
checks every field and collects *every* problem with its JSON path (``$.inputs[1].bound``)
before raising one :class:`InvalidConsentError`; unknown fields are problems, never ignored.
Sets (inputs, columns, compute parties, recipients) are sorted on parsing, so two spellings of
the same computation canonicalise to the same bytes: ``network.canonical.encode`` of
:meth:`Manifest.to_json`. The manifest id is ``"m-" + SHA-256(canonical bytes).hex()``;
signatures by providers and the proposer cover :meth:`Manifest.digest`.

``group_by`` is a list, not a set: its order fixes the layout of the result table.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final, TypeVar

from network import canonical
from network.canonical import Value
from network.errors import DecodeError
from network.records import MAX_TIME
from node.consent.problems import Checker, InvalidConsentError, Problem

_T = TypeVar("_T")

VERSION: Final = 1
KINDS: Final = (
    "aggregate",
    "intersection",
    "intersection_size",
    "overlap_matrix",
    "set_difference",
    "union_size",
)
STATISTICS: Final = ("count", "mean", "sum")
MAX_LIMIT: Final = 1000
MAX_INPUTS: Final = 64
MAX_PARTIES: Final = 64
MAX_COLUMNS: Final = 64
MAX_GROUP_BY: Final = 2
MAX_BOUND: Final = 1 << 32
MIN_COMPUTE_PARTIES: Final = 3
ID_PREFIX: Final = "m-"

_FIELDS: Final = (
    "version",
    "kind",
    "parameters",
    "inputs",
    "compute_parties",
    "recipients",
    "proposer",
    "purpose",
    "data_space",
    "created_at",
    "expires_at",
    "nonce",
)
_INPUT_FIELDS: Final = ("provider", "dataset", "columns", "bound")
_PARAMETERS: Final[Mapping[str, tuple[str, ...]]] = {
    "set_difference": ("limit", "reveal_size"),
    "intersection_size": (),
    "union_size": (),
    "intersection": (),
    "overlap_matrix": ("min_group_size",),
    "aggregate": ("statistic", "value_column", "group_by", "dedup_by", "min_group_size"),
}
_NONCE: Final = re.compile(r"[0-9a-f]{32}")
_MANIFEST_ID: Final = re.compile(r"m-[0-9a-f]{64}")


@dataclass(frozen=True)
class ManifestInput:
    """One provider's input: which dataset, which columns, and its public (padded) size bound."""

    provider: str
    dataset: str
    columns: tuple[str, ...]
    bound: int

    def to_json(self) -> dict[str, Value]:
        """The input as a canonical map."""
        return {
            "provider": self.provider,
            "dataset": self.dataset,
            "columns": list[Value](self.columns),
            "bound": self.bound,
        }


@dataclass(frozen=True)
class Manifest:
    """A validated, canonical computation manifest (version 1)."""

    kind: str
    parameters: Mapping[str, Value]
    inputs: tuple[ManifestInput, ...]
    compute_parties: tuple[str, ...]
    recipients: tuple[str, ...]
    proposer: str
    purpose: str
    data_space: str
    created_at: int
    expires_at: int
    nonce: str
    version: int = field(default=VERSION)

    def to_json(self) -> dict[str, Value]:
        """The manifest as a plain mapping (what :func:`parse_manifest` reads back)."""
        return {
            "version": self.version,
            "kind": self.kind,
            "parameters": dict(self.parameters),
            "inputs": [item.to_json() for item in self.inputs],
            "compute_parties": list[Value](self.compute_parties),
            "recipients": list[Value](self.recipients),
            "proposer": self.proposer,
            "purpose": self.purpose,
            "data_space": self.data_space,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "nonce": self.nonce,
        }

    def encode(self) -> bytes:
        """The canonical bytes (sorted keys, deterministic msgpack)."""
        return canonical.encode(self.to_json())

    @cached_property
    def digest(self) -> bytes:
        """SHA-256 of the canonical bytes: what every consent signature covers."""
        return hashlib.sha256(self.encode()).digest()

    @property
    def id(self) -> str:
        """``"m-"`` followed by the hex SHA-256 of the canonical bytes."""
        return ID_PREFIX + self.digest.hex()

    @property
    def providers(self) -> tuple[str, ...]:
        """The distinct providers, sorted."""
        return tuple(sorted({item.provider for item in self.inputs}))

    @property
    def participants(self) -> tuple[str, ...]:
        """Every node the manifest names (proposer, providers, compute parties, recipients)."""
        nodes = {self.proposer, *self.providers, *self.compute_parties, *self.recipients}
        return tuple(sorted(nodes))

    def input_of(self, provider: str, dataset: str) -> ManifestInput | None:
        """The input of ``dataset`` at ``provider``, if the manifest uses it."""
        for item in self.inputs:
            if item.provider == provider and item.dataset == dataset:
                return item
        return None

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        """A manifest from its canonical bytes; anything not canonical is refused."""
        try:
            value = canonical.decode(data)
        except DecodeError:
            raise InvalidConsentError(
                "invalid_manifest", "manifest", [Problem("$", "not canonical msgpack")]
            ) from None
        if not isinstance(value, dict):
            raise InvalidConsentError("invalid_manifest", "manifest", [Problem("$", "not a map")])
        manifest = parse_manifest(value)
        if manifest.encode() != data:
            raise InvalidConsentError(
                "invalid_manifest", "manifest", [Problem("$", "sets not in canonical order")]
            )
        return manifest


def check_manifest_id(value: object) -> str:
    """``value`` if it is a well-formed manifest id, else :class:`InvalidConsentError`."""
    if isinstance(value, str) and _MANIFEST_ID.fullmatch(value):
        return value
    raise InvalidConsentError(
        "invalid_manifest_id", "manifest id", [Problem("$", "expected m- and 64 hex digits")]
    )


def manifest_id(document: Mapping[str, object]) -> str:
    """The id of the manifest ``document`` (validated and canonicalised first)."""
    return parse_manifest(document).id


def parse_manifest(document: Mapping[str, object]) -> Manifest:
    """Validate ``document`` and return its canonical :class:`Manifest`.

    Raises :class:`InvalidConsentError` (code ``invalid_manifest``) listing every problem.
    """
    check = Checker()
    body = check.fields(document, "$", _FIELDS)
    if body is None:
        raise InvalidConsentError("invalid_manifest", "manifest", check.problems)
    if "version" in body and body["version"] != VERSION:
        check.add("$.version", "unsupported manifest version; this node reads version 1")
    kind = body.get("kind")
    if kind not in KINDS:
        check.add("$.kind", "unknown kind; expected one of " + ", ".join(KINDS))
        kind = None
    inputs = _inputs(check, body.get("inputs"))
    compute_parties = _nodes(check, body.get("compute_parties"), "$.compute_parties")
    if compute_parties is not None and len(compute_parties) < MIN_COMPUTE_PARTIES:
        check.add("$.compute_parties", "at least 3 distinct compute parties")
    recipients = _nodes(check, body.get("recipients"), "$.recipients")
    if recipients == ():
        check.add("$.recipients", "at least one recipient")
    proposer = check.node_id(body.get("proposer"), "$.proposer")
    purpose = check.name(body.get("purpose"), "$.purpose")
    data_space = check.name(body.get("data_space"), "$.data_space")
    created_at = check.integer(body.get("created_at"), "$.created_at", 0, MAX_TIME)
    expires_at = check.integer(body.get("expires_at"), "$.expires_at", 0, MAX_TIME)
    if created_at is not None and expires_at is not None and expires_at <= created_at:
        check.add("$.expires_at", "must be after created_at")
    nonce = body.get("nonce")
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        check.add("$.nonce", "expected 32 lowercase hex digits")
    parameters = _parameters(check, kind, body.get("parameters"), inputs)
    if kind is not None and inputs is not None:
        _shape(check, kind, inputs, recipients, proposer)
    check.raise_if_any("invalid_manifest", "manifest")
    if not isinstance(nonce, str):  # pragma: no cover - reported as a problem above
        raise InvalidConsentError("invalid_manifest", "manifest", [Problem("$.nonce", "bad")])
    return Manifest(
        kind=_present(kind),
        parameters=MappingProxyType(_present(parameters)),
        inputs=_present(inputs),
        compute_parties=_present(compute_parties),
        recipients=_present(recipients),
        proposer=_present(proposer),
        purpose=_present(purpose),
        data_space=_present(data_space),
        created_at=_present(created_at),
        expires_at=_present(expires_at),
        nonce=nonce,
    )


def _present(value: _T | None) -> _T:
    """``value``, known to be checked: a ``None`` here means a problem went unrecorded."""
    if value is None:  # pragma: no cover - every None path records a problem first
        raise InvalidConsentError("invalid_manifest", "manifest", [Problem("$", "invalid")])
    return value


def _nodes(check: Checker, value: object, path: str) -> tuple[str, ...] | None:
    items = check.items(value, path, 0, MAX_PARTIES)
    if items is None:
        return None
    nodes = [check.node_id(item, f"{path}[{index}]") for index, item in enumerate(items)]
    if any(node is None for node in nodes):
        return None
    check.unique(nodes, path)
    return tuple(sorted({node for node in nodes if node is not None}))


def _inputs(check: Checker, value: object) -> tuple[ManifestInput, ...] | None:
    items = check.items(value, "$.inputs", 1, MAX_INPUTS)
    if items is None:
        return None
    result: list[ManifestInput] = []
    for index, item in enumerate(items):
        path = f"$.inputs[{index}]"
        entry = check.fields(item, path, _INPUT_FIELDS)
        if entry is None:
            continue
        provider = check.node_id(entry.get("provider"), f"{path}.provider")
        dataset = check.name(entry.get("dataset"), f"{path}.dataset")
        bound = check.integer(entry.get("bound"), f"{path}.bound", 0, MAX_BOUND)
        columns = check.items(entry.get("columns"), f"{path}.columns", 1, MAX_COLUMNS)
        names: list[str | None] = []
        if columns is not None:
            names = [check.name(c, f"{path}.columns[{i}]") for i, c in enumerate(columns)]
            check.unique(names, f"{path}.columns")
        if provider is None or dataset is None or bound is None or columns is None:
            continue
        if any(name is None for name in names):
            continue
        result.append(
            ManifestInput(provider, dataset, tuple(sorted({n for n in names if n})), bound)
        )
    if len(result) != len(items):
        return None
    keys = [(item.provider, item.dataset) for item in result]
    check.unique(keys, "$.inputs")
    return tuple(sorted(result, key=lambda item: (item.provider, item.dataset)))


def _parameters(
    check: Checker,
    kind: str | None,
    value: object,
    inputs: tuple[ManifestInput, ...] | None,
) -> dict[str, Value] | None:
    if kind is None:
        return None
    names = _PARAMETERS[kind]
    body = check.fields(value, "$.parameters", names)
    if body is None or any(name not in body for name in names):
        return None
    before = len(check.problems)
    result: dict[str, Any] = {}
    if kind == "set_difference":
        result["limit"] = check.integer(body["limit"], "$.parameters.limit", 1, MAX_LIMIT)
        result["reveal_size"] = check.boolean(body["reveal_size"], "$.parameters.reveal_size")
    if kind in {"overlap_matrix", "aggregate"}:
        result["min_group_size"] = check.integer(
            body["min_group_size"], "$.parameters.min_group_size", 1, MAX_BOUND
        )
    if kind == "aggregate":
        result.update(_aggregate(check, body, inputs))
    if len(check.problems) != before:
        return None
    return result


def _aggregate(
    check: Checker, body: Mapping[str, object], inputs: tuple[ManifestInput, ...] | None
) -> dict[str, Value]:
    statistic = body["statistic"]
    if statistic not in STATISTICS:
        check.add("$.parameters.statistic", "expected count, sum or mean")
    value_column = body["value_column"]
    if value_column is not None:
        value_column = check.name(value_column, "$.parameters.value_column")
    if statistic in {"sum", "mean"} and body["value_column"] is None:
        check.add("$.parameters.value_column", "sum and mean need a value column")
    if statistic == "count" and body["value_column"] is not None:
        check.add("$.parameters.value_column", "count takes no value column; use null")
    dedup_by = body["dedup_by"]
    if dedup_by is not None:
        dedup_by = check.name(dedup_by, "$.parameters.dedup_by")
    group_by: list[str | None] = []
    groups = check.items(body["group_by"], "$.parameters.group_by", 0, MAX_GROUP_BY)
    if groups is not None:
        group_by = [check.name(g, f"$.parameters.group_by[{i}]") for i, g in enumerate(groups)]
        check.unique(group_by, "$.parameters.group_by")
    used = {
        "$.parameters.value_column": value_column,
        "$.parameters.dedup_by": dedup_by,
        **{f"$.parameters.group_by[{i}]": g for i, g in enumerate(group_by)},
    }
    for path, column in used.items():
        if isinstance(column, str) and inputs is not None:
            for index, item in enumerate(inputs):
                if column not in item.columns:
                    check.add(path, f"column not among the columns of input {index}")
    return {
        "statistic": statistic if isinstance(statistic, str) else None,
        "value_column": value_column if isinstance(value_column, str) else None,
        "group_by": [g for g in group_by if g is not None],
        "dedup_by": dedup_by if isinstance(dedup_by, str) else None,
    }


def _shape(
    check: Checker,
    kind: str,
    inputs: tuple[ManifestInput, ...],
    recipients: tuple[str, ...] | None,
    proposer: str | None,
) -> None:
    """The rules that tie fields together for one kind."""
    if kind != "aggregate" and len(inputs) < 2:
        check.add("$.inputs", f"{kind} needs at least two inputs")
    if kind == "set_difference" and proposer is not None:
        if proposer not in {item.provider for item in inputs}:
            check.add("$.proposer", "set_difference selects from the proposer's own list")
        if recipients is not None and recipients != (proposer,):
            check.add("$.recipients", "set_difference reveals to the proposer only")
    if kind == "intersection" and recipients is not None and len(recipients) != 1:
        check.add("$.recipients", "intersection has exactly one recipient")


def summarise(manifest: Manifest, names: Mapping[str, str] | None = None) -> str:
    """A plain-language statement of what the manifest would use and reveal, to whom.

    ``names`` maps node ids to display names (e.g. from the node records); a node without one
    is shown by the start of its id. Used by the approval queue and the portal.
    """
    known = dict(names or {})

    def who(node_id: str) -> str:
        return known.get(node_id) or f"node {node_id[:12]}…"

    def listing(items: Sequence[str]) -> str:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

    used = [
        f"{who(item.provider)}'s list `{item.dataset}` (columns {', '.join(item.columns)}; "
        f"size padded to at most {item.bound:,})"
        for item in manifest.inputs
    ]
    recipients = listing([who(node) for node in manifest.recipients])
    parties = listing([who(node) for node in manifest.compute_parties])
    expires = datetime.fromtimestamp(manifest.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{_capitalise(who(manifest.proposer))} proposes a {manifest.kind} computation for the "
        f"purpose `{manifest.purpose}` in data space `{manifest.data_space}`. "
        f"{_capitalise(listing(used))} would be used. "
        f"{_capitalise(recipients)} would learn {_reveals(manifest)}. "
        f"{_capitalise(parties)} would compute on secret shares and learn only the declared sizes. "
        f"The proposal expires on {expires}."
    )


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _reveals(manifest: Manifest) -> str:
    """What the recipients learn, per kind (product.md §3)."""
    parameters = {key: _show(value) for key, value in manifest.parameters.items()}
    if manifest.kind == "set_difference":
        size = (
            ", and the size of that difference"
            if manifest.parameters["reveal_size"]
            else ", and not the size of the difference"
        )
        return (
            f"up to {parameters['limit']} identifiers from its own list that are on none of "
            f"the other lists{size}"
        )
    if manifest.kind == "intersection_size":
        return "the number of identifiers common to all the lists"
    if manifest.kind == "union_size":
        return "the number of distinct identifiers across all the lists"
    if manifest.kind == "intersection":
        return "the identifiers common to all the lists themselves"
    if manifest.kind == "overlap_matrix":
        return (
            "how many identifiers each pair of lists has in common, with counts below "
            f"{parameters['min_group_size']} suppressed"
        )
    statistic = parameters["statistic"]
    what = (
        "the number of rows"
        if statistic == "count"
        else (f"the {statistic} of `{parameters['value_column']}`")
    )
    group_by = manifest.parameters["group_by"]
    columns = [_show(g) for g in group_by] if isinstance(group_by, list) else []
    groups = " per " + " and ".join(f"`{g}`" for g in columns) if columns else ""
    dedup = manifest.parameters["dedup_by"]
    once = f", each `{_show(dedup)}` counted once across the lists" if dedup else ""
    return (
        f"{what}{groups} over all the lists{once}; a cell with fewer than "
        f"{parameters['min_group_size']} contributors is suppressed"
    )


def _show(value: Value) -> str:
    """A parameter value as text (parameters never hold bytes; shown empty if one did)."""
    return "" if isinstance(value, bytes) else str(value)
