"""Errors of the node, each with a stable machine-readable code.

::

    NodeError(code, message, details)      base; ``http_status`` 500
    ├── InvalidError                       400  the request or input does not validate
    ├── UnauthorizedError                  401  missing or wrong admin token
    ├── ForbiddenError                     403  valid, but policy or role says no
    ├── NotFoundError                      404  no such dataset / policy / computation…
    ├── ConflictError                      409  exists already, or the state forbids it now
    ├── TooLargeError                      413  a body or file over its limit
    └── UnavailableError                   503  a peer, the disk or the node is not able to now

``code`` is a short snake_case string that never changes meaning (clients branch on it);
``message`` is one human sentence with no identifier value, share, key or token in it;
``details`` is a JSON-able mapping (the JSON path of a bad field, a CSV line number…).
The admin API renders every NodeError as ``{"error": {"code", "message", "details"}}`` with
``http_status``; the CLI prints ``message`` and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class NodeError(Exception):
    """Base of the node's errors; see the module docstring for the hierarchy."""

    http_status: ClassVar[int] = 500

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_json(self) -> dict[str, Any]:
        """The error body of the admin API."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidError(NodeError):
    """The request or the input does not validate."""

    http_status = 400


class UnauthorizedError(NodeError):
    """Missing or wrong admin token."""

    http_status = 401


class ForbiddenError(NodeError):
    """Understood and valid, but a policy, role or membership says no."""

    http_status = 403


class NotFoundError(NodeError):
    """No such resource."""

    http_status = 404


class ConflictError(NodeError):
    """The resource exists already, or its state does not allow this now."""

    http_status = 409


class TooLargeError(NodeError):
    """A body, file or list over its limit."""

    http_status = 413


class UnavailableError(NodeError):
    """A peer, the disk or the node cannot do this now; retrying later may work."""

    http_status = 503
