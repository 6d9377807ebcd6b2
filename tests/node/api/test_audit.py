"""``/api/v1/audit`` over a real socket: list and page, verify (clean and tampered), evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.api.helpers import auth, node_service, serve


@pytest.mark.asyncio
async def test_list_page_and_filter(tmp_path: Path) -> None:
    """Entries come oldest first, page with since/limit and filter by event prefix."""
    async with node_service(tmp_path) as service, serve(service) as client:
        for number in range(3):
            service.audit.append("dataset.imported", {"dataset": f"d{number}", "rows": number})
        service.audit.append("policy.created", {"policy": "p"})
        headers = auth(service.admin_token)
        page = await (await client.get("/api/v1/audit?limit=2", headers=headers)).json()
        assert [e["seq"] for e in page["entries"]] == [1, 2]
        rest = await (await client.get("/api/v1/audit?since=2", headers=headers)).json()
        assert [e["seq"] for e in rest["entries"]] == [3, 4]
        only = await (await client.get("/api/v1/audit?event=policy", headers=headers)).json()
        assert [e["event"] for e in only["entries"]] == ["policy.created"]
        response = await client.get("/api/v1/audit?limit=0", headers=headers)
        assert (await response.json())["error"]["code"] == "invalid_query"
        response = await client.get("/api/v1/audit?since=x", headers=headers)
        assert (await response.json())["error"]["code"] == "invalid_query"


@pytest.mark.asyncio
async def test_verify_clean_then_tampered(tmp_path: Path) -> None:
    """Verify reports a clean log as ok and an edited entry by its seq."""
    async with node_service(tmp_path) as service, serve(service) as client:
        for number in range(3):
            service.audit.append("dataset.imported", {"dataset": f"d{number}", "rows": number})
        service.audit.checkpoint()
        headers = auth(service.admin_token)
        report = await (await client.post("/api/v1/audit/verify", headers=headers)).json()
        assert report["ok"] is True
        assert report["entries"] == 3
        # Someone with the file edits it directly, removing the append-only triggers first.
        service.connection.execute("DROP TRIGGER audit_entries_no_update")
        service.connection.execute(
            "UPDATE audit_entries SET details = ? WHERE seq = 2", ('{"dataset":"dx","rows":9}',)
        )
        report = await (await client.post("/api/v1/audit/verify", headers=headers)).json()
        assert report["ok"] is False
        assert 2 in [damage["seq"] for damage in report["damage"]]


@pytest.mark.asyncio
async def test_evidence_export_and_offline_check(tmp_path: Path) -> None:
    """The evidence for one subject is exported and checks out; a tampered copy does not."""
    async with node_service(tmp_path) as service, serve(service) as client:
        service.audit.append("consent.decided", {"manifest": "m-abc", "decision": "agreed"})
        service.audit.append("dataset.imported", {"dataset": "d", "rows": 1})
        headers = auth(service.admin_token)
        response = await client.get("/api/v1/audit/evidence/m-abc", headers=headers)
        assert response.status == 200, await response.text()
        evidence = await response.json()
        check = {"document": evidence, "node_id": service.identity.node_id}
        response = await client.post("/api/v1/audit/evidence/verify", json=check, headers=headers)
        assert response.status == 200, await response.text()
        summary = await response.json()
        assert summary["subject"] == "m-abc"
        assert summary["entries"] == [1]
        evidence["subject"] = "m-abd"
        response = await client.post(
            "/api/v1/audit/evidence/verify", json={"document": evidence}, headers=headers
        )
        assert response.status == 400
        response = await client.get("/api/v1/audit/evidence/..%2Fx", headers=headers)
        assert response.status in {400, 404}
