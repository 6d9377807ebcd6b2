"""node.toml: one validation place, unknown keys and bad values refused with their key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from network.channel import allow_nodes
from network.evilpeer import new_party
from network.host import PeerHost
from network.identity import Identity
from node.config import Bootstrap, ConfigError, NodeConfig, load_config, parse_config
from tests.network.test_wss_functional import make_pki

PEER = Identity.from_private_bytes(bytes(range(32))).node_id


def test_minimal_config_takes_defaults() -> None:
    """Only node.name is required; ports and hosts default to loopback 7400/7401."""
    config = parse_config({"node": {"name": "NGO A"}})
    assert (config.peer.host, config.peer.port, config.admin.port) == ("127.0.0.1", 7400, 7401)
    assert config.admin.is_loopback
    assert config.peer.address(7400) == "ws://127.0.0.1:7400/confide/v1"


def test_round_trip_through_toml(tmp_path: Path) -> None:
    """What to_toml writes, load_config reads back equal."""
    config = parse_config(
        {
            "node": {"name": "LEA", "data_space": "nl-ht"},
            "peer": {"port": 0, "advertise": "ws://203.0.113.5:7400/confide/v1"},
            "discovery": {"bootstrap": [f"{PEER}@ws://198.51.100.7:7400/confide/v1"]},
        }
    )
    path = tmp_path / "node.toml"
    path.write_text(tomli_w.dumps(config.to_toml()))
    assert load_config(path) == config
    assert config.bootstrap == (Bootstrap(PEER, "ws://198.51.100.7:7400/confide/v1"),)


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"node": {"name": "A"}, "nodes": {}}, "nodes"),
        ({"node": {"name": "A", "colour": "red"}}, "node.colour"),
        ({"node": {}}, "node.name"),
        ({"node": {"name": "A"}, "peer": {"port": 70000}}, "peer.port"),
        ({"node": {"name": "A"}, "admin": {"port": True}}, "admin.port"),
        ({"node": {"name": "A"}, "admin": {"host": "a b"}}, "admin.host"),
        ({"node": {"name": "A", "data_space": "Bad Space"}}, "node.data_space"),
        ({"node": {"name": "A"}, "peer": {"advertise": "http://x/"}}, "peer.advertise"),
        (
            {"node": {"name": "A"}, "discovery": {"bootstrap": ["ws://x:1/confide/v1"]}},
            "discovery.bootstrap[0]",
        ),
        ({"node": {"name": "A"}, "discovery": {"bootstrap": "x"}}, "discovery.bootstrap"),
        ({"node": {"name": "A"}, "peer": 5}, "peer"),
        ({"node": {"name": "A"}, "peer": {"tls_cert": "cert.pem"}}, "peer.tls_key"),
        ({"node": {"name": "A"}, "peer": {"tls_key": "key.pem"}}, "peer.tls_cert"),
        ({"node": {"name": "A"}, "peer": {"tls_ca": 5}}, "peer.tls_ca"),
        ({"node": {"name": "A"}, "peer": {"tls_ca": "a\nb"}}, "peer.tls_ca"),
    ],
)
def test_bad_values_name_their_key_path(document: dict[str, object], path: str) -> None:
    """Each bad key or value is refused with its path in details and in the message."""
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    assert caught.value.details == {"path": path}
    assert caught.value.code == "config_invalid"
    assert f": {path}: " in caught.value.message


def test_broken_toml_is_one_clear_error(tmp_path: Path) -> None:
    """A file that is not TOML gives a config_invalid error, not a traceback."""
    path = tmp_path / "node.toml"
    path.write_text("[node\nname = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def tls_config(**peer: str) -> NodeConfig:
    """A config whose peer section has the given TLS keys."""
    return parse_config({"node": {"name": "A"}, "peer": {"port": 0, **peer}})


def test_tls_settings_round_trip_and_make_the_address_wss(tmp_path: Path) -> None:
    """TLS keys survive to_toml/load_config; with a certificate the default address is wss://."""
    config = tls_config(tls_cert="tls/cert.pem", tls_key="tls/key.pem", tls_ca="/etc/ca.pem")
    path = tmp_path / "node.toml"
    path.write_text(tomli_w.dumps(config.to_toml()))
    assert load_config(path) == config
    assert config.peer.address(7400) == "wss://127.0.0.1:7400/confide/v1"
    assert tls_config().peer.server_tls(tmp_path) is None
    assert tls_config().peer.client_tls(tmp_path) is None


@pytest.mark.parametrize(
    ("peer", "path"),
    [
        ({"tls_cert": "missing.pem", "tls_key": "key.pem"}, "peer.tls_cert"),
        ({"tls_cert": "ca.pem", "tls_key": "key.pem"}, "peer.tls_cert"),  # key of another cert
        ({"tls_ca": "missing.pem"}, "peer.tls_ca"),
        ({"tls_ca": "key.pem"}, "peer.tls_ca"),  # not a certificate
    ],
)
def test_tls_files_that_do_not_load_name_their_key(
    tmp_path: Path, peer: dict[str, str], path: str
) -> None:
    """Missing, mismatched or wrong TLS files: config_invalid naming the key, no file text."""
    make_pki(tmp_path)
    config = tls_config(**peer)
    load = config.peer.client_tls if path == "peer.tls_ca" else config.peer.server_tls
    with pytest.raises(ConfigError) as caught:
        load(tmp_path)
    assert caught.value.details == {"path": path}
    assert "PRIVATE" not in caught.value.message


@pytest.mark.asyncio
async def test_hosts_from_tls_settings_link_over_wss(tmp_path: Path) -> None:
    """Two peer endpoints built from node.toml TLS settings (relative to the home) link over
    wss://, Noise inside, with the CA file as the dialler's trust store."""
    make_pki(tmp_path / "tls")
    config = tls_config(tls_cert="tls/cert.pem", tls_key="tls/key.pem", tls_ca="tls/ca.pem")
    parties = [new_party(91), new_party(92)]
    allowed = allow_nodes([p.identity.node_id for p in parties])
    hosts = [
        PeerHost(
            party,
            allowed,
            server_tls=config.peer.server_tls(tmp_path),
            client_tls=config.peer.client_tls(tmp_path),
        )
        for party in parties
    ]
    for host in hosts:
        await host.start()
    try:
        address = config.peer.address(hosts[1].port)
        assert address == hosts[1].url
        link = await hosts[0].connect(hosts[1].node_id, address, deadline=5)
        assert link.peer.node_id == hosts[1].node_id
    finally:
        for host in hosts:
            await host.aclose()
