"""Tests for node/consent/evaluate.py: refusal codes, the combination rule, linked data spaces,
fail-closed evaluation, and explain."""

from __future__ import annotations

from typing import Any

import pytest

from network.membership import Membership
from node.consent.evaluate import (
    REFUSAL_CODES,
    Facts,
    Outcome,
    Requester,
    Verdict,
    evaluate,
    explain,
)
from node.consent.manifest import Manifest
from node.consent.policy import Constraint, Policy, format_time
from node.errors import InvalidError
from tests.network.test_dataspace import (
    BE,
    BE_GOV,
    NL,
    NL_GOV,
    T0,
    be_charter,
    credential,
    link,
    nl_charter,
)
from tests.network.test_dataspace import BE_NGO as BE_NGO_IDENTITY
from tests.network.test_dataspace import LEA as LEA_IDENTITY
from tests.node.consent.policy_helpers import (
    BE_NGO,
    CARE,
    LEA,
    LINKED,
    NGO_A,
    NGO_B,
    NOW,
    OTHER,
    PARAMETERS,
    SPACE,
    STRANGER,
    facts,
    manifest,
    policy,
)

PURPOSE = {"left": "purpose", "op": "eq", "right": "victim-outreach"}


def decide(policies: list[Policy], proposal: Manifest | None = None, **kwargs: Any) -> Verdict:
    """NGO A's verdict on ``proposal`` (the LEA's set difference by default)."""
    return evaluate(
        policies,
        proposal or manifest(),
        provider=kwargs.get("provider", NGO_A),
        dataset=kwargs.get("dataset", "clients-2026"),
        facts=kwargs.get("facts", facts()),
        now=kwargs.get("now", NOW),
    )


def test_allowed_by_an_auto_policy() -> None:
    """A policy whose constraints all hold allows, without a person, naming itself."""
    verdict = decide([policy(PURPOSE)])
    assert verdict.allowed
    assert (verdict.code, verdict.policy_id, verdict.policy_version) == ("allowed", "pol-test", 1)
    assert not verdict.manual
    assert verdict.to_json()["allowing"] == [["pol-test", 1]]


def test_no_policy() -> None:
    """No policy, or only policies on other datasets: refused with no_policy."""
    assert decide([]).code == "no_policy"
    assert decide([policy(PURPOSE, dataset="other")]).code == "no_policy"


def test_dataset_not_in_manifest() -> None:
    """A proposal that does not use this dataset at this provider is refused."""
    assert decide([policy()], dataset="elsewhere").code == "dataset_not_in_manifest"
    assert decide([policy()], provider=CARE).code == "dataset_not_in_manifest"


@pytest.mark.parametrize(
    ("now", "code"),
    [(NOW + 86400, "manifest_expired"), (NOW - 200, "manifest_not_yet_valid")],
)
def test_manifest_window(now: int, code: str) -> None:
    """An expired proposal, or one dated well in the future, is refused."""
    assert decide([policy()], now=now).code == code


@pytest.mark.parametrize(
    ("changes", "code", "path"),
    [
        ({"valid_until": format_time(NOW)}, "policy_expired", "$.valid_until"),
        ({"valid_from": format_time(NOW + 1)}, "policy_not_yet_valid", "$.valid_from"),
    ],
)
def test_policy_window(changes: dict[str, str], code: str, path: str) -> None:
    """Outside its validity window a policy refuses, saying which end."""
    verdict = decide([policy(**changes)])
    assert (verdict.code, verdict.path) == (code, path)


def test_policy_inside_its_window() -> None:
    """At valid_from and before valid_until the policy applies."""
    inside = policy(valid_from=format_time(NOW), valid_until=format_time(NOW + 1))
    assert decide([inside]).allowed


def test_action_not_permitted() -> None:
    """A kind the policy does not list is refused at $.permission.action."""
    only = policy(permission={"action": ["aggregate"], "constraints": []})
    verdict = decide([only])
    assert (verdict.code, verdict.path) == ("action_not_permitted", "$.permission.action")


def test_manual_beats_auto_when_both_allow() -> None:
    """If an auto and a manual policy both allow, a person must approve."""
    auto = policy(PURPOSE, id="pol-auto")
    manual = policy(PURPOSE, id="pol-manual", approval="manual")
    verdict = decide([auto, manual])
    assert verdict.allowed
    assert verdict.manual
    assert verdict.policy_id == "pol-manual"
    assert verdict.allowing == (("pol-auto", 1), ("pol-manual", 1))


def test_auto_allows_when_the_manual_policy_does_not_apply() -> None:
    """A manual policy that refuses does not force approval of what an auto policy allows."""
    auto = policy(PURPOSE, id="pol-auto")
    manual = policy(
        {"left": "requester", "op": "isNoneOf", "right": [LEA]}, id="pol-manual", approval="manual"
    )
    verdict = decide([auto, manual])
    assert verdict.allowed
    assert not verdict.manual
    assert verdict.policy_id == "pol-auto"


