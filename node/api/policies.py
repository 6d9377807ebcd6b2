"""``/api/v1/policies``: this node's standing consent policies — create, version, retire, explain.

Backed by ``node.consent.policies.PolicyStore`` (validation and versions), and
``node.consent.evaluate.explain`` (which constraint passes or fails, and why). A policy body is
the JSON policy format of docs/reference/policy-format.md; the policy module validates it and
reports every problem with its JSON path, so the API schema only asks for an object.
Policies are checked against the vocabulary of the data spaces this node holds charters of,
and must name a dataset this node holds (``dataset_unknown`` at ``$.dataset`` otherwise): a
policy on a misspelt dataset would never apply, and nothing is silently ignored.
"""

from __future__ import annotations

from typing import Any

from node.api.routes import OPEN_OBJECT, Call, Reply, Route, listing, obj
from node.consent.checks import Facts, Requester
from node.consent.evaluate import explain
from node.consent.manifest import parse_manifest
from node.consent.policy import Policy, Vocabulary, parse_policy
from node.errors import InvalidError, NotFoundError

ADMIN = "admin"

STORED_SCHEMA = {
    "type": "object",
    "required": ["policy", "digest", "created_at", "retired_at", "current"],
    "properties": {
        "policy": {"type": "object"},
        "digest": {"type": "string"},
        "created_at": {"type": "integer"},
        "retired_at": {"type": ["integer", "null"]},
        "current": {"type": "boolean"},
    },
}
_NAME_LIST = {"type": "array", "items": {"type": "string", "maxLength": 128}, "maxItems": 64}
EXPLAIN_BODY = {
    "oneOf": [
        obj({"manifest": {"type": "object"}}, required=("manifest",)),
        obj(
            {
                "requester": obj(
                    {
                        "node_id": {"type": "string", "maxLength": 128},
                        "data_space": {"type": "string", "maxLength": 128},
                        "roles": _NAME_LIST,
                    },
                    required=("node_id", "data_space"),
                )
            },
            required=("requester",),
        ),
    ]
}
VALIDATION_SCHEMA = {
    "type": "object",
    "required": ["valid"],
    "properties": {"valid": {"type": "boolean"}, "errors": {"type": "array"}},
}


def routes(service: Any) -> list[Route]:
    """The policy routes, for a service with a policy store."""
    if getattr(service, "policies", None) is None:
        return []
    return [
        Route(
            "GET",
            "/policies",
            "policies.list",
            _list,
            "Current version of each policy (filter by dataset; retired ones on request)",
            query={"dataset": {"type": "string", "maxLength": 128}, "retired": {"type": "boolean"}},
            response=listing("policies", STORED_SCHEMA),
        ),
        Route(
            "POST",
            "/policies",
            "policies.create",
            _create,
            "Create a policy (version 1); every problem is reported with its JSON path",
            status=201,
            body=OPEN_OBJECT,
            response=STORED_SCHEMA,
            errors=(409,),
        ),
        Route(
            "POST",
            "/policies/validate",
            "policies.validate",
            _validate,
            "Check a policy without storing it",
            body=OPEN_OBJECT,
            response=VALIDATION_SCHEMA,
        ),
        Route(
            "GET",
            "/policies/{policy_id}",
            "policies.get",
            _get,
            "One policy (its current version, or `version`)",
            query={"version": {"type": "integer", "minimum": 1}},
            response=STORED_SCHEMA,
            errors=(404,),
        ),
        Route(
            "GET",
            "/policies/{policy_id}/versions",
            "policies.versions",
            _versions,
            "Every version of a policy, oldest first",
            response=listing("versions", STORED_SCHEMA),
            errors=(404,),
        ),
        Route(
            "PUT",
            "/policies/{policy_id}",
            "policies.update",
            _update,
            "Store the next version of a policy (name `version` to guard against a lost update)",
            body=OPEN_OBJECT,
            response=STORED_SCHEMA,
            errors=(404, 409),
        ),
        Route(
            "POST",
            "/policies/{policy_id}/retire",
            "policies.retire",
            _retire,
            "Retire a policy now: no evaluation uses it from this moment",
            response=STORED_SCHEMA,
            errors=(404, 409),
        ),
        Route(
            "POST",
            "/policies/{policy_id}/explain",
            "policies.explain",
            _explain,
            "Which constraint passes or fails for a manifest, or for a would-be requester",
            body=EXPLAIN_BODY,
            response=OPEN_OBJECT,
            errors=(404,),
        ),
    ]


