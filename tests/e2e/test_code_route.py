"""The Claude Code route end to end: official anthropic SDK -> llmproxy -> fake Anthropic.

Everything runs on 127.0.0.1: the fake upstream (reached through ``rproxy``) and the
proxy are real servers; the synchronous SDK runs in a worker thread.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx
import pytest
import trio

from llmproxy import build_app
from llmproxy.asgi.app import App
from llmproxy.config import ConfigStore, Settings
from tests.fakes.anthropic import (
    Answer,
    Failure,
    FakeAnthropic,
    ManualClock,
    Text,
    Thinking,
    ToolUse,
)
from tests.fakes.server import serve

API = "k" * 64
ADMIN = "a" * 64
A = "sk-ant-sid01-" + "A" * 86 + "-aaaaaaAA"
B = "sk-ant-sid01-" + "B" * 86 + "-bbbbbbAA"
MODEL = "claude-opus-4-1"
T = TypeVar("T")


@dataclass
class Stack:
    base: str
    fake: FakeAnthropic
    app: App
    clock: ManualClock
    path: Path

    def sdk(self, **kw: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=f"{self.base}/code", api_key=API, max_retries=0, **kw)

    async def file(self) -> dict[str, Any]:
        await self.app.proxy.flush()
        return tomllib.loads(self.path.read_text())


@asynccontextmanager
async def stack(tmp_path: Path, accounts: list[tuple[str, str]], **settings: Any) -> AsyncIterator[Stack]:
    clock = ManualClock(1_800_000_000.0)
    fake = FakeAnthropic(clock=clock, expires_in=3600)
    for cookie, tier in accounts:
        fake.add_account(cookie, tier)
    async with serve(fake) as upstream:
        path = tmp_path / "clewdr.toml"
        config = Settings(
            password=API,
            admin_password=ADMIN,
            rproxy=upstream,
            cookie_array=tuple({"cookie": cookie} for cookie, _ in accounts),
            **settings,
        )
        app = build_app(config, ConfigStore(path), clock=clock)
        async with serve(app) as base:
            yield Stack(base, fake, app, clock, path)
            await app.proxy.flush()


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


def message_args(**kw: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "hello"}], **kw}


async def test_create_through_the_sdk_with_claude_codes_identity(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")], custom_system="Be brief.") as s:
        s.fake.account(A).next_messages(Answer([Text("Hello back")]))
        client = s.sdk(default_headers={"anthropic-beta": "files-api-2025-04-14,oauth-2025-04-20"})
        message = await in_thread(lambda: client.messages.create(**message_args(system="You help.")))
        assert message.content[0].text == "Hello back"  # type: ignore[union-attr]
        sent = s.fake.account(A).requests[-1]
        assert sent.headers["authorization"].startswith("Bearer ")
        assert sent.headers["anthropic-beta"] == "oauth-2025-04-20,files-api-2025-04-14"
        assert sent.headers["user-agent"].startswith("claude-code/")
        system = sent.json()["system"]
        assert system[0]["text"].startswith("x-anthropic-billing-header: cc_version=")
        assert system[1]["text"] == "Be brief."
        assert system[2]["text"] == "You help."
        assert s.fake.authorizations == 1 and s.fake.exchanges == 1
        token = (await s.file())["cookie_array"][0]["token"]
        assert token["access_token"] and token["organization"]["uuid"]


async def test_the_body_reaches_the_upstream_whole(tmp_path: Path) -> None:
    body = message_args(
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "EqQBCkgIARABGAIiQL+/opaque=="},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
        ],
        tools=[{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        metadata={"user_id": "u"},
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2000},
        some_future_field={"x": [1, 2]},
    )
    async with stack(tmp_path, [(A, "pro")]) as s:
        async with httpx.AsyncClient(base_url=s.base) as client:
            response = await client.post("/code/v1/messages", json=body, headers={"x-api-key": API})
        assert response.status_code == 200, response.text
        sent = s.fake.account(A).requests[-1].json()
    for key in ("messages", "tools", "metadata", "thinking", "some_future_field", "max_tokens", "model"):
        assert sent[key] == body[key], key


async def test_stream_with_thinking_and_tool_use(tmp_path: Path) -> None:
    script = Answer([Thinking("let me think", signature="sig/+=opaque"), Text("I'll call it."), ToolUse("lookup", {"q": "x", "n": [1, 2]})])
    async with stack(tmp_path, [(A, "max")]) as s:
        s.fake.account(A).next_messages(script)
        client = s.sdk()

        def run() -> tuple[list[str], Any]:
            kinds = []
            with client.messages.stream(**message_args(thinking={"type": "enabled", "budget_tokens": 1024})) as stream:
                for event in stream:
                    kinds.append(event.type)
                return kinds, stream.get_final_message()

        kinds, final = await in_thread(run)
        assert "thinking" in kinds and "text" in kinds and "input_json" in kinds
        thinking, text, tool = final.content
        assert thinking.signature == "sig/+=opaque"
        assert text.text == "I'll call it."
        assert tool.input == {"q": "x", "n": [1, 2]}
        assert final.stop_reason == "tool_use"
        # the proxy returns the lease right after the last byte; wait for that moment
        with trio.fail_after(10):
            while s.app.proxy.cookies.statistics().in_flight:
                await trio.sleep(0.01)
        lifetime = s.app.proxy.cookies.get(A).record.lifetime_usage  # type: ignore[union-attr]
        assert lifetime.total_output_tokens > 0


async def test_count_tokens(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_count_tokens(42, Failure.forbidden())
        client = s.sdk()
        first = await in_thread(lambda: client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi there"}]))
        assert first.input_tokens == 42
        async with httpx.AsyncClient(base_url=s.base) as http:
            estimate = await http.post(
                "/code/v1/messages/count_tokens",
                json={"model": MODEL, "messages": [{"role": "user", "content": "hello world " * 10}]},
                headers={"x-api-key": API},
            )
            again = await http.post(
                "/code/v1/messages/count_tokens",
                json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
                headers={"x-api-key": API},
            )
        assert estimate.status_code == 200
        assert estimate.headers["x-llmproxy-token-count"] == "estimate"
        assert estimate.json()["input_tokens"] > 10
        assert again.headers["x-llmproxy-token-count"] == "estimate"
        assert len(s.fake.requests_to("/v1/messages/count_tokens")) == 2  # not asked again


@pytest.mark.parametrize(
    ("failure", "error_class"),
    [
        (Failure.overloaded(), anthropic.OverloadedError),
        (Failure.server_error(), anthropic.InternalServerError),
        (Failure.rate_limited(resets_at=1_800_003_600), anthropic.RateLimitError),
    ],
)
async def test_upstream_errors_keep_status_and_shape(tmp_path: Path, failure: Failure, error_class: type[Exception]) -> None:
    async with stack(tmp_path, [(A, "pro")], max_retries=0) as s:
        s.fake.account(A).next_messages(failure)
        client = s.sdk()
        with pytest.raises(error_class) as caught:
            await in_thread(lambda: client.messages.create(**message_args()))
        assert caught.value.status_code == failure.status  # type: ignore[attr-defined]


async def test_client_mistakes(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        with pytest.raises(anthropic.AuthenticationError):
            await in_thread(lambda: anthropic.Anthropic(base_url=f"{s.base}/code", api_key="wrong", max_retries=0).messages.create(**message_args()))
        with pytest.raises(anthropic.BadRequestError) as caught:
            await in_thread(lambda: s.sdk().messages.create(model=MODEL, max_tokens=10, messages="nope"))  # type: ignore[arg-type]
        assert "messages" in str(caught.value)
        assert s.fake.requests_to("/v1/messages") == []


async def test_rate_limited_cookie_rotates_to_the_next_and_is_parked_in_the_file(tmp_path: Path) -> None:
    reset = 1_800_007_200
    async with stack(tmp_path, [(A, "pro"), (B, "pro")]) as s:
        s.fake.account(A).next_messages(Failure.rate_limited(resets_at=reset))
        s.fake.account(B).next_messages(Answer([Text("from B")]))
        message = await in_thread(lambda: s.sdk().messages.create(**message_args()))
        assert message.content[0].text == "from B"  # type: ignore[union-attr]
        entries = {c["cookie"]: c for c in (await s.file())["cookie_array"]}
    assert entries[A]["reset_time"] == reset
    assert "reset_time" not in entries[B]


async def test_all_cookies_resting_is_a_503_with_retry_after(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_messages(Failure.rate_limited(resets_at=1_800_000_600))
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post("/code/v1/messages", json=message_args(), headers={"x-api-key": API})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "600"
    assert response.json()["type"] == "error"


async def test_free_account_is_skipped_for_code_but_kept(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "free"), (B, "pro")]) as s:
        s.fake.account(B).next_messages(Answer([Text("pro answers")]))
        message = await in_thread(lambda: s.sdk().messages.create(**message_args()))
        assert message.content[0].text == "pro answers"  # type: ignore[union-attr]
        doc = await s.file()
    assert A in [c["cookie"] for c in doc["cookie_array"]]  # still in rotation for the web route
    assert "wasted_cookie" not in doc or not doc["wasted_cookie"]
    meta = {m["cookie"]: m for m in doc["cookie_meta"]}
    assert meta[A]["routes"]["code"] is False


async def test_token_lifecycle(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        client = s.sdk()
        await in_thread(lambda: client.messages.create(**message_args()))
        await in_thread(lambda: client.messages.create(**message_args()))
        assert (s.fake.authorizations, s.fake.refreshes) == (1, 0)
        s.clock.advance(3600)  # past expiry minus the margin
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(in_thread, lambda: client.messages.create(**message_args()))
        assert (s.fake.authorizations, s.fake.refreshes) == (1, 1)  # one refresh, shared
        s.fake.account(A).revoke()
        s.clock.advance(3600)
        await in_thread(lambda: client.messages.create(**message_args()))
        assert s.fake.authorizations == 2  # invalid_grant -> the whole flow again


async def test_connection_test_is_answered_locally(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post(
                "/code/v1/messages",
                json={"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]},
                headers={"x-api-key": API},
            )
        assert response.status_code == 200
        assert "working" in response.json()["content"][0]["text"]
        assert s.fake.requests_to("/api/bootstrap") == []


async def test_disconnect_mid_stream_cancels_upstream_and_returns_the_cookie(tmp_path: Path) -> None:
    gate = trio.Event()
    answer = Answer([Text("a long answer")], hold_after=3, gate=gate)
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_messages(answer)
        async with httpx.AsyncClient(base_url=s.base) as http:
            async with http.stream("POST", "/code/v1/messages", json=message_args(stream=True), headers={"x-api-key": API}) as response:
                await response.aiter_raw().__anext__()
                with trio.fail_after(10):
                    await answer.reached.wait()
        recorded = s.fake.account(A).requests[-1]
        with trio.fail_after(10):
            await recorded.finished.wait()
        assert recorded.cancelled
        with trio.fail_after(10):
            while s.app.proxy.cookies.statistics().in_flight:
                await trio.sleep(0.01)


async def test_stream_that_breaks_ends_with_an_error_event(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_messages(Answer([Text("partial answer here")], cut_after=4))
        async with httpx.AsyncClient(base_url=s.base) as http:
            response = await http.post("/code/v1/messages", json=message_args(stream=True), headers={"x-api-key": API})
    assert response.status_code == 200
    events = [block for block in response.text.split("\n\n") if block]
    assert events[-1].startswith("event: error\ndata: ")
    assert json.loads(events[-1].split("data: ", 1)[1])["type"] == "error"


async def test_pings_while_the_upstream_is_silent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llmproxy.upstream.relay as relay

    monkeypatch.setattr(relay, "PING_INTERVAL", 0.05)
    gate = trio.Event()
    answer = Answer([Text("slow thought")], hold_after=2, gate=gate)
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_messages(answer)
        received = b""
        async with httpx.AsyncClient(base_url=s.base) as http:
            async with http.stream("POST", "/code/v1/messages", json=message_args(stream=True), headers={"x-api-key": API}) as response:
                chunks = response.aiter_raw()
                with trio.fail_after(10):
                    while received.count(b"event: ping") < 3:
                        received += await chunks.__anext__()
                gate.set()
                async for chunk in chunks:
                    received += chunk
        upstream_sent = s.fake.sent(s.fake.account(A).requests[-1])
    assert received.count(b"event: ping") > upstream_sent.count(b"event: ping")
    assert received.count(b"event: message_start") == 1
    assert received.rstrip().endswith(b"}")
    assert b"event: message_stop" in received
    assert b"event: error" not in received
