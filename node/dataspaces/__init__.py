"""The data spaces this node knows: charters, credentials, revocations and links, in SQLite.

``DataSpaces`` owns the store component ``dataspaces`` and keeps a
``network.membership.Membership`` view in step with it. It is what the handshake asks
(``authorizer``), what the node record claims (``record_spaces``), and what the CLI and the admin
API call to administer data spaces: create a charter, issue or endorse a credential, invite,
join, revoke, link and unlink. Objects that need more signatures than this node can give are
returned unsigned by others and can be passed around as documents (``node.documents``) to be
co-signed (``sign``) and adopted (``adopt``) once complete.

Every change is one transaction; the audit event (``dataspace.*``) is appended in it, and the
``changed`` listeners (the spreading of revocations and links to peers) run after it commits.

Modules: ``tables`` (schema, shared state, errors), ``spaces`` (charters, credentials, joining,
reading back), ``links`` (revocations and data-space links).
"""

from node.dataspaces.links import LinksAndRevocations
from node.dataspaces.spaces import MAX_RECORD_ROLES, MAX_RECORD_SPACES, DataSpaces
from node.dataspaces.tables import (
    COMPONENT,
    DAY,
    STEPS,
    AuditSink,
    Change,
    DataSpaceError,
    Signed,
)

__all__ = [
    "COMPONENT",
    "DAY",
    "MAX_RECORD_ROLES",
    "MAX_RECORD_SPACES",
    "STEPS",
    "AuditSink",
    "Change",
    "DataSpaceError",
    "DataSpaces",
    "LinksAndRevocations",
    "Signed",
]
