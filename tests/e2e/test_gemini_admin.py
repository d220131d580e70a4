"""The admin API for Gemini keys and Vertex credentials, and what it saves."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.fakes.gemini import ADMIN_PASSWORD, google_stack, make_key, make_service_account

ADMIN = {"authorization": f"Bearer {ADMIN_PASSWORD}"}


async def test_add_list_and_delete_keys(tmp_path: Path) -> None:
    new, other, third = make_key(100), make_key(101), make_key(102)
    async with google_stack(tmp_path, keys=1) as s:
        async with httpx.AsyncClient(base_url=s.base, headers=ADMIN) as http:
            single = await http.post("/api/key", json={"key": new})
            again = await http.post("/api/key", json={"key": f"  {new}\n"})
            bad = await http.post("/api/key", json={"key": "sk-not-a-key"})
            bulk = await http.post("/api/key", json={"keys": f"{other}, nonsense\n{third} {other}"})
            listing = await http.get("/api/keys")
            by_id = await http.request("DELETE", "/api/key", json={"id": single.json()["results"][0]["id"]})
            by_key = await http.request("DELETE", "/api/key", json={"key": other})
            gone = await http.request("DELETE", "/api/key", json={"key": other})
            after = await http.get("/api/keys")
            unauthorised = await http.get("/api/keys", headers={"authorization": "Bearer wrong"})
        assert single.status_code == 200
        assert single.json()["added"] == 1 and single.json()["results"][0]["result"] == "added"
        assert again.json()["results"][0]["result"] == "already_known"
        assert bad.status_code == 400 and bad.json()["error"].startswith("Invalid key")
        results = bulk.json()["results"]
        assert [r["result"] for r in results] == ["added", "invalid", "added", "already_known"]
        assert bulk.json()["invalid"] == 1
        body = listing.json()
        assert body["total"] == 4 and len(body["valid"]) == 4
        for entry in body["valid"]:
            assert set(entry) == {"key", "id", "count_403", "status", "reason", "reset_time", "in_flight"}
            assert "…" in entry["key"] and len(entry["key"]) < 20  # masked
            assert entry["status"] == "valid"
        assert new not in listing.text and other not in listing.text
        assert by_id.status_code == by_key.status_code == 204
        assert gone.status_code == 404 and gone.json() == {"error": "Key not found"}
        assert after.json()["total"] == 2
        assert unauthorised.status_code == 401
        saved = [e["key"] for e in (await s.file())["gemini_keys"]]
        assert saved == [s.keys[0], third]


async def test_keys_added_through_the_api_serve_requests(tmp_path: Path) -> None:
    key = make_key(7)
    async with google_stack(tmp_path) as s:
        s.fake.add_key(key)
        async with httpx.AsyncClient(base_url=s.base) as http:
            await http.post("/api/key", json={"keys": [key]}, headers=ADMIN)
            response = await http.post(
                "/v1/v1beta/models/gemini-2.5-flash:generateContent",
                json={"contents": [{"parts": [{"text": "hi"}]}]},
                headers={"x-goog-api-key": "k" * 64},
            )
        assert response.status_code == 200
        assert s.fake.key(key).requests


async def test_vertex_credentials_add_list_replace_delete(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        extra = make_service_account(5, s.fake.token_uri, project="proj-5")
        async with httpx.AsyncClient(base_url=s.base, headers=ADMIN) as http:
            added = await http.post("/api/vertex/credential", json={"credential": extra})
            as_text = await http.post("/api/vertex/credential", json={"credential": json.dumps(extra)})
            broken = await http.post(
                "/api/vertex/credential", json={"credential": {**extra, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}
            )
            missing = await http.post("/api/vertex/credential", json={"credential": {"client_email": "x@y"}})
            listing = await http.get("/api/vertex/credentials")
            deleted = await http.request("DELETE", "/api/vertex/credential", json={"client_email": extra["client_email"]})
            again = await http.request("DELETE", "/api/vertex/credential", json={"client_email": extra["client_email"]})
            after = await http.get("/api/vertex/credentials")
        assert added.json() == {"client_email": extra["client_email"], "project_id": "proj-5", "replaced": False}
        assert as_text.json()["replaced"] is True
        assert broken.status_code == 400 and "private_key" in broken.json()["error"]
        assert missing.status_code == 400 and "Invalid credential" in missing.json()["error"]
        entries = listing.json()
        assert [e["client_email"] for e in entries] == [s.accounts[0]["client_email"], extra["client_email"]]
        assert "PRIVATE KEY" not in listing.text
        assert entries[1] == {
            "client_email": extra["client_email"], "project_id": "proj-5",
            "private_key_id": extra["private_key_id"], "status": "valid", "reason": None,
            "reset_time": None, "in_flight": 0, "token_expires_at": None,
        }
        assert deleted.status_code == 204
        assert again.status_code == 404 and again.json() == {"error": "Credential not found"}
        assert len(after.json()) == 1
        saved = (await s.file())["vertex"]["credentials"]
        assert [c["client_email"] for c in saved] == [s.accounts[0]["client_email"]]
        assert saved[0]["private_key"] == s.accounts[0]["private_key"]  # written back whole


async def test_a_new_credential_serves_vertex_requests(tmp_path: Path) -> None:
    async with google_stack(tmp_path) as s:
        sa = make_service_account(3, s.fake.token_uri, project="proj-3")
        s.fake.add_account(sa)
        async with httpx.AsyncClient(base_url=s.base) as http:
            await http.post("/api/vertex/credential", json={"credential": sa}, headers=ADMIN)
            response = await http.post(
                "/v1/vertex/v1beta/models/gemini-2.5-pro:generateContent",
                json={"contents": [{"parts": [{"text": "hi"}]}]},
                params={"key": "k" * 64},
            )
        assert response.status_code == 200
        assert "/projects/proj-3/" in s.fake.generate_requests()[-1].path
