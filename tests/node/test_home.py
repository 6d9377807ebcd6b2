"""The node home: created whole or not at all, private files 0600, one running node per home."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from node.config import parse_config
from node.errors import ConflictError, InvalidError, NotFoundError
from node.home import Home, create_home

CONFIG = parse_config({"node": {"name": "NGO A"}})


def test_create_writes_private_files(tmp_path: Path) -> None:
    """identity.key and admin-token are 0600, the home 0700, and the config reads back."""
    home, identity = create_home(tmp_path / "a", CONFIG)
    assert stat.S_IMODE(home.path.stat().st_mode) == 0o700
    for path in (home.identity_path, home.token_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert home.identity().node_id == identity.node_id
    assert home.config() == CONFIG
    assert len(home.admin_token()) >= 32
    assert home.store_path.is_file()


def test_existing_home_is_never_overwritten(tmp_path: Path) -> None:
    """A second init on the same directory is refused and leaves the first intact."""
    home, identity = create_home(tmp_path / "a", CONFIG)
    token = home.admin_token()
    with pytest.raises(ConflictError) as caught:
        create_home(tmp_path / "a", CONFIG)
    assert caught.value.code == "home_exists"
    assert home.identity().node_id == identity.node_id
    assert home.admin_token() == token
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no staging directory left


def test_empty_directory_is_accepted(tmp_path: Path) -> None:
    """An empty directory (made by the operator) becomes the home."""
    (tmp_path / "a").mkdir()
    home, _ = create_home(tmp_path / "a", CONFIG)
    home.check()


def test_run_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    """While the run lock is held, taking it again is a node_running conflict."""
    home, _ = create_home(tmp_path / "a", CONFIG)
    assert not home.is_running()
    with home.run_lock():
        assert home.is_running()
        with pytest.raises(ConflictError) as caught, home.run_lock():
            pass
        assert caught.value.code == "node_running"
    assert not home.is_running()


def test_missing_home_and_unsafe_token(tmp_path: Path) -> None:
    """A directory without node.toml is not a home; a group-readable token is refused."""
    with pytest.raises(NotFoundError):
        Home(tmp_path).check()
    home, _ = create_home(tmp_path / "a", CONFIG)
    home.token_path.chmod(0o640)
    with pytest.raises(InvalidError, match="chmod 600"):
        home.admin_token()


def test_admin_url_published_and_withdrawn(tmp_path: Path) -> None:
    """admin.url appears atomically while running and is gone after."""
    home, _ = create_home(tmp_path / "a", CONFIG)
    with pytest.raises(NotFoundError):
        home.admin_url()
    home.write_admin_url("http://127.0.0.1:5000")
    assert home.admin_url() == "http://127.0.0.1:5000"
    home.remove_admin_url()
    assert not home.admin_url_path.exists()
