"""Computations from the operator's side: propose, follow, approve, retire, read the result.

:class:`Proposals` joins the consent negotiation (:class:`~node.consent.protocol.ConsentProtocol`),
the run protocol (:class:`~node.computations.Computations`) and the agreements store into what
the admin API's ``/computations``, ``/approvals`` and ``/agreements`` serve:

- **propose** — a *draft* (kind, parameters, inputs, compute parties, recipients, purpose, data
  space, optional ``expires_in``) becomes a manifest: this node is its proposer, ``created_at``
  is now, the nonce is fresh, and ``parse_manifest`` checks every field (each problem with its
  JSON path). A kind or shape this node cannot run (``plan_for``) is refused before any
  provider is asked. Then the request goes to every provider.
- **start** — when the proposer's agreement is FINALIZED (the ``agreement.finalized`` event),
  the first run starts by itself; ``start_run`` starts another (a retry after an abort).
- **views** — one JSON view per manifest for every role this node has in it: the proposer's
  view of each provider's negotiation (state, reason code, failing constraint), the agreement,
  and every run (phase, percentage, abort reason). Views hold ids, codes and counts — never an
  identifier value; only :meth:`Proposals.result` returns a result, and only at a recipient.

:func:`policy_evaluator` is the evaluator the consent protocol calls (on a request, on a
person's approval and before every run): this node's current policies on each of its inputs,
with the facts it verified itself — every member's roles per data space, the valid data-space
links, and the usage counters of its agreements.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import structlog

from node.computations import Computations, RunStore
from node.computations.plan import plan_for
from node.consent.agreements import Agreement, Agreements
from node.consent.checks import Facts
from node.consent.evaluate import evaluate
from node.consent.manifest import Manifest, parse_manifest, summarise
from node.consent.negotiation import (
    Evaluation,
    Negotiation,
    Reason,
    Role,
    State,
    aggregate,
    evaluation_from_verdicts,
)
from node.consent.policies import PolicyStore
from node.consent.policy import Policy
from node.consent.protocol import ConsentProtocol, Evaluator, Publish
from node.dataspaces import DataSpaces
from node.errors import ConflictError, ForbiddenError, InvalidError, NodeError, NotFoundError

DEFAULT_EXPIRES_IN: Final = 24 * 3600
"""Seconds a proposal (and so its agreement) lasts unless the draft says ``expires_in``."""
MAX_EXPIRES_IN: Final = 90 * 24 * 3600
SELF: Final = "self"
"""A draft may name this node ``self`` (or by its own name) instead of its node id."""
REASON_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")

_log = structlog.get_logger("node.proposals")


def policy_evaluator(
    node_id: str, policies: PolicyStore, dataspaces: DataSpaces, agreements: Agreements
) -> Evaluator:
    """``evaluate(manifest, now)``: this node's current policies on each input it provides."""

    def evaluate_manifest(manifest: Manifest, now: int) -> Evaluation:
        def usage(policy_id: str, window: int | None) -> int:
            return agreements.usage_since(policy_id, None if window is None else now - window)

        spaces = [space["data_space"] for space in dataspaces.summary(now)]
        facts = Facts.from_membership(dataspaces.membership, spaces, dataspaces.links(), now, usage)
        verdicts = []
        used: list[Policy] = []
        for item in manifest.inputs:
            if item.provider != node_id:
                continue
            active = policies.active(item.dataset)
            used.extend(active)
            verdicts.append(
                evaluate(
                    active, manifest, provider=node_id, dataset=item.dataset, facts=facts, now=now
                )
            )
        return evaluation_from_verdicts(verdicts, used)

    return evaluate_manifest


