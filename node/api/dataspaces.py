"""``/api/v1/dataspaces``: the data spaces this node holds a charter of, and its membership.

Administration (charters, invitations, credentials, revocations, links) is done with the offline
``confide dataspace`` commands on the node home; the running node picks the changes up from the
store within a second. The API reads.
"""

from __future__ import annotations

from typing import Any

from node.api.routes import Call, Reply, Route, listing, obj
from node.errors import NotFoundError

_NAMES = {"type": "array", "items": {"type": "string"}}

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
            "GET",
            "/dataspaces/{data_space}",
            "dataspaces.get",
            _get,
            "One data space",
            response=DATA_SPACE_SCHEMA,
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
