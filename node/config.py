"""``node.toml``: the node's configuration, a frozen dataclass validated in one place.

Layout (every section and key optional except ``node.name``)::

    [node]
    name = "NGO A"                      # shown to operators; 1-100 printable characters
    data_space = "nl-human-trafficking" # default of the --data-space option of `dataspace`

    [peer]
    host = "127.0.0.1"                  # address the peer endpoint binds
    port = 7400                         # 0 picks a free port
    advertise = "ws://203.0.113.5:7400/confide/v1"  # what peers dial; default from host/port
    tls_cert = "tls/cert.pem"           # listen with TLS (wss://); paths relative to the home
    tls_key = "tls/key.pem"             # its private key (both or neither)
    tls_ca = "tls/ca.pem"               # CAs trusted when dialling wss:// (default: the system's)

    [admin]
    host = "127.0.0.1"                  # the admin API; loopback unless you know why not
    port = 7401                         # 0 picks a free port (the CLI reads admin.url)

    [discovery]
    bootstrap = ["cfd1…@ws://198.51.100.7:7400/confide/v1"]

An unknown section or key, or a value of the wrong type or out of range, is refused with a
``ConfigError`` naming its key path (``peer.port``); nothing is ever silently ignored.
"""

from __future__ import annotations

import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from network.canonical import check_name
from network.errors import ValidationError
from network.identity import check_node_id
from network.records import check_address
from node.errors import InvalidError

DEFAULT_PEER_PORT: Final = 7400
DEFAULT_ADMIN_PORT: Final = 7401
MAX_NAME: Final = 100
MAX_BOOTSTRAP: Final = 32
MAX_CONFIG_BYTES: Final = 65536
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class ConfigError(InvalidError):
    """``node.toml`` does not validate; ``details["path"]`` names the key."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__("config_invalid", f"node.toml: {path}: {reason}", {"path": path})


@dataclass(frozen=True)
class Bootstrap:
    """A node to dial at start: its id (checked in the handshake) and its peer address."""

    node_id: str
    url: str

    def __str__(self) -> str:
        return f"{self.node_id}@{self.url}"

    @classmethod
    def parse(cls, text: str, path: str = "discovery.bootstrap") -> Bootstrap:
        """Parse ``NODE_ID@ws://host:port/confide/v1``."""
        node_id, at, url = text.partition("@")
        if not at:
            raise ConfigError(path, "expected NODE_ID@ws://host:port/confide/v1")
        try:
            check_node_id(node_id, path)
            check_address(url, path)
        except ValidationError as error:
            raise ConfigError(path, error.reason) from None
        return cls(node_id, url)