class Proposals:
    """This node's computations as the admin API shows and drives them."""

    def __init__(
        self,
        node_id: str,
        name: str,
        consent: ConsentProtocol,
        computations: Computations,
        agreements: Agreements,
        runs: RunStore,
        *,
        publish: Publish | None = None,
        data_space: str | None = None,
        clock: Callable[[], int],
    ) -> None:
        self.node_id = node_id
        self.name = name
        self.consent = consent
        self.computations = computations
        self.agreements = agreements
        self.runs = runs
        self.publish = publish
        self.data_space = data_space
        self.clock = clock

    # --- proposing and starting ---------------------------------------------------------------

    def manifest_from(self, draft: Mapping[str, Any], now: int) -> Manifest:
        """The manifest this node would propose for ``draft`` (checked; nothing sent)."""
        expires_in = draft.get("expires_in", DEFAULT_EXPIRES_IN)
        if not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_EXPIRES_IN:
            raise InvalidError(
                "invalid_body",
                f"expires_in must be from 1 to {MAX_EXPIRES_IN} seconds",
                {"errors": [{"path": "$.expires_in", "message": "out of range"}]},
            )
        data_space = draft.get("data_space") or self.data_space
        if data_space is None:
            raise InvalidError(
                "data_space_missing", "name the data space (this node has no default one)"
            )
        inputs = [
            {**dict(item), "provider": self._node(item.get("provider"))}
            for item in draft.get("inputs", [])
        ]
        document = {
            "version": 1,
            "kind": draft.get("kind"),
            "parameters": dict(draft.get("parameters", {})),
            "inputs": inputs,
            "compute_parties": [self._node(x) for x in draft.get("compute_parties", [])],
            "recipients": [self._node(x) for x in draft.get("recipients", [])],
            "proposer": self.node_id,
            "purpose": draft.get("purpose"),
            "data_space": data_space,
            "created_at": now,
            "expires_at": now + expires_in,
            "nonce": secrets.token_hex(16),
        }
        manifest = parse_manifest(document)
        plan_for(manifest)  # a kind or shape no node can run is refused before anyone is asked
        return manifest

    def propose(self, draft: Mapping[str, Any], now: int) -> dict[str, Any]:
        """Propose the computation of ``draft`` to every provider; its view."""
        manifest = self.manifest_from(draft, now)
        self.consent.propose(manifest)
        self._publish("computation.proposed", {"manifest_id": manifest.id, "kind": manifest.kind})
        _log.info("computation.proposed", manifest_id=manifest.id, kind=manifest.kind)
        return self.view(manifest.id)

    def on_finalized(self, manifest_id: str) -> None:
        """The agreement on ``manifest_id`` is final here: the proposer starts its first run."""
        manifest = self.agreements.manifest(manifest_id)
        if manifest is None or manifest.proposer != self.node_id:
            return
        if self.runs.runs(manifest_id):
            return
        asyncio.get_running_loop().call_soon(self._start_quietly, manifest_id)

    def _start_quietly(self, manifest_id: str) -> None:
        try:
            self.start_run(manifest_id)
        except NodeError as error:
            _log.warning("run.start_failed", manifest_id=manifest_id, reason=error.code)
            self._publish("run.start_failed", {"manifest_id": manifest_id, "reason": error.code})

    def start_run(self, manifest_id: str) -> str:
        """Start a run of an agreed manifest this node proposed (also a retry); the run id."""
        self._manifest(manifest_id)
        run_id = self.computations.start(manifest_id)
        self._publish("run.started", {"manifest_id": manifest_id, "run_id": run_id})
        return run_id

    # --- views --------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """Every manifest this node takes part in, newest first."""
        seen: dict[str, None] = {}
        for mid in (
            *self.agreements.manifest_ids(Role.PROPOSER),
            *self.agreements.manifest_ids(Role.PROVIDER),
            *self.agreements.agreement_ids(),
            *(run.manifest_id for run in self.runs.runs()),
        ):
            seen.setdefault(mid, None)
        return list(seen)

    def computations_list(self, role: str | None = None) -> list[dict[str, Any]]:
        """The view of every computation (without manifest and run history), newest first."""
        views = [self.view(mid, full=False) for mid in self.ids()]
        return [v for v in views if role is None or role in v["roles"]]

    def view(self, manifest_id: str, *, full: bool = True) -> dict[str, Any]:
        """Everything this node knows of one computation, for every role it has in it."""
        manifest = self._manifest(manifest_id)
        negotiations = self._negotiations(manifest)
        agreement = self.agreements.agreement(manifest_id)
        runs = self.runs.runs(manifest_id)
        view: dict[str, Any] = {
            "manifest_id": manifest_id,
            "kind": manifest.kind,
            "purpose": manifest.purpose,
            "data_space": manifest.data_space,
            "proposer": manifest.proposer,
            "roles": self.roles(manifest),
            "state": self._state(manifest, negotiations, agreement),
            "created_at": manifest.created_at,
            "expires_at": manifest.expires_at,
            "negotiations": [negotiation_json(n) for n in negotiations],
            "agreement": None if agreement is None else agreement_json(agreement),
            "run": runs[0].to_json() if runs else None,
            "summary": summarise(manifest, {self.node_id: self.name}),
        }
        if full:
            view["runs"] = [run.to_json() for run in runs]
            view["manifest"] = manifest.to_json()
        return view

    def roles(self, manifest: Manifest) -> list[str]:
        """This node's roles in ``manifest``."""
        me = self.node_id
        held = {
            "proposer": manifest.proposer == me,
            "provider": me in manifest.providers,
            "compute_party": me in manifest.compute_parties,
            "recipient": me in manifest.recipients,
        }
        return [role for role, has in held.items() if has]

    def _negotiations(self, manifest: Manifest) -> list[Negotiation]:
        if manifest.proposer == self.node_id:
            return self.agreements.negotiations(manifest.id, Role.PROPOSER)
        own = self.agreements.get(manifest.id, self.node_id, Role.PROVIDER)
        return [] if own is None else [own]

    def _state(
        self, manifest: Manifest, negotiations: Sequence[Negotiation], agreement: Agreement | None
    ) -> str:
        if agreement is not None and agreement.state != "active":
            return "RETIRED"
        if negotiations:
            return aggregate(n.state for n in negotiations).value
        return State.FINALIZED.value if agreement is not None else State.REQUESTED.value

    def result(self, manifest_id: str) -> dict[str, Any]:
        """The latest result of ``manifest_id`` held here; only a recipient has one.

        ``ForbiddenError`` ``not_recipient``; ``NotFoundError`` ``no_result`` (no run has
        completed yet).
        """
        manifest = self._manifest(manifest_id)
        if self.node_id not in manifest.recipients:
            raise ForbiddenError("not_recipient", "this node is not a recipient of the computation")
        for run in self.runs.runs(manifest_id):
            if run.has_result:
                result = self.runs.result(run.run_id)
                return {
                    "manifest_id": manifest_id,
                    "run_id": result.run_id,
                    "kind": result.kind,
                    "stored_at": result.stored_at,
                    "result": result.body,
                }
        raise NotFoundError("no_result", "no run of this computation has delivered a result here")

    # --- approvals ----------------------------------------------------------------------------

    def approvals(self) -> list[dict[str, Any]]:
        """Requests to this node waiting for a person, oldest first, each with its summary."""
        return [self._approval(n) for n in self.consent.pending()]

    def _approval(self, negotiation: Negotiation) -> dict[str, Any]:
        manifest = self._manifest(negotiation.manifest_id)
        return {
            "manifest_id": manifest.id,
            "proposer": manifest.proposer,
            "kind": manifest.kind,
            "purpose": manifest.purpose,
            "data_space": manifest.data_space,
            "datasets": sorted(i.dataset for i in manifest.inputs if i.provider == self.node_id),
            "received_at": negotiation.updated_at,
            "deadline": negotiation.deadline,
            "summary": summarise(manifest, {self.node_id: self.name}),
            "manifest": manifest.to_json(),
        }

    def approve(
        self, manifest_id: str, *, valid_until: int | None = None, max_runs: int | None = None
    ) -> dict[str, Any]:
        """A person approves a pending request (optionally on narrower terms)."""
        after = self.consent.approve(manifest_id, valid_until=valid_until, max_runs=max_runs)
        return negotiation_json(after)

    def refuse(self, manifest_id: str, reason: str | None = None) -> dict[str, Any]:
        """A person refuses a pending request with a reason code."""
        code = reason or Reason.REFUSED_BY_APPROVER.value
        if not REASON_CODE.fullmatch(code):
            raise InvalidError("invalid_reason", "a reason is a snake_case code like not_needed")
        return negotiation_json(self.consent.refuse(manifest_id, code))

    # --- agreements ---------------------------------------------------------------------------

    def agreement_list(self) -> list[dict[str, Any]]:
        """Every finalised agreement held here, newest first."""
        found = (self.agreements.agreement(mid) for mid in self.agreements.agreement_ids())
        return [agreement_json(a) for a in found if a is not None]

    def agreement(self, manifest_id: str) -> dict[str, Any]:
        """One agreement with its manifest and every provider's signed terms."""
        agreement = self.agreements.agreement(manifest_id)
        if agreement is None:
            raise NotFoundError("no_agreement", "no finalised agreement for this manifest")
        body = agreement_json(agreement)
        body["decisions"] = [
            {
                "provider": d.provider,
                "outcome": d.outcome,
                "valid_until": d.valid_until,
                "max_runs": d.max_runs,
                "decided_at": d.decided_at,
            }
            for d in agreement.bundle.decisions
        ]
        body["summary"] = summarise(agreement.manifest, {self.node_id: self.name})
        body["manifest"] = agreement.manifest.to_json()
        return body

    def retire(self, manifest_id: str, reason: str | None = None) -> dict[str, Any]:
        """Retire this node's consent (a provider) or withdraw the proposal (the proposer).

        Effective at once: every participant is told, and no further run is authorised.
        ``ConflictError`` ``not_retirable`` if this node can do neither.
        """
        manifest = self._manifest(manifest_id)
        code = reason or Reason.RETIRED.value
        if not REASON_CODE.fullmatch(code):
            raise InvalidError("invalid_reason", "a reason is a snake_case code like not_needed")
        own = self.agreements.get(manifest_id, self.node_id, Role.PROVIDER)
        if own is not None and own.state is not State.TERMINATED:
            self.consent.retire(manifest_id, code)
        elif manifest.proposer == self.node_id and self._live_proposal(manifest_id):
            self.consent.withdraw(manifest_id, code)
        else:
            raise ConflictError("not_retirable", "this node holds no live consent to the manifest")
        self._publish("agreement.retired", {"manifest_id": manifest_id, "reason": code})
        return self.view(manifest_id)

    def _live_proposal(self, manifest_id: str) -> bool:
        views = self.agreements.negotiations(manifest_id, Role.PROPOSER)
        return any(n.state is not State.TERMINATED for n in views)

    # --- helpers ------------------------------------------------------------------------------

    def _manifest(self, manifest_id: str) -> Manifest:
        manifest = self.agreements.manifest(manifest_id)
        if manifest is None:
            raise NotFoundError("computation_not_found", "no computation with this id is known")
        return manifest

    def _node(self, value: object) -> object:
        """A node id from a draft: ``self`` or this node's name stand for this node."""
        if value == SELF or (isinstance(value, str) and value == self.name):
            return self.node_id
        return value

    def _publish(self, kind: str, data: Mapping[str, Any]) -> None:
        if self.publish is not None:
            self.publish(kind, data)


def negotiation_json(negotiation: Negotiation) -> dict[str, Any]:
    """One (manifest, provider) negotiation as the API shows it."""
    return {
        "manifest_id": negotiation.manifest_id,
        "provider": negotiation.provider,
        "role": negotiation.role.value,
        "state": negotiation.state.value,
        "reason": negotiation.reason,
        "constraint": negotiation.constraint,
        "deadline": negotiation.deadline,
        "updated_at": negotiation.updated_at,
    }


def agreement_json(agreement: Agreement) -> dict[str, Any]:
    """A finalised agreement's terms and state (no signatures)."""
    manifest = agreement.manifest
    return {
        "manifest_id": manifest.id,
        "kind": manifest.kind,
        "purpose": manifest.purpose,
        "data_space": manifest.data_space,
        "proposer": manifest.proposer,
        "providers": list(manifest.providers),
        "state": agreement.state,
        "valid_from": agreement.valid_from,
        "valid_until": agreement.valid_until,
        "finalized_at": agreement.finalized_at,
        "retired_at": agreement.retired_at,
        "reason": agreement.reason,
    }
