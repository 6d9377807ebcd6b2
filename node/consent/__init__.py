"""Consent: policies, their evaluation, computation manifests, negotiation and agreements.

The policy side, re-exported here for the other parts of the node:

- :mod:`node.consent.manifest` — ``parse_manifest``, ``Manifest`` (``id``, ``digest``,
  ``encode``, ``decode``), ``summarise``;
- :mod:`node.consent.policy` — ``parse_policy``, ``check_policy``, ``Policy``, ``Vocabulary``;
- :mod:`node.consent.evaluate` — ``evaluate`` → ``Verdict``, ``explain`` → ``Explanation``,
  ``Facts``, ``Requester`` (the per-part checks live in :mod:`node.consent.checks`);
- :mod:`node.consent.policies` — ``PolicyStore`` (store component ``policies``);
- :mod:`node.consent.problems` — ``InvalidConsentError`` with every problem's JSON path.

Negotiation and agreements are in :mod:`node.consent.negotiation`, ``messages`` and
``agreements``.
"""

from node.consent.evaluate import (
    REFUSAL_CODES,
    Explanation,
    Facts,
    Link,
    Outcome,
    Requester,
    UsageCounter,
    Verdict,
    evaluate,
    explain,
)
from node.consent.manifest import Manifest, ManifestInput, parse_manifest, summarise
from node.consent.policies import PolicyStore, StoredPolicy
from node.consent.policy import Policy, Vocabulary, check_policy, parse_policy
from node.consent.problems import InvalidConsentError, Problem

__all__ = [
    "REFUSAL_CODES",
    "Explanation",
    "Facts",
    "InvalidConsentError",
    "Link",
    "Manifest",
    "ManifestInput",
    "Outcome",
    "Policy",
    "PolicyStore",
    "Problem",
    "Requester",
    "StoredPolicy",
    "UsageCounter",
    "Verdict",
    "Vocabulary",
    "check_policy",
    "evaluate",
    "explain",
    "parse_manifest",
    "parse_policy",
    "summarise",
]