def test_manual_only() -> None:
    """A single manual policy allows subject to a person's approval."""
    verdict = decide([policy(PURPOSE, approval="manual")])
    assert verdict.allowed
    assert verdict.manual
    assert "person" in verdict.reason


def test_intersection_needs_a_person_at_every_provider_but_the_proposer() -> None:
    """An auto policy naming intersection allows it only after a person approves; the proposer
    (who asked for it) is not asked again; other kinds under the same policy stay automatic."""
    auto = policy(PURPOSE)
    verdict = decide([auto], manifest("intersection"))
    assert verdict.allowed
    assert verdict.manual
    assert "explicit consent" in verdict.reason
    own = evaluate(
        [policy(PURPOSE, dataset="suspects")],
        manifest("intersection"),
        provider=LEA,
        dataset="suspects",
        facts=facts(),
        now=NOW,
    )
    assert own.allowed
    assert not own.manual
    assert not decide([auto], manifest("intersection_size")).manual


def test_intersection_is_refused_unless_a_policy_names_it() -> None:
    """A policy listing every other kind does not admit an intersection."""
    others = [kind for kind in sorted(PARAMETERS) if kind != "intersection"]
    verdict = decide(
        [policy(permission={"action": others, "constraints": []})], manifest("intersection")
    )
    assert (verdict.code, verdict.path) == ("action_not_permitted", "$.permission.action")


def test_refusal_names_the_closest_policy() -> None:
    """With no policy allowing, the refusal is that of the policy that got furthest."""
    wrong_kind = policy(id="pol-a", permission={"action": ["aggregate"], "constraints": []})
    wrong_purpose = policy(
        PURPOSE, {"left": "purpose", "op": "eq", "right": "research"}, id="pol-b"
    )
    verdict = decide([wrong_kind, wrong_purpose])
    assert (verdict.code, verdict.policy_id) == ("constraint_failed", "pol-b")
    assert verdict.path == "$.permission.constraints[1]"
    assert "victim-outreach" in verdict.reason
    assert verdict.code in REFUSAL_CODES


def test_participants_outside_the_data_space_are_refused() -> None:
    """A compute party from no admitted data space refuses, even with no constraint at all."""
    proposal = manifest(compute_parties=[LEA, NGO_A, STRANGER])
    verdict = decide([policy()], proposal)
    assert verdict.code == "participant_not_admitted"
    assert verdict.path == "$.permission.constraints"


def test_linked_partner_needs_an_opt_in() -> None:
    """A member of a linked data space takes part only if the policy names that space."""
    proposal = manifest(compute_parties=[LEA, NGO_A, BE_NGO])
    assert decide([policy()], proposal).code == "participant_not_admitted"
    home_only = {"left": "data_space", "op": "eq", "right": SPACE}
    refused = decide([policy(home_only)], proposal)
    assert (refused.code, refused.path) == (
        "participant_not_admitted",
        "$.permission.constraints[0]",
    )
    opted = {"left": "data_space", "op": "isAnyOf", "right": [SPACE, LINKED]}
    roles = {"left": "compute_party_role", "op": "isAnyOf", "right": ["lea", "ngo"]}
    assert decide([policy(opted, roles)], proposal).allowed


def test_linked_space_for_another_purpose_does_not_admit() -> None:
    """The link to OTHER covers research only, so its members are not admitted here."""
    proposal = manifest(compute_parties=[LEA, NGO_A, STRANGER])
    opted = {"left": "data_space", "op": "isAnyOf", "right": [SPACE, OTHER]}
    assert decide([policy(opted)], proposal).code == "participant_not_admitted"


def test_exclusion_of_a_linked_space_applies_to_its_members() -> None:
    """isNoneOf on data_space fails for a participant who takes part through that space."""
    proposal = manifest(compute_parties=[LEA, NGO_A, BE_NGO])
    opted = {"left": "data_space", "op": "isAnyOf", "right": [SPACE, LINKED]}
    excluded = {"left": "data_space", "op": "isNoneOf", "right": [LINKED]}
    verdict = decide([policy(opted, excluded)], proposal)
    assert (verdict.code, verdict.path) == ("constraint_failed", "$.permission.constraints[1]")
    assert "compute_parties" in verdict.reason


def test_roles_come_from_the_admitted_data_space_only() -> None:
    """Roles a node holds in a data space it is not admitted through do not count."""
    changed = {NGO_B: {SPACE: frozenset({"ngo"}), OTHER: frozenset({"lea"})}}
    rule = {"left": "compute_party_role", "op": "isNoneOf", "right": ["lea"]}
    proposal = manifest(compute_parties=[NGO_A, NGO_B, CARE], recipients=[LEA])
    assert decide([policy(rule)], proposal, facts=facts(changed=changed)).allowed