@dataclass(frozen=True)
class PeerConfig:
    """Where the peer endpoint listens and what address it tells others."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PEER_PORT
    advertise: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None

    def address(self, bound_port: int) -> str:
        """The address peers dial: ``advertise`` if set, else built from host and bound port
        (``wss://`` when the endpoint listens with TLS)."""
        if self.advertise is not None:
            return self.advertise
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "ws" if self.tls_cert is None else "wss"
        return f"{scheme}://{host}:{bound_port}/confide/v1"

    def server_tls(self, home: Path) -> ssl.SSLContext | None:
        """The TLS context the peer endpoint listens with (None: plain ``ws://``); the files are
        read relative to ``home``. Raises ``ConfigError`` if they do not load."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(home / self.tls_cert, home / self.tls_key)
        except (OSError, ssl.SSLError):
            raise ConfigError(
                "peer.tls_cert",
                "cannot load the certificate and key (missing, unreadable, "
                "not PEM, or the key does not match the certificate)",
            ) from None
        return context

    def client_tls(self, home: Path) -> ssl.SSLContext | None:
        """The TLS context for dialling ``wss://`` peers: trusting ``tls_ca`` (read relative to
        ``home``) if set, else None (the system's trust store). Raises ``ConfigError`` if the CA
        file does not load."""
        if self.tls_ca is None:
            return None
        try:
            return ssl.create_default_context(cafile=str(home / self.tls_ca))
        except (OSError, ssl.SSLError):
            raise ConfigError(
                "peer.tls_ca", "cannot load the CA certificates (missing, unreadable or not PEM)"
            ) from None


@dataclass(frozen=True)
class AdminConfig:
    """Where the admin API listens (loopback by default)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_ADMIN_PORT

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can reach the admin API."""
        return self.host in _LOOPBACK


@dataclass(frozen=True)
class NodeConfig:
    """The whole of ``node.toml``."""

    name: str
    data_space: str | None = None
    peer: PeerConfig = field(default_factory=PeerConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    bootstrap: tuple[Bootstrap, ...] = ()

    def to_toml(self) -> dict[str, Any]:
        """The mapping ``node.toml`` holds (the inverse of :func:`parse_config`)."""
        node: dict[str, Any] = {"name": self.name}
        if self.data_space is not None:
            node["data_space"] = self.data_space
        peer: dict[str, Any] = {"host": self.peer.host, "port": self.peer.port}
        if self.peer.advertise is not None:
            peer["advertise"] = self.peer.advertise
        for key in ("tls_cert", "tls_key", "tls_ca"):
            if (value := getattr(self.peer, key)) is not None:
                peer[key] = value
        return {
            "node": node,
            "peer": peer,
            "admin": {"host": self.admin.host, "port": self.admin.port},
            "discovery": {"bootstrap": [str(b) for b in self.bootstrap]},
        }


_SECTIONS: Final = {
    "node": ("name", "data_space"),
    "peer": ("host", "port", "advertise", "tls_cert", "tls_key", "tls_ca"),
    "admin": ("host", "port"),
    "discovery": ("bootstrap",),
}


def _table(document: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    value = document.get(section, {})
    if not isinstance(value, dict):
        raise ConfigError(section, "must be a table")
    for key in value:
        if key not in _SECTIONS[section]:
            raise ConfigError(f"{section}.{key}", "unknown key")
    return value


def _string(table: Mapping[str, Any], path: str, key: str, default: str | None) -> str | None:
    value = table.get(key, default)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{path}.{key}", "must be a non-empty string")
    return value


def _port(table: Mapping[str, Any], path: str, default: int) -> int:
    value = table.get("port", default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigError(f"{path}.port", "must be an integer from 0 to 65535")
    return value


def _host(table: Mapping[str, Any], path: str) -> str:
    host = _string(table, path, "host", "127.0.0.1")
    assert host is not None
    if any(c.isspace() or c in "/@[]" for c in host):
        raise ConfigError(f"{path}.host", "must be a host name or IP address")
    return host


def _file(table: Mapping[str, Any], key: str) -> str | None:
    """A file path (relative to the node's home, or absolute), checked for shape only."""
    value = _string(table, "peer", key, None)
    if value is not None and (len(value) > 1024 or not value.isprintable()):
        raise ConfigError(f"peer.{key}", "must be a file path of at most 1024 printable characters")
    return value


def parse_config(document: Mapping[str, Any]) -> NodeConfig:
    """Validate a decoded ``node.toml``; raises ``ConfigError`` at the first bad key."""
    for section in document:
        if section not in _SECTIONS:
            raise ConfigError(section, "unknown section")
    node, peer, admin = (_table(document, s) for s in ("node", "peer", "admin"))
    discovery = _table(document, "discovery")
    name = node.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise ConfigError("node.name", "must be 1-100 printable characters")
    data_space = _string(node, "node", "data_space", None)
    if data_space is not None:
        try:
            check_name(data_space, "node.data_space")
        except ValidationError:
            raise ConfigError("node.data_space", "must be a lowercase name like nl-ht") from None
    advertise = _string(peer, "peer", "advertise", None)
    if advertise is not None:
        try:
            check_address(advertise, "peer.advertise")
        except ValidationError as error:
            raise ConfigError("peer.advertise", error.reason) from None
    tls_cert, tls_key, tls_ca = (_file(peer, key) for key in ("tls_cert", "tls_key", "tls_ca"))
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError(
            "peer.tls_key" if tls_key is None else "peer.tls_cert", "set both or neither"
        )
    entries = discovery.get("bootstrap", [])
    if not isinstance(entries, list) or len(entries) > MAX_BOOTSTRAP:
        raise ConfigError("discovery.bootstrap", "must be a list of at most 32 addresses")
    bootstrap = []
    for index, entry in enumerate(entries):
        path = f"discovery.bootstrap[{index}]"
        if not isinstance(entry, str):
            raise ConfigError(path, "must be a string NODE_ID@ws://host:port/confide/v1")
        bootstrap.append(Bootstrap.parse(entry, path))
    return NodeConfig(
        name=name,
        data_space=data_space,
        peer=PeerConfig(
            _host(peer, "peer"),
            _port(peer, "peer", DEFAULT_PEER_PORT),
            advertise,
            tls_cert,
            tls_key,
            tls_ca,
        ),
        admin=AdminConfig(_host(admin, "admin"), _port(admin, "admin", DEFAULT_ADMIN_PORT)),
        bootstrap=tuple(bootstrap),
    )


def load_config(path: Path) -> NodeConfig:
    """Read and validate ``node.toml`` at ``path``."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError("$", f"cannot read the file ({error.strerror})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError("$", "file larger than 64 KiB")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("$", "not UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("$", f"not valid TOML ({error})") from None
    return parse_config(document)
