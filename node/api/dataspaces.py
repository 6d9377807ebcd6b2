"""``/api/v1/dataspaces``: the data spaces this node holds, and their administration.

Reading: the data spaces this node holds a charter of, with its own membership. Administering:
create a charter, invite a member, join with an invitation or a credential, co-sign and adopt
documents, revoke, link and unlink — each the same function ``confide dataspace`` calls
(``node.dataspaces.admin``), on the running node's store, so a change takes effect at once
(the handshake reads it at the next connection; a revocation is spread to peers; a join makes
the node dial the invitation's bootstrap addresses). Documents travel as one line of text
(``confide-<kind>:…``, docs/spec/identity-and-dataspaces.md).
"""

from __future__ import annotations

from typing import Any

from node.api.routes import Call, Reply, Route, listing, obj
from node.dataspaces import admin
from node.errors import NotFoundError

_NAMES = {"type": "array", "items": {"type": "string"}}
_VOCABULARY = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 64},
    "maxItems": 64,
}
_SPACE_NAME = {"type": "string", "minLength": 1, "maxLength": 128}
_NODE_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_DOCUMENT = {"type": "string", "minLength": 1, "maxLength": 64 * 1024}
_VALID_DAYS = {"type": "integer", "minimum": 1, "maximum": 3660}
_THRESHOLD = {"type": "integer", "minimum": 1, "maximum": 64}

DATA_SPACE_SCHEMA = obj(
    {
        "data_space": {"type": "string"},
        "version": {"type": "integer"},
        "governance": _NAMES,
        "is_governance": {"type": "boolean"},
        "admission": {"type": "object"},
        "roles": _NAMES,
        "purposes": _NAMES,
        "member": {"type": "boolean"},
        "my_roles": _NAMES,
        "valid_until": {"type": ["integer", "null"]},
        "members_known": {"type": "integer"},
        "linked_to": _NAMES,
    },
    required=("data_space", "member"),
)
CREATE_BODY = obj(
    {
        "data_space": _SPACE_NAME,
        "roles": {**_VOCABULARY, "minItems": 1},
        "purposes": {**_VOCABULARY, "minItems": 1},
        "my_roles": _VOCABULARY,
        "valid_days": _VALID_DAYS,
        "governance": {"type": "array", "items": _NODE_ID, "maxItems": 64},
        "governance_threshold": _THRESHOLD,
        "admission": {"enum": ["governance", "endorsements"]},
        "admission_threshold": _THRESHOLD,
    },
    required=("data_space", "roles", "purposes"),
)
CREATED_SCHEMA = obj(
    {"data_space": {"type": "string"}, "adopted": {"type": "boolean"}, "charter": _DOCUMENT},
    required=("data_space", "adopted", "charter"),
)
INVITE_BODY = obj(
    {"member": _NODE_ID, "roles": _VOCABULARY, "valid_days": _VALID_DAYS},
    required=("member",),
)
INVITED_SCHEMA = obj(
    {
        "data_space": {"type": "string"},
        "member": {"type": "string"},
        "roles": _NAMES,
        "valid_until": {"type": "integer"},
        "serial": {"type": "string"},
        "invitation": _DOCUMENT,
    },
    required=("data_space", "member", "roles", "valid_until", "serial", "invitation"),
)
DOCUMENT_BODY = obj({"document": _DOCUMENT}, required=("document",))
JOINED_SCHEMA = obj(
    {
        "data_space": {"type": "string"},
        "roles": _NAMES,
        "valid_until": {"type": "integer"},
        "charter_sha256": {"type": "string"},
    },
    required=("data_space", "roles", "valid_until", "charter_sha256"),
)
SIGNED_SCHEMA = obj(
    {"kind": {"type": "string"}, "document": _DOCUMENT}, required=("kind", "document")
)
ADOPTED_SCHEMA = obj(
    {"kind": {"type": "string"}, "new": {"type": "boolean"}}, required=("kind", "new")
)
REVOKE_BODY = {
    "oneOf": [
        obj({"member": _NODE_ID}, required=("member",)),
        obj({"serial": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}}, required=("serial",)),
    ]
}
REVOKED_SCHEMA = obj(
    {"data_space": {"type": "string"}, "kept": {"type": "boolean"}, "revocation": _DOCUMENT},
    required=("data_space", "kept", "revocation"),
)
LINK_BODY = obj(
    {"with": _SPACE_NAME, "purposes": {**_VOCABULARY, "minItems": 1}, "valid_days": _VALID_DAYS},
    required=("with", "purposes"),
)
LINKED_SCHEMA = obj(
    {"data_spaces": _NAMES, "kept": {"type": "boolean"}, "link": _DOCUMENT},
    required=("data_spaces", "kept", "link"),
)
UNLINKED_SCHEMA = obj({"unlinked": {"type": "integer"}}, required=("unlinked",))