@pytest.mark.parametrize(
    "constraint",
    [
        Constraint("purpose", "lt", "victim-outreach"),  # operator not allowed for the operand
        Constraint("colour", "eq", "red"),  # unknown operand
        Constraint("input_bound", "gteq", "many"),  # right of the wrong type
        Constraint("requester_role", "isAnyOf", ("lea",)),  # fine: the control case
    ],
)
def test_hand_built_policies_fail_closed(constraint: Constraint) -> None:
    """A policy built around the validator refuses (unevaluable) instead of passing."""
    built = Policy("pol-x", 1, "clients-2026", ("set_difference",), (constraint,), "auto")
    verdict = decide([built])
    if constraint.left == "requester_role":
        assert verdict.allowed
    else:
        assert (verdict.code, verdict.path) == (
            "constraint_unevaluable",
            "$.permission.constraints[0]",
        )


def test_explain_against_a_manifest() -> None:
    """Explain lists each part; a group size is not applicable to a set difference."""
    rule = policy(PURPOSE, {"left": "min_group_size", "op": "gteq", "right": 10})
    shown = explain(rule, now=NOW, facts=facts(), manifest=manifest(), provider=NGO_A)
    assert shown.outcome == "allow"
    outcomes = {check.path: check.outcome for check in shown.checks}
    assert outcomes["$.permission.constraints[0]"] is Outcome.PASSES
    assert outcomes["$.permission.constraints[1]"] is Outcome.NOT_APPLICABLE
    assert shown.checks[0].to_json()["outcome"] == "pass"


def test_explain_shows_every_failure() -> None:
    """Explain goes on after the first failure, so a steward sees all that fails."""
    rule = policy(
        {"left": "purpose", "op": "eq", "right": "research"},
        {"left": "recipient", "op": "isAnyOf", "right": [NGO_B]},
    )
    shown = explain(rule, now=NOW, facts=facts(), manifest=manifest(), provider=NGO_A)
    failed = [check.path for check in shown.checks if check.outcome is Outcome.FAILS]
    assert shown.outcome == "refuse"
    assert failed == ["$.permission.constraints[0]", "$.permission.constraints[1]"]


def test_explain_for_a_requester() -> None:
    """With only a requester, manifest-dependent parts are not applicable."""
    rule = policy(
        {"left": "requester_role", "op": "isAnyOf", "right": ["lea"]},
        {"left": "result_limit", "op": "lteq", "right": 5},
        {"left": "count", "op": "lteq", "right": 4, "per": "P30D"},
    )
    lea = Requester(LEA, SPACE, frozenset({"lea"}))
    shown = explain(rule, now=NOW, facts=facts(usage=1), requester=lea)
    assert shown.outcome == "undetermined"
    outcomes = [check.outcome for check in shown.checks]
    assert outcomes[3:] == [Outcome.PASSES, Outcome.NOT_APPLICABLE, Outcome.PASSES]
    ngo = Requester(NGO_B, SPACE, frozenset({"ngo"}))
    refused = explain(rule, now=NOW, facts=facts(usage=4), requester=ngo)
    assert refused.outcome == "refuse"
    reasons = [c.reason for c in refused.checks if c.outcome is Outcome.FAILS]
    assert len(reasons) == 2
    assert "{ngo}" in reasons[0]


def test_explain_a_manifest_that_does_not_use_the_dataset() -> None:
    """Explain says so at $.dataset when the proposal does not use the policy's dataset."""
    shown = explain(policy(), now=NOW, facts=facts(), manifest=manifest(), provider=CARE)
    assert shown.checks[0].path == "$.dataset"
    assert shown.outcome == "refuse"


def test_explain_needs_a_subject() -> None:
    """Explain without a manifest and provider, or a requester, is an invalid request."""
    with pytest.raises(InvalidError) as caught:
        explain(policy(), now=NOW)
    assert caught.value.code == "invalid_explain_request"


def test_facts_from_membership() -> None:
    """Facts read roles from admitted credentials and keep only links valid now."""
    view = Membership([nl_charter(), be_charter()])
    view.add_credential(credential(LEA_IDENTITY, roles=frozenset({"lea"})))
    view.add_credential(credential(BE_NGO_IDENTITY, space=BE, signers=tuple(BE_GOV[:2])))
    valid = link(purposes=frozenset({"monitoring"}))
    unsigned = link(signers=tuple(NL_GOV[:2]))
    known = Facts.from_membership(view, [NL, BE], [valid, unsigned], T0 + 1)
    assert known.roles[LEA_IDENTITY.node_id] == {NL: frozenset({"lea"})}
    assert known.roles[BE_NGO_IDENTITY.node_id] == {BE: frozenset({"ngo"})}
    assert known.linked(NL, "monitoring") == frozenset({BE})
    assert known.linked(NL, "research") == frozenset()
    assert len(known.links) == 1
