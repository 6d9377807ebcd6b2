"""Evaluation of policies against a manifest (fail closed), and the explanation of one policy.

:func:`evaluate` is what a provider's node runs on a consent request: its own stored policies on
one of its datasets, the manifest, the facts it has verified itself (:class:`Facts`) and
``now``. It returns a :class:`Verdict`: allowed (by which policy version, and whether a person
must approve) or refused with a stable reason code, the JSON path of the failing part of the
policy and a plain-language reason.

The combination rule, with several policies on one dataset: a policy *allows* when it is in its
validity window, permits the manifest's kind, admits every participant's data space, and every
one of its constraints holds (a constraint on a parameter the kind does not have is not
applicable and does not block). The manifest is allowed if any policy allows it; if any allowing
policy asks for manual approval, a person must approve (the stricter policy wins). Anything
unknown or not evaluable (a missing usage counter, an operator that does not fit its operand)
refuses, never passes.

``intersection`` reveals to its recipient which of its people every other provider knows, so
it runs only with each provider's explicit consent to that one computation: a policy must name
``intersection`` among its actions (there is no wildcard action), and even then a person at
every provider other than the proposer must approve it — an allowing ``auto`` policy is treated
as ``manual`` for this kind (:data:`EXPLICIT_CONSENT_KINDS`). The proposer's own node is exempt:
proposing is its operator's explicit act.

Data spaces: every participant (proposer, providers, compute parties, recipients) must be a
member of the manifest's data space, or of a data space linked to it for the manifest's purpose
*that the policy names* in an ``eq``/``isAnyOf`` ``data_space`` constraint: that is how a
provider opts in, per policy, to partners from a linked space. A participant's roles are its
roles in the data spaces it is admitted through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from node.consent.checks import (
    Check,
    Facts,
    Link,
    Outcome,
    Requester,
    Situation,
    UsageCounter,
    check_policy_parts,
)
from node.consent.manifest import Manifest
from node.consent.policy import Policy
from node.errors import InvalidError

__all__ = [
    "EXPLICIT_CONSENT_KINDS",
    "REFUSAL_CODES",
    "Check",
    "Explanation",
    "Facts",
    "Link",
    "Outcome",
    "Requester",
    "UsageCounter",
    "Verdict",
    "evaluate",
    "explain",
]

MAX_CLOCK_SKEW: Final = 60
"""How far in the future a manifest's ``created_at`` may be (clocks of nodes differ)."""

REFUSAL_CODES: Final = (
    "manifest_expired",
    "manifest_not_yet_valid",
    "dataset_not_in_manifest",
    "no_policy",
    "policy_expired",
    "policy_not_yet_valid",
    "action_not_permitted",
    "participant_not_admitted",
    "constraint_failed",
    "constraint_unevaluable",
)
"""Every reason code a refusal can carry; they never change meaning."""

_BLOCKS: Final = frozenset({Outcome.FAILS, Outcome.UNEVALUABLE})

EXPLICIT_CONSENT_KINDS: Final = frozenset({"intersection"})
"""Kinds a person at every provider but the proposer approves, whatever the policy's approval."""


