"""node.toml: one validation place, unknown keys and bad values refused with their key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from network.identity import Identity
from node.config import Bootstrap, ConfigError, load_config, parse_config

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
