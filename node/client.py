"""A small synchronous client of a running node's admin API, for the CLI.

``AdminClient.from_home(DIR)`` reads the address the running node published in ``DIR/admin.url``
and the bearer token in ``DIR/admin-token`` (``node.home.Home``). Every call returns the decoded
JSON body of a success, or raises ``ApiError`` — a ``NodeError`` carrying the API's own ``code``,
``message``, ``details`` and HTTP status — so the CLI prints the message and exits non-zero. A
node that is not running (no ``admin.url``, or nothing listening there) is ``UnavailableError``
``node_not_running``.

It uses only the standard library (``urllib``): the CLI stays a quick, plain process.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from node.api.routes import PREFIX
from node.errors import NodeError, NotFoundError, UnavailableError
from node.home import Home

DEFAULT_TIMEOUT = 30.0


class ApiError(NodeError):
    """An error answered by the admin API, with its code, message, details and status."""

    def __init__(
        self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(code, message, details)
        self.status = status


class AdminClient:
    """Calls to one node's admin API at ``base_url`` (``http://host:port``) with ``token``."""

    def __init__(self, base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/").removesuffix(PREFIX)
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AdminClient({self.base_url!r})"  # never the token

    @classmethod
    def from_home(cls, home: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> AdminClient:
        """The client of the node running from ``home``."""
        node_home = Home(home)
        node_home.check()
        try:
            url = node_home.admin_url()
        except NotFoundError as error:
            raise UnavailableError(error.code, error.message) from None
        return cls(url, node_home.admin_token(), timeout=timeout)

    def get(self, path: str, query: Mapping[str, object] | None = None) -> Any:
        """GET ``/api/v1{path}``; the JSON body."""
        return self.request("GET", path, query=query)

    def post(
        self, path: str, body: object = None, query: Mapping[str, object] | None = None
    ) -> Any:
        """POST a JSON body (none if ``None``) to ``/api/v1{path}``; the JSON body."""
        return self.request("POST", path, body=body, query=query)

    def put(self, path: str, body: object) -> Any:
        """PUT a JSON body to ``/api/v1{path}``; the JSON body."""
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        """DELETE ``/api/v1{path}``; the JSON body (``None`` for 204)."""
        return self.request("DELETE", path)

    def upload(
        self,
        path: str,
        data: bytes | Iterable[bytes],
        media: str,
        query: Mapping[str, object] | None = None,
        *,
        length: int | None = None,
    ) -> Any:
        """POST a body of type ``media`` (e.g. a multipart CSV upload) to ``/api/v1{path}``.

        ``data`` is bytes, or an iterable of chunks sent as they come — with its exact
        ``length`` (sent as Content-Length), else in chunked transfer encoding.
        """
        extra = {} if length is None else {"Content-Length": str(length)}
        return self.request("POST", path, raw=data, media=media, query=query, extra=extra)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        raw: bytes | Iterable[bytes] | None = None,
        media: str = "application/json",
        query: Mapping[str, object] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Any:
        """One call; the decoded JSON of a success, ``None`` if it has no body."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        with self._open(method, path, data, media, query, extra) as response:
            try:
                payload = response.read()
            except (TimeoutError, ConnectionError):
                raise UnavailableError(
                    "node_unreachable", "the node stopped answering mid-response"
                ) from None
        if not payload:
            return None
        return json.loads(payload)

    def events(self, last_event_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Follow ``/api/v1/events``: each event as ``{"id", "event", "data"}``, until it ends."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        # The node sends a keep-alive comment every 15 s: a minute of silence means it is gone.
        with self._open("GET", "/events", None, "", None, headers, timeout=60.0) as stream:
            fields: dict[str, str] = {}
            for raw_line in stream:
                line = raw_line.decode("utf-8").rstrip("\r\n")
                if line:
                    if not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
                    continue
                if "event" in fields:
                    yield {
                        "id": fields.get("id"),
                        "event": fields["event"],
                        "data": json.loads(fields.get("data", "{}")),
                    }
                fields = {}

    def _open(
        self,
        method: str,
        path: str,
        data: bytes | Iterable[bytes] | None,
        media: str,
        query: Mapping[str, object] | None,
        extra: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        url = self.base_url + PREFIX + path
        if query:
            pairs = {k: _query_value(v) for k, v in query.items() if v is not None}
            url += "?" + urllib.parse.urlencode(pairs)
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = media
        headers.update(extra or {})
        # S310: the URL is http(s) only — Home.admin_url checks the scheme.
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)  # noqa: S310
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                raise UnavailableError("node_timeout", "the node did not answer in time") from None
            raise UnavailableError(
                "node_not_running", "the node is not running (nothing answers at its admin address)"
            ) from None


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _api_error(error: urllib.error.HTTPError) -> ApiError:
    """The API's error body as an ``ApiError``; a generic one if the body is not the shape."""
    try:
        body = json.loads(error.read() or b"{}")
        inner = body["error"]
        return ApiError(error.code, str(inner["code"]), str(inner["message"]), inner.get("details"))
    except (ValueError, KeyError, TypeError):
        return ApiError(error.code, "http_error", f"the node answered HTTP {error.code}")
    finally:
        error.close()
