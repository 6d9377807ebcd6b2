"""Shared helpers for the tests over real processes: a `confide run` child, init, status calls."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.node.helpers import confide


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Node:
    """A `confide run` child process whose stderr lines are collected as they come."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--home", str(home)],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        assert self.process.stderr is not None
        stream = self.process.stderr
        self._reader = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._reader.start()

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """The first stderr line containing ``text``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in: {self.lines[-10:]}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum``, wait for the exit code, release the pipe."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=10)
        finally:
            self.close()

    def close(self) -> None:
        """Kill the process if it still runs; close its stderr pipe."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        self.process.stderr.close()


def status(home: Path, token: str | None) -> tuple[int, dict[str, object]]:
    """GET /api/v1/status of the node running from ``home``."""
    url = (home / "admin.url").read_text().strip() + "/api/v1/status"
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def init(home: Path, name: str, *extra: str) -> dict[str, str]:
    """`confide init --json` on free ports; the printed JSON."""
    done = confide(
        "init", "--home", str(home), "--name", name, "--json",
        "--peer-port", str(free_port()), "--admin-port", "0", *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


def dataspace(home: Path, *args: str) -> str:
    """Run `confide dataspace ...` and return its stdout."""
    done = confide("dataspace", args[0], "--home", str(home), *args[1:])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
