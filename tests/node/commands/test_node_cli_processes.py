"""`confide run` as a real process, driven by the `confide` CLI as an operator would."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.node.helpers import confide
from tests.node.processes import Node, init

pytestmark = pytest.mark.processes

# Excel's "CSV UTF-8" with a Dutch locale: a byte-order mark, `;` separators, CRLF line ends.
CSV = (
    "\ufeffnaam;geboortedatum;regio\r\n"
    "Jan Jansen;1990-01-31;Utrecht\r\n"
    "Piet Smit;1985-06-01;Zwolle\r\n"
    "Anna de Boer;2001-12-24;Utrecht\r\n"
).encode()
SCHEMA = {
    "columns": [
        {"name": "persoon", "type": "identifier", "from": ["naam", "geboortedatum"]},
        {"name": "regio", "type": "category"},
    ]
}
POLICY = {
    "id": "pol-clients",
    "dataset": "clients",
    "permission": {
        "action": ["union_size"],
        "constraints": [{"left": "requester_role", "op": "isAnyOf", "right": ["lea"]}],
    },
    "approval": "manual",
}
DISTINCTIVE = "Zwanhilde Oosterveld-Bakx"
"""A name that must never leave the CSV: not in an error, an output or a log line."""


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return confide(*args, "--home", str(home), timeout=60)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("confide: ")
    return lines[0]


@pytest.mark.timeout(120)
def test_operator_session_from_init_to_sigterm(tmp_path: Path) -> None:
    """init, run, import, list, policies, explain, audit verify, tamper, verify, SIGTERM."""
    home = tmp_path / "ngo"
    made = init(home, "NGO A")
    (tmp_path / "clients.csv").write_bytes(CSV)
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "policy.json").write_text(json.dumps(POLICY))
    (tmp_path / "bad.json").write_text(json.dumps({**POLICY, "approval": "sometimes"}))
    node = Node(home)
    try:
        node.wait_for("node.started")
        done = _cli(
            home, "dataset", "import", "clients", str(tmp_path / "clients.csv"),
            "--schema", str(tmp_path / "schema.json"),
        )  # fmt: skip
        assert (done.returncode, done.stdout.strip()) == (0, "imported clients: 3 rows")
        done = _cli(home, "dataset", "list", "--json")
        assert done.returncode == 0, done.stderr
        listed = json.loads(done.stdout)["datasets"]
        assert [(d["name"], d["row_count"]) for d in listed] == [("clients", 3)]
        assert [c["name"] for c in listed[0]["schema"]["columns"]] == ["persoon", "regio"]
        assert "Jan" not in done.stdout

        done = _cli(home, "policy", "create", str(tmp_path / "policy.json"))
        assert (done.returncode, done.stdout.strip()) == (
            0,
            "pol-clients version 1 on clients (active)",
        )
        done = _cli(home, "policy", "create", str(tmp_path / "bad.json"))
        assert done.returncode != 0
        assert "$.approval" in _one_line(done)
        done = _cli(
            home, "policy", "explain", "pol-clients", "--requester", made["node_id"],
            "--data-space", "nl-ht", "--role", "ngo", "--json",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        explained = json.loads(done.stdout)
        assert explained["outcome"] == "refuse"
        assert any(check["outcome"] == "fail" for check in explained["checks"])

        done = _cli(home, "audit", "verify")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("ok: ")
        _tamper(home / "store.sqlite")
        done = _cli(home, "audit", "verify")
        assert done.returncode != 0
        assert done.stdout.startswith("DAMAGED: ")
        assert "seq 2:" in done.stdout

        started = time.monotonic()
        assert node.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 10
        assert not (home / "admin.url").exists()
    finally:
        node.close()


def _tamper(store: Path) -> None:
    """Edit entry 2 of the audit log in place, as someone with write access to the file could."""
    connection = sqlite3.connect(store, timeout=10)
    try:
        connection.execute("DROP TRIGGER audit_entries_no_update")
        changed = connection.execute(
            "UPDATE audit_entries SET details = json_set(details, '$.rows', 999) WHERE seq = 2"
        ).rowcount
        connection.commit()
    finally:
        connection.close()
    assert changed == 1


@pytest.mark.timeout(120)
def test_a_bad_row_never_echoes_its_cells(tmp_path: Path) -> None:
    """A bad row's name is in neither the API error, the CLI output nor the node's log lines."""
    home = tmp_path / "ngo"
    init(home, "NGO A")
    bad = CSV + f"{DISTINCTIVE};1990-02-03\r\n".encode()  # a field short
    (tmp_path / "bad.csv").write_bytes(bad)
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    node = Node(home)
    try:
        node.wait_for("node.started")
        done = _cli(
            home, "dataset", "import", "clients", str(tmp_path / "bad.csv"),
            "--schema", str(tmp_path / "schema.json"),
        )  # fmt: skip
        assert done.returncode != 0
        _one_line(done)
        api_error = _upload_directly(home, bad)
        assert api_error["error"]["details"]["errors"][0]["line"] == 5
        done_json = _cli(
            home, "dataset", "import", "clients", str(tmp_path / "bad.csv"),
            "--schema", str(tmp_path / "schema.json"), "--skip-invalid", "--json",
        )  # fmt: skip
        assert done_json.returncode == 0, done_json.stderr
        assert json.loads(done_json.stdout)["errors"][0]["line"] == 5
        assert node.stop() == 0
        for part in DISTINCTIVE.split() + DISTINCTIVE.split("-") + [DISTINCTIVE.lower()]:
            for text in (done.stdout, done.stderr, done_json.stdout, done_json.stderr):
                assert part not in text
            assert part not in json.dumps(api_error)
            assert not [line for line in node.lines if part in line]
        assert any("api.request_completed" in line for line in node.lines)
    finally:
        node.close()


def _upload_directly(home: Path, csv: bytes) -> dict[str, object]:
    """POST the CSV to the admin API without the CLI; the error body of the 400."""
    url = (home / "admin.url").read_text().strip() + "/api/v1/datasets/direct"
    token = (home / "admin-token").read_text().strip()
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + csv
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="schema"\r\n\r\n'
            f"{json.dumps(SCHEMA)}\r\n--{boundary}--\r\n"
        ).encode()
    )
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)  # loopback admin URL
    assert refused.value.code == 400
    document: dict[str, object] = json.loads(refused.value.read())
    refused.value.close()
    return document


@pytest.mark.timeout(180)
def test_kill_nine_mid_import_leaves_no_half_dataset(tmp_path: Path) -> None:
    """A node killed while it imports restarts with no trace of the dataset and a sound log."""
    home = tmp_path / "ngo"
    init(home, "NGO A")
    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8-sig", newline="") as file:
        file.write("naam;geboortedatum;regio\r\n")
        for i in range(300_000):
            file.write(f"Persoon {i};19{50 + i % 50}-0{1 + i % 9}-1{i % 10};Regio {i % 12}\r\n")
    size = big.stat().st_size
    node = Node(home)
    importer = None
    try:
        node.wait_for("node.started")
        importer = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "dataset", "import", "big", str(big),
             "--home", str(home)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        spool = home / "uploads"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            files = list(spool.glob("upload-*"))
            if files and files[0].stat().st_size >= size:
                break  # the upload is in: the node is parsing it now
            time.sleep(0.02)
        else:
            raise AssertionError("the upload never reached the node")
        node.stop(signal.SIGKILL)
        importer.communicate(timeout=30)
        assert importer.returncode != 0
        node = Node(home)
        node.wait_for("node.started")
        assert list(spool.glob("upload-*")) == []
        done = _cli(home, "dataset", "list", "--json")
        assert json.loads(done.stdout) == {"datasets": []}
        rows = sqlite3.connect(home / "store.sqlite").execute(
            "SELECT COUNT(*) FROM dataset_columns"
        )
        assert rows.fetchone()[0] == 0
        done = _cli(home, "audit", "verify", "--json")
        assert done.returncode == 0, done.stdout
        assert "dataset.imported" not in _cli(home, "audit", "show").stdout
        assert node.stop() == 0
    finally:
        if importer is not None and importer.poll() is None:
            importer.kill()
            importer.wait(timeout=10)
        node.close()