@dataclass(frozen=True)
class Verdict:
    """The provider's decision on one manifest for one of its datasets."""

    allowed: bool
    code: str
    reason: str
    policy_id: str | None = None
    policy_version: int | None = None
    manual: bool = False
    path: str | None = None
    allowing: tuple[tuple[str, int], ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        """The verdict as a plain mapping (audit details, API bodies); no identifier values."""
        return {
            "allowed": self.allowed,
            "code": self.code,
            "reason": self.reason,
            "policy_id": self.policy_id,
            "policy_version": self.policy_version,
            "manual": self.manual,
            "path": self.path,
            "allowing": [[pid, version] for pid, version in self.allowing],
        }


@dataclass(frozen=True)
class Explanation:
    """Each part of one policy checked against a manifest or a requester."""

    policy_id: str
    policy_version: int
    outcome: str
    manual: bool
    checks: tuple[Check, ...]

    def to_json(self) -> dict[str, object]:
        """The body of ``POST /policies/{id}/explain``."""
        return {
            "policy_id": self.policy_id,
            "policy_version": self.policy_version,
            "outcome": self.outcome,
            "manual": self.manual,
            "checks": [check.to_json() for check in self.checks],
        }


def evaluate(
    policies: Sequence[Policy],
    manifest: Manifest,
    *,
    provider: str,
    dataset: str,
    facts: Facts,
    now: int,
) -> Verdict:
    """Decide whether ``provider`` consents to ``manifest`` using its ``dataset``; fail closed.

    ``policies`` are the provider's current, unretired policies (others on other datasets are
    ignored). See the module docstring for the combination rule.
    """
    if manifest.expires_at <= now:
        return _refuse("manifest_expired", "the proposal has expired", "$.expires_at")
    if manifest.created_at > now + MAX_CLOCK_SKEW:
        return _refuse("manifest_not_yet_valid", "the proposal is dated in the future", None)
    if manifest.input_of(provider, dataset) is None:
        return _refuse("dataset_not_in_manifest", "the proposal does not use this dataset", None)
    mine = sorted((p for p in policies if p.dataset == dataset), key=lambda p: p.id)
    if not mine:
        return _refuse("no_policy", "no policy permits any use of this dataset", None)
    results = [
        (p, check_policy_parts(p, Situation(manifest, provider, dataset, facts, now))) for p in mine
    ]
    allowing = [policy for policy, checks in results if _allows(checks)]
    if allowing:
        manual = [policy for policy in allowing if policy.manual]
        chosen = (manual or allowing)[0]
        explicit = manifest.kind in EXPLICIT_CONSENT_KINDS and provider != manifest.proposer
        reason = "allowed by this policy"
        if manual:
            reason += ", after a person approves"
        elif explicit:
            reason += f", after a person approves (every {manifest.kind} needs explicit consent)"
        return Verdict(
            allowed=True,
            code="allowed",
            reason=reason,
            policy_id=chosen.id,
            policy_version=chosen.version,
            manual=bool(manual) or explicit,
            allowing=tuple((policy.id, policy.version) for policy in allowing),
        )
    policy, checks = max(results, key=lambda item: _progress(item[1]))
    failed = next(check for check in checks if check.outcome in _BLOCKS)
    return _refuse(
        failed.code or "constraint_failed", failed.reason, failed.path, policy.id, policy.version
    )


def explain(
    policy: Policy,
    *,
    now: int,
    facts: Facts | None = None,
    manifest: Manifest | None = None,
    provider: str | None = None,
    requester: Requester | None = None,
) -> Explanation:
    """Check each part of ``policy`` against a manifest (with the ``provider`` whose dataset it
    guards) or against a ``requester`` alone; parts that need a manifest are not applicable."""
    known = facts or Facts(roles={})
    checks: list[Check] = []
    if manifest is not None and provider is not None:
        situation = Situation(manifest, provider, policy.dataset, known, now)
        if situation.input is None:
            reason = "the proposal does not use this policy's dataset at this provider"
            checks.append(Check("$.dataset", Outcome.FAILS, reason, "dataset_not_in_manifest"))
    elif requester is not None and manifest is None:
        situation = Situation.of_requester(requester, known, now)
    else:
        raise InvalidError(
            "invalid_explain_request", "explain needs either a manifest and provider or a requester"
        )
    checks += check_policy_parts(policy, situation)
    if any(check.outcome in _BLOCKS for check in checks):
        outcome = "refuse"
    elif manifest is None:
        outcome = "undetermined"
    else:
        outcome = "allow"
    return Explanation(policy.id, policy.version, outcome, policy.manual, tuple(checks))


def _refuse(
    code: str,
    reason: str,
    path: str | None,
    policy_id: str | None = None,
    version: int | None = None,
) -> Verdict:
    return Verdict(False, code, reason, policy_id, version, False, path)


def _allows(checks: Sequence[Check]) -> bool:
    return all(check.outcome not in _BLOCKS for check in checks)


def _progress(checks: Sequence[Check]) -> int:
    """How close a refusing policy came: the parts passed before the first failure (the
    refusal reported is the closest policy's, the first in id order among equals)."""
    passed = 0
    for check in checks:
        if check.outcome in _BLOCKS:
            break
        passed += 1
    return passed