def vocabulary(service: Any, now: int) -> Vocabulary | None:
    """Roles, purposes and data spaces of the charters held (None if the node holds none)."""
    spaces = service.dataspaces.summary(now) if getattr(service, "dataspaces", None) else []
    if not spaces:
        return None
    names = {space["data_space"] for space in spaces}
    names |= {other for space in spaces for other in space.get("linked_to", [])}
    return Vocabulary(
        roles=frozenset(role for space in spaces for role in space["roles"]),
        purposes=frozenset(purpose for space in spaces for purpose in space["purposes"]),
        data_spaces=frozenset(names),
    )


async def _list(call: Call) -> Reply:
    stored = call.service.policies.list(
        dataset=call.query.get("dataset"), include_retired=call.query.get("retired", False)
    )
    return Reply({"policies": [item.to_json() for item in stored]})


def checked(service: Any, document: Any, now: int) -> Policy:
    """``document`` parsed against the charters' vocabulary, its dataset held by this node."""
    policy = parse_policy(document, vocabulary=vocabulary(service, now))
    datasets = getattr(service, "datasets", None)
    if datasets is not None:
        try:
            datasets.get(policy.dataset)
        except NotFoundError:
            raise InvalidError(
                "dataset_unknown",
                "the policy names a dataset this node does not hold",
                {"errors": [{"path": "$.dataset", "message": "no dataset of that name here"}]},
            ) from None
    return policy


async def _create(call: Call) -> Reply:
    checked(call.service, call.body, call.now)
    stored = call.service.policies.create(
        call.body, now=call.now, vocabulary=vocabulary(call.service, call.now), actor=ADMIN
    )
    return Reply(stored.to_json())


async def _validate(call: Call) -> Reply:
    try:
        policy = checked(call.service, call.body, call.now)
    except InvalidError as error:
        return Reply({"valid": False, **error.to_json()["error"]})
    return Reply({"valid": True, "policy": policy.to_json()})


async def _get(call: Call) -> Reply:
    stored = call.service.policies.get(call.params["policy_id"], call.query.get("version"))
    return Reply(stored.to_json())


async def _versions(call: Call) -> Reply:
    stored = call.service.policies.versions(call.params["policy_id"])
    return Reply({"versions": [item.to_json() for item in stored]})


async def _update(call: Call) -> Reply:
    checked(call.service, call.body, call.now)
    stored = call.service.policies.update(
        call.params["policy_id"],
        call.body,
        now=call.now,
        vocabulary=vocabulary(call.service, call.now),
        actor=ADMIN,
    )
    return Reply(stored.to_json())


async def _retire(call: Call) -> Reply:
    return Reply(call.service.policies.retire(call.params["policy_id"], now=call.now).to_json())


async def _explain(call: Call) -> Reply:
    service = call.service
    policy = service.policies.get(call.params["policy_id"]).policy
    facts = _facts(service, call.now)
    if "manifest" in call.body:
        manifest = parse_manifest(call.body["manifest"])
        result = explain(
            policy,
            now=call.now,
            facts=facts,
            manifest=manifest,
            provider=service.identity.node_id,
        )
    else:
        asked = call.body["requester"]
        roles = asked.get("roles")
        if roles is None:  # what this node has verified about the requester
            roles = facts.roles.get(asked["node_id"], {}).get(asked["data_space"], frozenset())
        requester = Requester(asked["node_id"], asked["data_space"], frozenset(roles))
        result = explain(policy, now=call.now, facts=facts, requester=requester)
    return Reply(result.to_json())


def _facts(service: Any, now: int) -> Facts:
    """Roles and links this node has verified, from its data spaces (usage counts unknown)."""
    dataspaces = getattr(service, "dataspaces", None)
    if dataspaces is None:
        return Facts(roles={})
    spaces = [space["data_space"] for space in dataspaces.summary(now)]
    return Facts.from_membership(dataspaces.membership, spaces, dataspaces.links(), now)
