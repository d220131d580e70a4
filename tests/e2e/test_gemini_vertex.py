"""The Vertex AI routes end to end: google-genai and openai -> llmproxy -> fake Vertex + token endpoint.

The fake token endpoint verifies each JWT with the service account's public key
(via ``cryptography``), so these tests prove the hand-written RS256 signer against
an independent implementation over real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import openai
import pytest
import trio
import trio.testing

from tests.fakes.gemini import API_PASSWORD, Answer, Empty, Failure, google_stack

T = TypeVar("T")
MODEL = "gemini-2.5-pro"
VERTEX_GEN = f"/v1/vertex/v1beta/models/{MODEL}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


async def test_generate_and_stream_through_the_sdk_with_one_token_exchange(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        email = s.accounts[0]["client_email"]
        account = s.fake.account(email)
        account.next(Answer(["Vertex", " says hi"]), Answer(["s1", "s2"]))
        client = s.genai(vertex=True)
        response = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert response.text == "Vertex says hi"
        chunks = await in_thread(
            lambda: [c.text for c in client.models.generate_content_stream(model=MODEL, contents="hi")]
        )
        assert chunks == ["s1", "s2"]
        assert account.exchanges == 1  # the token was cached between requests
        sent = account.requests[0]
        assert sent.path == f"/v1beta1/projects/proj-1/locations/global/publishers/google/models/{MODEL}:generateContent"
        assert sent.headers["authorization"].startswith("Bearer ya29.fake-")
        assert "x-goog-api-key" not in sent.headers
        assert {c["threshold"] for c in sent.json()["safetySettings"]} == {"OFF"}
        assert account.requests[1].query == {"alt": "sse"}


async def test_the_jwt_is_what_google_requires(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(VERTEX_GEN, json=BODY, headers={"x-goog-api-key": API_PASSWORD})
        assert response.status_code == 200
        [exchange] = s.fake.token_requests
        form = dict(httpx.QueryParams(exchange.body.decode()))
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        claims = json.loads(_b64(form["assertion"].split(".")[1]))
        assert claims["iss"] == s.accounts[0]["client_email"]
        assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
        assert claims["iat"] == 1_800_000_000 and claims["exp"] == 1_800_003_600


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_concurrent_requests_share_one_token_exchange(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        gate = trio.Event()
        s.fake.token_gate = gate
        results: list[int] = []
        async with httpx.AsyncClient(base_url=s.base) as http:

            async def one() -> None:
                response = await http.post(VERTEX_GEN, json=BODY, headers={"x-goog-api-key": API_PASSWORD})
                results.append(response.status_code)

            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(one)
                with trio.fail_after(5):
                    await s.fake.token_reached.wait()
                await trio.testing.wait_all_tasks_blocked()
                gate.set()
        assert results == [200] * 5
        assert len(s.fake.token_requests) == 1


async def test_the_token_is_refreshed_shortly_before_it_expires(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        async with httpx.AsyncClient(base_url=s.base, headers={"x-goog-api-key": API_PASSWORD}) as http:
            assert (await http.post(VERTEX_GEN, json=BODY)).status_code == 200
            s.clock.advance(3600 - 300)  # 5 min left: still used
            assert (await http.post(VERTEX_GEN, json=BODY)).status_code == 200
            assert len(s.fake.token_requests) == 1
            s.clock.advance(120)  # 3 min left: under the 3 min 45 s margin
            assert (await http.post(VERTEX_GEN, json=BODY)).status_code == 200
        assert len(s.fake.token_requests) == 2


async def test_a_refused_account_is_retired_and_the_next_one_serves(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=2) as s:
        first, second = (a["client_email"] for a in s.accounts)
        s.fake.account(first).revoked = True
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(VERTEX_GEN, json=BODY, headers={"x-goog-api-key": API_PASSWORD})
        assert response.status_code == 200
        listing = {e["client_email"]: e for e in s.app.proxy.gemini.account_listing()}
        assert listing[first]["status"] == "invalid"
        assert "invalid_grant" in listing[first]["reason"]
        assert listing[second]["status"] == "valid"
        assert listing[second]["token_expires_at"] == 1_800_003_600


async def test_a_bad_signature_is_refused_by_the_token_endpoint(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=2) as s:
        # The fake knows account 0 by the public key of account 1: signatures cannot verify.
        wrong = dict(s.accounts[1], client_email=s.accounts[0]["client_email"],
                     private_key_id=s.accounts[0]["private_key_id"])
        s.fake.add_account(wrong)
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(VERTEX_GEN, json=BODY, headers={"x-goog-api-key": API_PASSWORD})
        assert response.status_code == 200
        reasons = {e["client_email"]: e["reason"] for e in s.app.proxy.gemini.account_listing()}
        assert "Invalid JWT Signature" in reasons[s.accounts[0]["client_email"]]


async def test_a_refused_token_is_fetched_again(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1, max_retries=1) as s:
        async with httpx.AsyncClient(base_url=s.base, headers={"x-goog-api-key": API_PASSWORD}) as http:
            assert (await http.post(VERTEX_GEN, json=BODY)).status_code == 200
            s.fake._tokens.clear()  # Google forgot the token (revoked server side)
            first = await http.post(VERTEX_GEN, json=BODY)
            second = await http.post(VERTEX_GEN, json=BODY)
        assert first.status_code == 401  # the only account, refused; the client hears it
        assert second.status_code == 200  # a fresh token this time
        assert len(s.fake.token_requests) == 2


async def test_rate_limits_and_empty_answers_rotate_across_accounts(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=2) as s:
        a, b = (s.fake.account(x["client_email"]) for x in s.accounts)
        a.next(Failure.rate_limited("10s"))
        b.next(Empty.other(), Answer(["b"]))
        client = s.genai(vertex=True)
        first = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert first.text is None or first.text == ""  # a: limited, b: empty -> the empty answer
        second = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert second.text == "b"
        statuses = {e["client_email"]: e["status"] for e in s.app.proxy.gemini.account_listing()}
        assert statuses[a.name] == "cooling"


async def test_models_on_the_vertex_route_are_a_fixed_list(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        client = s.genai(vertex=True)
        names = await in_thread(lambda: [m.name for m in client.models.list()])
        assert "models/gemini-2.5-pro" in names
        assert not s.fake.token_requests


async def test_vertex_without_accounts_is_503(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(VERTEX_GEN, json=BODY, headers={"x-goog-api-key": API_PASSWORD})
        assert response.status_code == 503
        assert "vertex credential" in response.json()["error"]["message"]


async def test_the_sdks_vertex_style_paths_are_understood(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        path = f"/v1/vertex/v1beta/projects/other/locations/europe-west4/publishers/google/models/{MODEL}:generateContent"
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(path, json=BODY, headers={"x-goog-api-key": API_PASSWORD})
        assert response.status_code == 200
        # the credential's project and the configured location, not the client's
        assert "/projects/proj-1/locations/global/" in s.fake.generate_requests()[-1].path


async def test_vertex_location_from_the_config(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        s.app.proxy.gemini._accounts.extra["location"] = "us-central1"
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(VERTEX_GEN, json=BODY, headers={"x-goog-api-key": API_PASSWORD})
        assert response.status_code == 200
        assert "/locations/us-central1/" in s.fake.generate_requests()[-1].path


async def test_openai_sdk_on_the_vertex_chat_route(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        account = s.fake.account(s.accounts[0]["client_email"])
        account.next(Answer(["vertex", " chat"]), Answer(["streamed", " chat"]))
        client = s.openai(vertex=True)
        completion = await in_thread(lambda: client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], frequency_penalty=0.5, temperature=0.2,
        ))
        assert completion.choices[0].message.content == "vertex chat"
        sent = account.requests[0].json()
        assert sent["model"] == f"google/{MODEL}"
        assert "frequency_penalty" not in sent
        assert sent["temperature"] == 0.2
        assert {c["threshold"] for c in sent["extra_body"]["google"]["safety_settings"]} == {"OFF"}
        assert account.requests[0].path == "/v1beta1/projects/proj-1/locations/global/endpoints/openapi/chat/completions"

        def stream() -> list[str]:
            out = []
            for chunk in client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    out.append(chunk.choices[0].delta.content)
            return out

        assert await in_thread(stream) == ["streamed", " chat"]


async def test_vertex_chat_errors_are_openai_shaped(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        s.fake.account(s.accounts[0]["client_email"]).next(Failure.bad_request("Unsupported value"))
        client = s.openai(vertex=True)
        with pytest.raises(openai.BadRequestError) as caught:
            await in_thread(lambda: client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}]))
        assert caught.value.body == {  # type: ignore[comparison-overlap]
            "message": "Unsupported value", "type": "invalid_request_error", "param": None, "code": None,
        }


async def test_the_sdks_default_v1_version_works_on_the_vertex_route(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        s.fake.account(s.accounts[0]["client_email"]).next(Answer(["v1 ok"]))
        client = s.genai(vertex=True, api_version="v1")
        response = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert response.text == "v1 ok"
