"""Tests for node/peerbook.py: peers' last addresses kept across restarts, aged out."""

from __future__ import annotations

from pathlib import Path

import pytest

from node import peerbook
from node.peerbook import PeerBook
from node.store import open_store

NOW = 1_800_000_000
A, B = "cfd1" + "a" * 52, "cfd1" + "b" * 52
URL_A, URL_B = "ws://127.0.0.1:7401/confide/v1", "ws://127.0.0.1:7402/confide/v1"


def test_addresses_survive_a_reopen_most_recent_first(tmp_path: Path) -> None:
    """What was remembered is read back by a fresh connection, newest sighting first."""
    connection = open_store(tmp_path / "store.sqlite")
    book = PeerBook(connection)
    assert book.remember([(A, URL_A)], NOW) == 1
    assert book.remember([(B, URL_B)], NOW + 5) == 1
    connection.close()
    reopened = PeerBook(open_store(tmp_path / "store.sqlite"))
    assert reopened.addresses(NOW + 10) == [(B, URL_B), (A, URL_A)]


def test_only_moved_or_stale_addresses_are_written(tmp_path: Path) -> None:
    """An unchanged address is not rewritten until REFRESH; a moved one is at once."""
    book = PeerBook(open_store(tmp_path / "store.sqlite"))
    book.remember([(A, URL_A)], NOW)
    assert book.remember([(A, URL_A)], NOW + 1) == 0
    assert book.remember([(A, URL_B)], NOW + 2) == 1
    assert book.addresses(NOW + 3) == [(A, URL_B)]
    assert book.remember([(A, URL_B)], NOW + 2 + peerbook.REFRESH) == 1


def test_entries_not_seen_for_max_age_are_dropped(tmp_path: Path) -> None:
    """An address older than max_age is deleted from the store, not dialled."""
    connection = open_store(tmp_path / "store.sqlite")
    book = PeerBook(connection, max_age=100)
    book.remember([(A, URL_A), (B, URL_B)], NOW)
    book.remember([(B, URL_B)], NOW + 90 + peerbook.REFRESH)
    assert book.addresses(NOW + 101) == [(B, URL_B)]
    rows = connection.execute("SELECT node_id FROM peer_addresses").fetchall()
    assert [row[0] for row in rows] == [B]


def test_the_book_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond MAX_PEERS, new peers are ignored; known ones still move."""
    monkeypatch.setattr(peerbook, "MAX_PEERS", 1)
    book = PeerBook(open_store(tmp_path / "store.sqlite"))
    assert book.remember([(A, URL_A), (B, URL_B)], NOW) == 1
    assert book.remember([(A, URL_B)], NOW + 1) == 1
    assert book.addresses(NOW + 2) == [(A, URL_B)]
