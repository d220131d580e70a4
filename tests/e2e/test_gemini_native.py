"""The Gemini-native AI Studio route end to end: google-genai -> llmproxy -> fake Gemini API.

The proxy and the fake are real servers on 127.0.0.1; the synchronous SDK runs in a
worker thread. Time is the injected ``ManualClock``; nothing waits on the wall clock
except the keep-alive test, which shrinks the interval and waits on events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import trio
from google.genai import errors, types

from llmproxy.gemini import relay
from tests.fakes.gemini import (
    API_PASSWORD,
    Answer,
    Empty,
    Failure,
    google_stack,
)

T = TypeVar("T")
MODEL = "gemini-2.5-flash"
GEN = f"/v1/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1/v1beta/models/{MODEL}:streamGenerateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


def key_header() -> dict[str, str]:
    return {"x-goog-api-key": API_PASSWORD}


async def test_generate_through_the_sdk_with_safety_off_and_the_key_in_a_header(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Answer(["Hello", " back"]))
        client = s.genai()
        config = types.GenerateContentConfig(
            system_instruction="Be brief.",
            temperature=0.5,
            safety_settings=[types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_LOW_AND_ABOVE")],
        )
        response = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi", config=config))
        assert response.text == "Hello back"
        sent = s.fake.key(s.keys[0]).requests[-1]
        assert sent.headers["x-goog-api-key"] == s.keys[0]
        assert "key" not in sent.query  # our password never travels upstream
        body = sent.json()
        assert body["systemInstruction"]["parts"][0]["text"] == "Be brief."
        assert body["generationConfig"] == {"temperature": 0.5}
        assert body["safetySettings"] == [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"},
            {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "threshold": "OFF"},
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "OFF"},
        ]


async def test_nothing_is_invented_and_unknown_fields_pass_through(tmp_path: Path) -> None:
    body = {**BODY, "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}, "someFutureField": {"x": 1}}
    async with google_stack(tmp_path, keys=2, gemini_safety_off=False) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            raw = json.dumps(BODY, indent=1).encode()
            ok = await http.post(GEN, content=raw, headers=key_header())
            rejected = await http.post(GEN, json=body, headers=key_header())
        assert ok.status_code == 200
        assert s.fake.generate_requests()[0].body == raw  # byte for byte
        # Google rejects the unknown field; the client hears it in Google's words, once.
        assert rejected.status_code == 400
        error = rejected.json()["error"]
        assert error["status"] == "INVALID_ARGUMENT"
        assert 'Unknown name "someFutureField"' in error["message"]
        assert len(s.fake.generate_requests()) == 2
        assert s.fake.generate_requests()[1].json()["someFutureField"] == {"x": 1}


async def test_stream_is_relayed_with_googles_framing(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Answer(["A", "B", "C"]), Answer(["x", "y"]))
        client = s.genai()
        chunks = await in_thread(lambda: [c.text for c in client.models.generate_content_stream(model=MODEL, contents="hi")])
        assert chunks == ["A", "B", "C"]
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(STREAM, params={"alt": "sse", "key": API_PASSWORD}, json=BODY)
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.content
        events = raw.split(b"\r\n\r\n")
        assert events[-1] == b""
        assert all(e.startswith(b"data: ") and b"\n" not in e for e in events[:-1])
        assert [json.loads(e[6:])["candidates"][0]["content"]["parts"][0]["text"] for e in events[:-1]] == ["x", "y"]
        assert s.fake.generate_requests()[-1].query == {"alt": "sse"}


async def test_stream_without_alt_is_a_json_array(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(STREAM, json=BODY, headers=key_header())
        assert response.status_code == 200
        assert [r["candidates"][0]["content"]["parts"][0]["text"] for r in response.json()] == ["echo"]


async def test_models_list_and_one_model(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        client = s.genai()
        names = await in_thread(lambda: [m.name for m in client.models.list()])
        assert "models/gemini-2.5-pro" in names
        one = await in_thread(lambda: client.models.get(model="gemini-2.5-pro"))
        assert one.name == "models/gemini-2.5-pro"


async def test_models_list_without_keys_is_the_fixed_list(tmp_path: Path) -> None:
    async with google_stack(tmp_path) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.get("/v1/v1beta/models", headers=key_header())
        assert response.status_code == 200
        assert response.headers["x-llmproxy-models"] == "static"
        assert "models/gemini-2.5-flash" in [m["name"] for m in response.json()["models"]]


async def test_rate_limit_cools_the_key_down_for_retry_delay_and_another_key_answers(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=2) as s:
        a, b = s.keys
        s.fake.key(a).next(Failure.rate_limited(retry_delay="41s"))
        s.fake.key(b).next(Answer(["from b"]), Answer(["b again"]))
        client = s.genai()
        first = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert first.text == "from b"
        listing = s.app.proxy.gemini.key_listing()
        [cooling] = listing["cooling"]
        assert cooling["reset_time"] == 1_800_000_041 and cooling["status"] == "cooling"
        second = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert second.text == "b again"
        assert len(s.fake.key(a).requests) == 1  # a was not asked while cooling
        s.clock.advance(42)
        s.app.proxy.gemini.sweep()
        assert len(s.app.proxy.gemini.key_listing()["valid"]) == 2
        assert (await s.file())["gemini_keys"][0].get("reset_time") is None


async def test_invalid_and_forbidden_keys_are_retired_with_the_reason(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=3) as s:
        bad, banned, good = s.keys
        s.fake.key(bad).next(Failure.invalid_key())
        s.fake.key(banned).next(Failure.permission_denied())
        s.fake.key(good).next(Answer(["fine"]))
        client = s.genai()
        response = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert response.text == "fine"
        listing = s.app.proxy.gemini.key_listing()
        reasons = {e["id"]: e["reason"] for e in listing["invalid"]}
        assert len(reasons) == 2
        assert any("API key not valid" in r for r in reasons.values())
        assert any("has been suspended" in r for r in reasons.values())
        saved = {e["key"]: e for e in (await s.file())["gemini_keys"]}
        assert saved[banned]["count_403"] == 1 and "403" in saved[banned]["invalid"]
        assert "API key not valid" in saved[bad]["invalid"]
        assert "invalid" not in saved[good]


async def test_every_key_limited_gives_googles_429_then_503_with_retry_after(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Failure.rate_limited(retry_delay="30s"))
        async with httpx.AsyncClient(base_url=s.base) as http:
            first = await http.post(GEN, json=BODY, headers=key_header())
            second = await http.post(GEN, json=BODY, headers=key_header())
        assert first.status_code == 429
        assert first.headers["retry-after"] == "30"
        details = first.json()["error"]["details"]
        assert any(d.get("retryDelay") == "30s" for d in details)  # Google's body, verbatim
        assert second.status_code == 503
        assert second.headers["retry-after"] == "30"
        assert second.json()["error"]["status"] == "UNAVAILABLE"
        client = s.genai()
        with pytest.raises(errors.ServerError) as caught:
            await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert caught.value.code == 503


@pytest.mark.parametrize("empty", [Empty.other(), Empty.no_candidates()])
async def test_an_empty_answer_is_retried_on_another_key(tmp_path: Path, empty: Empty) -> None:
    async with google_stack(tmp_path, keys=2) as s:
        a, b = s.keys
        s.fake.key(a).next(empty)
        s.fake.key(b).next(Answer(["real answer"]))
        client = s.genai()
        response = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert response.text == "real answer"
        assert len(s.app.proxy.gemini.key_listing()["valid"]) == 2  # not the key's fault


async def test_an_empty_stream_is_retried_and_only_the_good_stream_reaches_the_client(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=2) as s:
        a, b = s.keys
        s.fake.key(a).next(Empty.other())
        s.fake.key(b).next(Answer(["good", " one"]))
        client = s.genai()
        chunks = await in_thread(lambda: [c.text for c in client.models.generate_content_stream(model=MODEL, contents="hi")])
        assert chunks == ["good", " one"]


async def test_when_every_answer_is_empty_the_last_one_is_delivered(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=2, max_retries=3) as s:
        for key in s.keys:
            s.fake.key(key).next(Empty.no_candidates(), Empty.no_candidates())
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(GEN, json=BODY, headers=key_header())
            streamed = await http.post(STREAM, params={"alt": "sse"}, json=BODY, headers=key_header())
        assert response.status_code == 200
        assert response.json()["promptFeedback"] == {"blockReason": "OTHER"}
        assert streamed.status_code == 200
        assert json.loads(streamed.content.strip()[6:])["promptFeedback"] == {"blockReason": "OTHER"}
        # two keys, each tried once per request: the pool never hands a key out twice
        assert len(s.fake.generate_requests()) == 4


async def test_an_error_event_before_any_answer_moves_to_another_key(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=2) as s:
        a, b = s.keys
        s.fake.key(a).next(Answer(["never"], error_after=0, error=Failure.rate_limited("5s")))
        s.fake.key(b).next(Answer(["ok"]))
        client = s.genai()
        chunks = await in_thread(lambda: [c.text for c in client.models.generate_content_stream(model=MODEL, contents="hi")])
        assert chunks == ["ok"]
        assert s.app.proxy.gemini.key_listing()["cooling"][0]["reset_time"] == 1_800_000_005


async def test_a_stream_cut_after_the_answer_started_ends_with_an_error_the_sdk_raises(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=2) as s:
        s.fake.key(s.keys[0]).next(Answer(["one", "two", "three"], cut_after=2))
        client = s.genai()
        seen: list[str] = []

        def run() -> None:
            for chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
                seen.append(chunk.text or "")

        with pytest.raises(errors.APIError) as caught:
            await in_thread(run)
        assert seen == ["one", "two"]
        assert caught.value.code == 502
        assert len(s.fake.generate_requests()) == 1  # no retry once bytes went out


async def test_a_5xx_is_retried_without_blaming_the_key(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=2) as s:
        s.fake.key(s.keys[0]).next(Failure.unavailable())
        s.fake.key(s.keys[1]).next(Answer(["second"]))
        client = s.genai()
        response = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert response.text == "second"
        assert len(s.app.proxy.gemini.key_listing()["valid"]) == 2


async def test_slow_answers_get_leading_whitespace_and_stay_valid_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "KEEPALIVE_INTERVAL", 0.02)
    gate = trio.Event()
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Answer(["late"], gate=gate))
        async with httpx.AsyncClient(base_url=s.base) as http:
            async with http.stream("POST", GEN, json=BODY, headers=key_header()) as response:
                assert response.status_code == 200
                chunks = response.aiter_raw()
                first = await chunks.__anext__()
                assert first.strip() == b"" and first
                gate.set()
                rest = b"".join([c async for c in chunks])
        body = json.loads(first + rest)
        assert body["candidates"][0]["content"]["parts"][0]["text"] == "late"


async def test_fast_answers_get_no_whitespace_and_keep_their_status(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            ok = await http.post(GEN, json=BODY, headers=key_header())
            missing = await http.post(f"/v1/v1beta/models/{MODEL}:generateContent", json={"contents": []}, headers=key_header())
        assert ok.content.startswith(b"{")
        assert missing.status_code == 400 and missing.json()["error"]["code"] == 400


async def test_the_api_password_is_required(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            wrong = await http.post(GEN, json=BODY, params={"key": "nope"})
            missing = await http.post(GEN, json=BODY)
            query = await http.post(GEN, json=BODY, params={"key": API_PASSWORD})
        assert wrong.status_code == missing.status_code == 401
        assert wrong.json()["error"]["status"] == "UNAUTHENTICATED"
        assert query.status_code == 200
        assert s.fake.generate_requests()[-1].query == {}


async def test_paths_that_escape_the_api_are_refused(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.get("/v1/v1beta/models/..%2F..%2Fsecrets", headers=key_header())
            dots = await http.post("/v1/v1beta/models/%2E%2E/x:generateContent", json=BODY, headers=key_header())
        assert response.status_code == 400
        assert dots.status_code == 400 and dots.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert not [r for r in s.fake.requests if "secrets" in r.path]


async def test_the_sdks_default_v1_version_works(tmp_path: Path) -> None:
    # google-genai 3 calls {base_url}/v1/models/... unless told otherwise.
    async with google_stack(tmp_path, keys=1) as s:
        client = s.genai(api_version="v1")
        response = await in_thread(lambda: client.models.generate_content(model=MODEL, contents="hi"))
        assert response.text == "echo"
        assert s.fake.requests[-1].path == f"/v1/models/{MODEL}:generateContent"


async def test_a_client_hangup_cancels_the_upstream_stream(tmp_path: Path) -> None:
    gate = trio.Event()
    answer = Answer(["first", "second"], gate=gate)
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(answer)
        async with httpx.AsyncClient(base_url=s.base) as http:
            async with http.stream("POST", STREAM, params={"alt": "sse"}, json=BODY, headers=key_header()) as response:
                async for chunk in response.aiter_raw():
                    assert b"first" in chunk
                    break
        recorded = s.fake.generate_requests()[-1]
        with trio.fail_after(5):
            await recorded.finished.wait()
        assert recorded.cancelled
        with trio.fail_after(5):
            while s.app.proxy.gemini.keys.statistics().in_flight:
                await trio.sleep(0.01)

