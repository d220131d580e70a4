"""The OpenAI-compatible AI Studio route and the model list, with the official openai SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest
import trio

from tests.fakes.gemini import API_PASSWORD, Answer, Empty, Failure, google_stack

T = TypeVar("T")
MODEL = "gemini-2.5-flash"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
AUTH = {"authorization": f"Bearer {API_PASSWORD}"}


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


def collect(client: openai.OpenAI, **kw: Any) -> list[str]:
    out = []
    for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, **kw):
        if chunk.choices and chunk.choices[0].delta.content:
            out.append(chunk.choices[0].delta.content)
    return out


async def test_create_and_the_body_goes_through_byte_for_byte(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Answer(["Hi", " there"]))
        client = s.openai()
        completion = await in_thread(lambda: client.chat.completions.create(
            model=MODEL, messages=MESSAGES, reasoning_effort="low", extra_body={"extra_body": {"google": {"x": 1}}},
        ))
        assert completion.choices[0].message.content == "Hi there"
        sent = s.fake.key(s.keys[0]).requests[0]
        assert sent.headers["authorization"] == f"Bearer {s.keys[0]}"
        assert sent.path == "/v1beta/openai/chat/completions"
        assert sent.json() == {
            "messages": MESSAGES, "model": MODEL, "reasoning_effort": "low", "extra_body": {"google": {"x": 1}},
        }
        async with httpx.AsyncClient(base_url=s.base) as http:
            raw = json.dumps({"model": MODEL, "messages": MESSAGES}, indent=2).encode()
            await http.post("/gemini/chat/completions", content=raw, headers=AUTH)
        assert s.fake.key(s.keys[0]).requests[1].body == raw


async def test_stream_through_the_sdk(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Answer(["a", "b", "c"]))
        assert await in_thread(lambda: collect(s.openai())) == ["a", "b", "c"]


async def test_chunks_missing_ids_get_them_and_the_stream_ends_with_done(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Answer(["x", "y"], omit_ids=True), Answer(["z"], omit_ids=True))
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(
                "/gemini/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True}, headers=AUTH
            )
            whole = await http.post("/gemini/chat/completions", json={"model": MODEL, "messages": MESSAGES}, headers=AUTH)
        events = [e for e in response.text.split("\n\n") if e]
        assert events[-1] == "data: [DONE]"
        chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
        assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
        assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
        assert {c["model"] for c in chunks} == {MODEL}
        assert all(c["created"] == 1_800_000_000 for c in chunks)
        body = whole.json()
        assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")


async def test_googles_error_array_becomes_an_openai_error(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        client = s.openai()
        with pytest.raises(openai.BadRequestError) as caught:
            await in_thread(lambda: client.chat.completions.create(
                model=MODEL, messages=MESSAGES, extra_body={"thinking": {"type": "enabled"}},
            ))
        assert caught.value.status_code == 400
        assert 'Unknown name "thinking"' in caught.value.message
        assert caught.value.type == "invalid_request_error"


async def test_rate_limited_key_rotates_and_empty_answers_retry(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=3) as s:
        a, b, c = s.keys
        s.fake.key(a).next(Failure.rate_limited("20s"))
        s.fake.key(b).next(Empty.no_candidates())
        s.fake.key(c).next(Answer(["from c"]), Empty.other())
        client = s.openai()
        completion = await in_thread(lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES))
        assert completion.choices[0].message.content == "from c"
        assert [e["id"] for e in s.app.proxy.gemini.key_listing()["cooling"]]


async def test_an_empty_stream_is_retried_before_anything_is_sent(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=2) as s:
        s.fake.key(s.keys[0]).next(Empty.other())
        s.fake.key(s.keys[1]).next(Answer(["second", " key"]))
        assert await in_thread(lambda: collect(s.openai())) == ["second", " key"]


async def test_a_stream_cut_midway_ends_with_an_error_the_sdk_raises(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Answer(["one", "two", "three"], cut_after=1))
        with pytest.raises(openai.APIError):
            await in_thread(lambda: collect(s.openai()))


async def test_pings_keep_a_quiet_stream_alive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmproxy.gemini import relay

    monkeypatch.setattr(relay, "PING_INTERVAL", 0.01)
    gate = trio.Event()
    async with google_stack(tmp_path, keys=1) as s:
        s.fake.key(s.keys[0]).next(Answer(["one", "two"], gate=gate))
        received = b""
        async with httpx.AsyncClient(base_url=s.base) as http:
            async with http.stream(
                "POST", "/gemini/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True},
                headers=AUTH,
            ) as response:
                async for chunk in response.aiter_raw():
                    received += chunk
                    if b": ping" in received and not gate.is_set():
                        gate.set()
        assert received.endswith(b"data: [DONE]\n\n")
        assert b"one" in received.split(b": ping")[0]  # pings only after the stream was released


async def test_bad_requests_are_refused_before_any_upstream_call(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            no_model = await http.post("/gemini/chat/completions", json={"messages": MESSAGES}, headers=AUTH)
            no_auth = await http.post("/gemini/chat/completions", json={"model": MODEL, "messages": MESSAGES})
        assert no_model.status_code == 400 and no_model.json()["error"]["param"] == "model"
        assert no_auth.status_code == 401
        assert not s.fake.requests


async def test_models_in_openai_shape(tmp_path: Path) -> None:
    async with google_stack(tmp_path, keys=1) as s:
        ids = await in_thread(lambda: [m.id for m in s.openai().models.list()])
        assert ids == ["gemini-2.5-flash", "gemini-2.5-pro"]  # the embedding model cannot chat


async def test_models_without_keys_is_a_fixed_list(tmp_path: Path) -> None:
    async with google_stack(tmp_path, accounts=1) as s:
        ids = await in_thread(lambda: [m.id for m in s.openai().models.list()])
        assert "gemini-2.5-pro" in ids
