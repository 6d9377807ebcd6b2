"""``confide dataspace``: administer data spaces from the node home, offline.

Every subcommand works on the home's store directly, whether or not the node runs: a running
node picks the change up within a second and spreads a revocation to its peers at once.
Documents (charters, credentials, invitations, revocations, links) are printed as one line of
text (``confide-<kind>:…``) to pass to other operators; a DOC argument is that text or a file
holding it (``-`` reads standard input).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _read_doc(value: str) -> str:
    if value == "-":
        return sys.stdin.read(1 << 20)
    if value.startswith("confide-"):
        return value
    return Path(value).read_text(encoding="ascii", errors="replace")[: 1 << 20]


def _space(args: argparse.Namespace, config: Any) -> str:
    from node.errors import InvalidError

    space = args.data_space or config.data_space
    if space is None:
        raise InvalidError("data_space_missing", "name the data space with --data-space")
    return str(space)


def _handle(args: argparse.Namespace) -> int:
    from network.errors import NetworkError
    from node.audit import AuditLog
    from node.dataspaces import DataSpaces
    from node.errors import NodeError
    from node.home import Home
    from node.store import StoreError, open_store

    home = Home(args.home)
    try:
        config = home.config()
        identity = home.identity()
        connection = open_store(home.store_path)
        try:
            spaces = DataSpaces(connection, identity, audit=AuditLog(connection, identity))
            output = args.action(args, spaces, config)
        finally:
            connection.close()
    except NodeError as error:
        sys.stderr.write(f"confide: {error.message}\n")
        return 1
    except (StoreError, OSError) as error:
        sys.stderr.write(f"confide: {error}\n")
        return 1
    except NetworkError as error:
        sys.stderr.write(f"confide: {error.reason}\n")
        return 1
    if isinstance(output, str):
        sys.stdout.write(output + "\n")
    else:
        sys.stdout.write(json.dumps(output, indent=None if args.json else 2) + "\n")
    return 0


def _now() -> int:
    import time

    return int(time.time())


def _create(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    from node.dataspaces import admin

    created = admin.found(
        spaces,
        _space(args, config),
        roles=args.role,
        purposes=args.purpose,
        now=_now(),
        my_roles=args.my_role or (),
        valid_days=args.valid_days,
        governance=args.governance or (),
        governance_threshold=args.governance_threshold,
        admission=args.admission,
        admission_threshold=args.admission_threshold,
    )
    return created["charter"]


def _invite(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    from node.dataspaces import admin

    peer_url = None
    if config.peer.port or config.peer.advertise:
        peer_url = config.peer.address(config.peer.port)
    invited = admin.invite(
        spaces,
        _space(args, config),
        args.member,
        args.role or (),
        _now(),
        valid_days=args.valid_days,
        peer_url=peer_url,
    )
    return invited["invitation"]


def _sign(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    from node.dataspaces import admin

    return admin.cosign(spaces, _read_doc(args.document))["document"]


def _join(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    from node.dataspaces import admin

    return admin.join(spaces, _read_doc(args.invitation), _now())


def _adopt(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    from node.dataspaces import admin

    return admin.adopt(spaces, _read_doc(args.document), _now())


def _revoke(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    from node.dataspaces import admin

    space = _space(args, config)
    revoked = admin.revoke(spaces, space, _now(), member=args.member, serial=args.serial)
    return revoked["revocation"]


def _link(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    from node.dataspaces import admin

    space = _space(args, config)
    linked = admin.link(spaces, space, args.other, args.purpose, _now(), valid_days=args.valid_days)
    return linked["link"]


def _unlink(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    from node.dataspaces import admin

    return admin.unlink(spaces, _space(args, config), args.other, _now())


def _list(args: argparse.Namespace, spaces: Any, config: Any) -> Any:
    return spaces.summary(_now())


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``confide dataspace`` and its subcommands to the command parser."""
    top = commands.add_parser("dataspace", help="create, invite, join, revoke, link data spaces")
    actions = top.add_subparsers(dest="dataspace_command", required=True)

    def sub(name: str, action: Any, text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=text, description=text)
        parser.add_argument("--home", required=True, help="the node home")
        parser.add_argument("--data-space", help="data space id (default: node.data_space)")
        parser.add_argument("--json", action="store_true", help="compact JSON output")
        parser.set_defaults(handler=_handle, action=action)
        return parser

    create = sub("create", _create, "create a charter with this node among its governance")
    create.add_argument("--role", action="append", required=True, help="role vocabulary entry")
    create.add_argument("--purpose", action="append", required=True, help="purpose vocabulary")
    create.add_argument("--governance", action="append", help="governance node id (repeatable)")
    create.add_argument("--governance-threshold", type=int, default=1)
    create.add_argument("--admission", choices=["governance", "endorsements"], default="governance")
    create.add_argument("--admission-threshold", type=int, default=1)
    create.add_argument("--my-role", action="append", help="this node's own roles in it")
    create.add_argument("--valid-days", type=int, default=365, help="own credential validity")

    invite = sub("invite", _invite, "issue a credential for a node; print an invitation")
    invite.add_argument("--member", required=True, help="the invited node's id")
    invite.add_argument("--role", action="append", help="role of the member (repeatable)")
    invite.add_argument("--valid-days", type=int, default=365)

    sign = sub("sign", _sign, "add this node's signature to a document (endorse, co-sign)")
    sign.add_argument("document", help="the document text, a file, or - for stdin")

    join = sub("join", _join, "join a data space with an invitation or a credential")
    join.add_argument("invitation", help="invitation or credential: text, a file, or - (stdin)")

    adopt = sub("adopt", _adopt, "keep a completed charter, credential, revocation or link")
    adopt.add_argument("document", help="the document text, a file, or - for stdin")

    revoke = sub("revoke", _revoke, "revoke a member (governance); spread by the running node")
    revoke.add_argument("--member", help="node id whose credentials end")
    revoke.add_argument("--serial", help="serial (hex) of one credential")

    link = sub("link", _link, "link this data space to another (both governances sign)")
    link.add_argument("--with", dest="other", required=True, help="the other data space")
    link.add_argument("--purpose", action="append", required=True, help="allowed purpose")
    link.add_argument("--valid-days", type=int, default=365)

    unlink = sub("unlink", _unlink, "stop honouring the links between two data spaces here")
    unlink.add_argument("--with", dest="other", required=True, help="the other data space")

    sub("list", _list, "the data spaces this node holds")
