"""The admin API client: found from the home, JSON in and out, API errors and absent nodes coded."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from node.client import AdminClient, ApiError
from node.config import NodeConfig
from node.errors import NodeError, UnavailableError
from node.home import create_home
from tests.node.commands.helpers import running_node


def test_from_home_and_get(tmp_path: Path) -> None:
    """The client reads admin.url and admin-token from the home and gets JSON back."""
    with running_node(tmp_path) as node:
        client = AdminClient.from_home(node.home.path)
        assert client.get("/status")["name"] == "NGO A"
        assert node.home.admin_token() not in repr(client)


def test_api_errors_keep_code_status_and_details(tmp_path: Path) -> None:
    """An error answer becomes ApiError with the API's code, message, details and status."""
    with running_node(tmp_path) as node:
        client = AdminClient.from_home(node.home.path)
        with pytest.raises(ApiError) as caught:
            client.get("/dataspaces/nowhere")
        assert caught.value.status == 404
        assert caught.value.code == "data_space_unknown"
        with pytest.raises(ApiError) as caught:
            client.get("/status", query={"verbose": True})
        assert caught.value.status == 400
        assert caught.value.details["errors"] == [{"path": "verbose", "message": "unknown"}]
        assert isinstance(caught.value, NodeError)


def test_wrong_token_is_401(tmp_path: Path) -> None:
    """A client with another token gets the API's 401 as an ApiError."""
    with running_node(tmp_path) as node:
        url = node.home.admin_url()
        with pytest.raises(ApiError) as caught:
            AdminClient(url, "x" * 32).get("/status")
        assert caught.value.status == 401


def test_home_without_a_running_node(tmp_path: Path) -> None:
    """No admin.url in the home: UnavailableError node_not_running."""
    home, _ = create_home(tmp_path / "home", NodeConfig(name="NGO A"))
    with pytest.raises(UnavailableError) as caught:
        AdminClient.from_home(home.path)
    assert caught.value.code == "node_not_running"


def test_nothing_listening(tmp_path: Path) -> None:
    """An admin.url left behind by a killed node: UnavailableError node_not_running."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UnavailableError) as caught:
        AdminClient(f"http://127.0.0.1:{port}", "x" * 32).get("/status")
    assert caught.value.code == "node_not_running"


def test_node_that_does_not_answer(tmp_path: Path) -> None:
    """A node that accepts but never answers: UnavailableError node_timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(UnavailableError) as caught:
            AdminClient(f"http://127.0.0.1:{port}", "x" * 32, timeout=0.2).get("/status")
    assert caught.value.code == "node_timeout"


def test_follow_events(tmp_path: Path) -> None:
    """events() yields published events, replaying after a Last-Event-ID."""
    with running_node(tmp_path) as node:
        node.run(lambda service: service.events.publish("tick", {"n": 1}))
        node.run(lambda service: service.events.publish("tick", {"n": 2}))
        first_id = node.run(lambda service: f"{service.events.stream}.1")
        client = AdminClient.from_home(node.home.path)
        received = []

        def follow() -> None:
            for event in client.events(last_event_id=first_id):
                received.append(event)
                break

        reader = threading.Thread(target=follow)
        reader.start()
        reader.join(timeout=10)
        assert received == [{"id": received[0]["id"], "event": "tick", "data": {"n": 2}}]