def routes(service: Any) -> list[Route]:
    """The data-space routes, for a service with data spaces."""
    if getattr(service, "dataspaces", None) is None:
        return []
    return [
        Route(
            "GET",
            "/dataspaces",
            "dataspaces.list",
            _list,
            "Data spaces this node holds a charter of, with its own membership",
            response=listing("data_spaces", DATA_SPACE_SCHEMA),
        ),
        Route(
            "POST",
            "/dataspaces",
            "dataspaces.create",
            _create,
            "Create a charter with this node among its governance (and its own credential)",
            status=201,
            body=CREATE_BODY,
            response=CREATED_SCHEMA,
            description="`adopted` is false when more governance signatures are needed: "
            "pass `charter` to the other governance nodes to co-sign (`/dataspaces/sign`), "
            "then adopt it (`/dataspaces/adopt`).",
            errors=(409,),
        ),
        Route(
            "POST",
            "/dataspaces/join",
            "dataspaces.join",
            _join,
            "Join a data space with an invitation, or a credential of a held charter",
            body=DOCUMENT_BODY,
            response=JOINED_SCHEMA,
            errors=(404,),
        ),
        Route(
            "POST",
            "/dataspaces/sign",
            "dataspaces.sign",
            _sign,
            "Add this node's signature to a document (endorse, co-sign)",
            body=DOCUMENT_BODY,
            response=SIGNED_SCHEMA,
        ),
        Route(
            "POST",
            "/dataspaces/adopt",
            "dataspaces.adopt",
            _adopt,
            "Hold a completed charter, credential, revocation or link",
            body=DOCUMENT_BODY,
            response=ADOPTED_SCHEMA,
        ),
        Route(
            "GET",
            "/dataspaces/{data_space}",
            "dataspaces.get",
            _get,
            "One data space",
            response=DATA_SPACE_SCHEMA,
            errors=(404,),
        ),
        Route(
            "POST",
            "/dataspaces/{data_space}/invitations",
            "dataspaces.invite",
            _invite,
            "Issue a credential for a node and return it as an invitation",
            status=201,
            body=INVITE_BODY,
            response=INVITED_SCHEMA,
            errors=(404,),
        ),
        Route(
            "POST",
            "/dataspaces/{data_space}/revocations",
            "dataspaces.revoke",
            _revoke,
            "Revoke a member, or one credential by serial (effective at once here)",
            status=201,
            body=REVOKE_BODY,
            response=REVOKED_SCHEMA,
            errors=(404,),
        ),
        Route(
            "POST",
            "/dataspaces/{data_space}/links",
            "dataspaces.link",
            _link,
            "Link this data space to another (kept once both governances signed)",
            status=201,
            body=LINK_BODY,
            response=LINKED_SCHEMA,
            errors=(404,),
        ),
        Route(
            "DELETE",
            "/dataspaces/{data_space}/links/{other}",
            "dataspaces.unlink",
            _unlink,
            "Stop honouring the links between two data spaces here",
            response=UNLINKED_SCHEMA,
            errors=(404,),
        ),
    ]


async def _list(call: Call) -> Reply:
    return Reply({"data_spaces": call.service.dataspaces.summary(call.now)})


async def _get(call: Call) -> Reply:
    name = call.params["data_space"]
    for entry in call.service.dataspaces.summary(call.now):
        if entry["data_space"] == name:
            return Reply(entry)
    raise NotFoundError("data_space_unknown", "this node holds no charter for that data space")


async def _create(call: Call) -> Reply:
    body = call.body
    return Reply(
        admin.found(
            call.service.dataspaces,
            body["data_space"],
            roles=body["roles"],
            purposes=body["purposes"],
            now=call.now,
            my_roles=body.get("my_roles", ()),
            valid_days=body.get("valid_days", 365),
            governance=body.get("governance", ()),
            governance_threshold=body.get("governance_threshold", 1),
            admission=body.get("admission", "governance"),
            admission_threshold=body.get("admission_threshold", 1),
        )
    )


async def _invite(call: Call) -> Reply:
    service = call.service
    return Reply(
        admin.invite(
            service.dataspaces,
            call.params["data_space"],
            call.body["member"],
            call.body.get("roles", ()),
            call.now,
            valid_days=call.body.get("valid_days", 365),
            peer_url=getattr(service, "peer_url", None),
        )
    )


async def _join(call: Call) -> Reply:
    return Reply(admin.join(call.service.dataspaces, call.body["document"], call.now))


async def _sign(call: Call) -> Reply:
    return Reply(admin.cosign(call.service.dataspaces, call.body["document"]))


async def _adopt(call: Call) -> Reply:
    return Reply(admin.adopt(call.service.dataspaces, call.body["document"], call.now))


async def _revoke(call: Call) -> Reply:
    return Reply(
        admin.revoke(
            call.service.dataspaces,
            call.params["data_space"],
            call.now,
            member=call.body.get("member"),
            serial=call.body.get("serial"),
        )
    )


async def _link(call: Call) -> Reply:
    body = call.body
    return Reply(
        admin.link(
            call.service.dataspaces,
            call.params["data_space"],
            body["with"],
            body["purposes"],
            call.now,
            valid_days=body.get("valid_days", 365),
        )
    )


async def _unlink(call: Call) -> Reply:
    space, other = call.params["data_space"], call.params["other"]
    return Reply(admin.unlink(call.service.dataspaces, space, other, call.now))
