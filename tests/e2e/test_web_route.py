"""The claude.ai web route end to end: official anthropic SDK -> llmproxy -> fake claude.ai.

The fake (tests/fakes/claude_web.py) checks cookie, browser headers, conversation
lifecycle, uploads and the completion body the way claude.ai does, and answers in
its own event format, which the proxy must turn into a stream the SDK accepts.
"""

from __future__ import annotations

import base64
import json
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
from llmproxy.credentials import State
from tests.fakes.claude_web import (
    Answer,
    Failure,
    FakeClaudeWeb,
    Flag,
    ManualClock,
    Text,
    Thinking,
    exceeded_limit,
)
from tests.fakes.server import serve

API = "k" * 64
ADMIN = "a" * 64
A = "sk-ant-sid01-" + "A" * 86 + "-aaaaaaAA"
B = "sk-ant-sid01-" + "B" * 86 + "-bbbbbbAA"
MODEL = "claude-sonnet-4-6"
NOW = 1_800_000_000.0
T = TypeVar("T")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


@dataclass
class Stack:
    base: str
    fake: FakeClaudeWeb
    app: App
    clock: ManualClock

    def sdk(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.base, api_key=API, max_retries=0)

    def state(self, cookie: str) -> State:
        info = self.app.proxy.cookies.get(cookie)
        assert info is not None
        return info.state


@asynccontextmanager
async def stack(tmp_path: Path, accounts: list[tuple[str, str]], **settings: Any) -> AsyncIterator[Stack]:
    clock = ManualClock(NOW)
    fake = FakeClaudeWeb(clock=clock)
    for cookie, kind in accounts:
        fake.add_account(cookie, kind=kind)
    async with serve(fake) as upstream:
        config = Settings(
            password=API,
            admin_password=ADMIN,
            rproxy=upstream,
            cookie_array=tuple({"cookie": cookie} for cookie, _ in accounts),
            **settings,
        )
        app = build_app(config, ConfigStore(tmp_path / "clewdr.toml"), clock=clock)
        async with serve(app) as base:
            yield Stack(base, fake, app, clock)


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


def args(**kw: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "hello"}], **kw}


# --- answers -----------------------------------------------------------------------


async def test_create_returns_a_real_message(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_completion(Answer([Text("Hello there, friend.")]))
        message = await in_thread(lambda: s.sdk().messages.create(**args(system="Be kind.")))
        assert message.model == MODEL
        assert message.stop_reason == "end_turn"
        assert message.content[0].type == "text" and message.content[0].text == "Hello there, friend."
        assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
        completion = s.fake.account(A).completions[-1]
        assert completion.rendering_mode == "messages"
        assert completion.model == MODEL  # pro accounts choose the model
        assert completion.transcript == "Be kind.\n\n\x08Human: hello"
        conversation = s.fake.account(A).created[-1]
        assert conversation.is_temporary is True


async def test_stream_helper_accepts_the_rebuilt_stream(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_completion(
            Answer([Thinking("Let me think.", summary="thinking"), Text("The answer is 42.")], chunk_size=3)
        )

        def run() -> tuple[list[str], anthropic.types.Message]:
            with s.sdk().messages.stream(**args(model=MODEL + "-thinking")) as stream:
                texts = list(stream.text_stream)
                return texts, stream.get_final_message()

        texts, final = await in_thread(run)
        assert "".join(texts) == "The answer is 42."
        assert len(texts) > 1  # relayed delta by delta, not in one piece
        assert [b.type for b in final.content] == ["thinking", "text"]
        assert final.content[0].thinking == "Let me think."  # type: ignore[union-attr]
        assert final.stop_reason == "end_turn" and final.model == MODEL + "-thinking"
        assert s.fake.account(A).settings_puts[-1].settings == {"paprika_mode": "extended"}
        assert s.fake.account(A).completions[-1].model == MODEL  # suffix stripped upstream


async def test_free_account_sends_no_model_and_no_thinking_switch(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "free")]) as s:
        message = await in_thread(
            lambda: s.sdk().messages.create(**args(thinking={"type": "enabled", "budget_tokens": 2048}))
        )
        assert message.content[0].text.startswith("Hello from claude.ai!")  # type: ignore[union-attr]
        assert s.fake.account(A).completions[-1].model is None
        assert s.fake.account(A).settings_puts == []


async def test_account_lookup_is_cached_across_requests(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        for _ in range(3):
            await in_thread(lambda: s.sdk().messages.create(**args()))
        assert s.fake.account(A).calls["bootstrap"] == 1
        assert s.fake.account(A).calls["organizations"] == 1
        assert s.fake.account(A).calls["completion"] == 3


async def test_preserve_chats_keeps_a_named_conversation(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")], preserve_chats=True) as s:
        await in_thread(lambda: s.sdk().messages.create(**args()))
        conversation = s.fake.account(A).created[-1]
        assert conversation.is_temporary is False and conversation.name.startswith("llmproxy ")


# --- stop sequences ----------------------------------------------------------------


async def test_stop_sequence_straddling_deltas_in_a_stream(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        held = Answer([Text(["one two ", "thr", "ee END", "ING four"])], hold_after=6, gate=trio.Event())
        s.fake.account(A).next_completion(held)

        def run() -> tuple[str, anthropic.types.Message]:
            with s.sdk().messages.stream(**args(stop_sequences=["three END", "zzz"])) as stream:
                return "".join(stream.text_stream), stream.get_final_message()

        text, final = await in_thread(run)
        assert text == "one two "
        assert final.stop_reason == "stop_sequence" and final.stop_sequence == "three END"
        completion = s.fake.account(A).completions[-1]
        # The proxy hung up at the match; the rest was never read.
        with trio.fail_after(5):
            while not completion.request.cancelled and not completion.request.finished.is_set():
                await trio.sleep(0.01)
        assert completion.request.cancelled


async def test_stop_sequence_without_streaming(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_completion(Answer([Text("Alpha. 你好世界. Omega.")], chunk_size=2))
        message = await in_thread(lambda: s.sdk().messages.create(**args(stop_sequences=["世界"])))
        assert message.content[0].text == "Alpha. 你好"  # type: ignore[union-attr]
        assert message.stop_reason == "stop_sequence" and message.stop_sequence == "世界"


# --- images ------------------------------------------------------------------------


async def test_base64_image_is_uploaded(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        content = [
            {"type": "text", "text": "what is this"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ]
        await in_thread(lambda: s.sdk().messages.create(**args(messages=[{"role": "user", "content": content}])))
        upload = s.fake.account(A).uploads[-1]
        assert upload.data == base64.b64decode(PNG) and upload.file_name == "image.png"
        completion = s.fake.account(A).completions[-1]
        assert completion.files == [upload.file_uuid]
        assert "[image 1: image.png]" in completion.transcript


async def test_remote_image_url_is_refused_naming_the_host(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        content = [{"type": "image", "source": {"type": "url", "url": "https://images.example.org/cat.png?t=secret"}}]
        with pytest.raises(anthropic.BadRequestError) as caught:
            await in_thread(
                lambda: s.sdk().messages.create(**args(messages=[{"role": "user", "content": content}]))
            )
        assert "images.example.org" in str(caught.value) and "secret" not in str(caught.value)
        assert s.fake.account(A).calls["completion"] == 0


# --- rotation and account state ----------------------------------------------------


async def test_rate_limited_cookie_is_parked_and_the_next_one_answers(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro"), (B, "pro")]) as s:
        reset = int(NOW) + 7200
        s.fake.account(A).next_completion(Failure.rate_limited(resets_at=reset))
        # Two requests: rotation reaches A in one of them; that one is retried on B.
        for _ in range(2):
            message = await in_thread(lambda: s.sdk().messages.create(**args()))
            assert message.content[0].text.startswith("Hello from claude.ai!")  # type: ignore[union-attr]
        assert s.state(A) is State.EXHAUSTED and s.state(B) is State.VALID
        assert s.fake.account(B).calls["completion"] == 2
        info = s.app.proxy.cookies.get(A)
        assert info is not None and info.until == reset


async def test_exceeded_message_limit_parks_the_cookie_after_answering(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        reset = int(NOW) + 3000
        s.fake.account(A).next_completion(Answer([Text("last one")], limit=exceeded_limit(reset)))
        message = await in_thread(lambda: s.sdk().messages.create(**args()))
        assert message.content[0].text == "last one"  # type: ignore[union-attr]
        info = s.app.proxy.cookies.get(A)
        assert info is not None and info.state is State.EXHAUSTED and info.until == reset
        with pytest.raises(anthropic.APIStatusError) as caught:
            await in_thread(lambda: s.sdk().messages.create(**args()))
        assert caught.value.status_code == 503


async def test_banned_account_is_retired(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro"), (B, "pro")]) as s:
        s.fake.account(A).org.active_flags = [Flag("account_banned", expires_at=NOW + 86400)]
        s.fake.account(B).org.active_flags = [Flag("account_banned", expires_at=NOW + 86400)]
        with pytest.raises(anthropic.APIStatusError):
            await in_thread(lambda: s.sdk().messages.create(**args()))
        assert s.state(A) is State.INVALID and s.state(B) is State.INVALID


async def test_warned_account_is_parked_with_skip_first_warning(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro"), (B, "pro")], skip_first_warning=True) as s:
        s.fake.account(A).org.active_flags = [Flag("first_warning", expires_at=NOW + 600)]
        for _ in range(2):
            await in_thread(lambda: s.sdk().messages.create(**args()))
        assert s.state(A) is State.EXHAUSTED and s.state(B) is State.VALID
        assert s.fake.account(A).calls["completion"] == 0
        assert s.fake.account(B).calls["completion"] == 2


async def test_dead_cookie_is_retired_and_the_next_serves(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro"), (B, "pro")]) as s:
        s.fake.account(A).dead = True
        for _ in range(2):  # rotation reaches A in one of them; that one is retried on B
            await in_thread(lambda: s.sdk().messages.create(**args()))
        assert s.state(A) is State.INVALID and s.state(B) is State.VALID


async def test_cloudflare_block_is_a_502_that_blames_the_network(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro"), (B, "pro")]) as s:
        s.fake.blocked = Failure.cloudflare_challenge()
        with pytest.raises(anthropic.APIStatusError) as caught:
            await in_thread(lambda: s.sdk().messages.create(**args()))
        assert caught.value.status_code == 502
        assert "blocked" in str(caught.value) and "proxy" in str(caught.value)
        assert s.state(A) is State.VALID and s.state(B) is State.VALID


async def test_other_upstream_errors_reach_the_client_in_anthropic_shape(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_completion(Failure.overloaded(status=529))
        with pytest.raises(anthropic.APIStatusError) as caught:
            await in_thread(lambda: s.sdk().messages.create(**args()))
        assert caught.value.status_code == 529
        assert s.state(A) is State.VALID


# --- broken streams and disconnects ------------------------------------------------


async def test_stream_cut_halfway_ends_with_an_error_event(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        s.fake.account(A).next_completion(Answer([Text("a long answer that breaks")], chunk_size=3, cut_after=5))

        def run() -> str:
            got = []
            with s.sdk().messages.stream(**args()) as stream:
                for text in stream.text_stream:
                    got.append(text)
            return "".join(got)

        with pytest.raises(anthropic.APIStatusError) as caught:
            await in_thread(run)
        assert "before message_stop" in str(caught.value) or "broke off" in str(caught.value)


async def test_client_disconnect_cancels_the_upstream_and_frees_the_cookie(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        gate = trio.Event()
        answer = Answer([Text("x" * 60)], chunk_size=5, hold_after=4, gate=gate)
        s.fake.account(A).next_completion(answer)
        body = json.dumps(args(stream=True)).encode()
        async with httpx.AsyncClient(base_url=s.base, headers={"x-api-key": API}) as client:
            async with client.stream("POST", "/v1/messages", content=body) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    if b"content_block_delta" in chunk:
                        break
        completion = s.fake.account(A).completions[-1]
        with trio.fail_after(5):
            while not completion.request.cancelled:
                await trio.sleep(0.01)
            while s.app.proxy.cookies.statistics().in_flight_by_key.get(A, 0):
                await trio.sleep(0.01)


async def test_count_tokens_is_an_estimate_marked_as_such(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")]) as s:
        async with httpx.AsyncClient(base_url=s.base, headers={"x-api-key": API}) as client:
            response = await client.post("/v1/messages/count_tokens", json=args())
        assert response.status_code == 200
        assert response.headers["x-llmproxy-token-count"] == "estimate"
        assert response.json()["input_tokens"] > 0


# --- options -----------------------------------------------------------------------


async def test_sanitize_messages_trims_and_drops_empty_turns(tmp_path: Path) -> None:
    async with stack(tmp_path, [(A, "pro")], sanitize_messages=True) as s:
        messages = [
            {"role": "user", "content": [{"type": "text", "text": "  hi  "}, {"type": "text", "text": "   "}]},
            {"role": "assistant", "content": "   "},
            {"role": "user", "content": "again\n"},
        ]
        await in_thread(lambda: s.sdk().messages.create(**args(messages=messages)))
        assert s.fake.account(A).completions[-1].transcript == "hi\nagain"


class _SplitUpstream:
    """One base URL for both fakes: Claude Code's calls (its user agent) go to the API fake."""

    def __init__(self, web: Any, api: Any) -> None:
        self.web, self.api = web, api

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or [])
        agent = headers.get(b"user-agent", b"")
        target = self.api if agent.startswith(b"claude-code/") or scope.get("path", "").startswith("/v1/") else self.web
        await target(scope, receive, send)


async def test_enable_web_count_tokens_counts_input_exactly(tmp_path: Path) -> None:
    from tests.fakes.anthropic import FakeAnthropic

    clock = ManualClock(NOW)
    web = FakeClaudeWeb(clock=clock)
    web.add_account(A, kind="pro")
    api = FakeAnthropic(clock=clock, expires_in=3600)
    api.add_account(A, "pro")
    api.account(A).next_count_tokens(4321)
    async with serve(_SplitUpstream(web, api)) as upstream:
        config = Settings(password=API, admin_password=ADMIN, rproxy=upstream,
                          cookie_array=({"cookie": A},), enable_web_count_tokens=True)
        app = build_app(config, ConfigStore(tmp_path / "clewdr.toml"), clock=clock)
        async with serve(app) as base:
            client = anthropic.Anthropic(base_url=base, api_key=API, max_retries=0)
            message = await in_thread(lambda: client.messages.create(**args()))
    assert message.usage.input_tokens == 4321
    assert web.account(A).calls["completion"] == 1


async def test_an_unreachable_claude_ai_is_a_502_that_blames_no_cookie(tmp_path: Path) -> None:
    with trio.socket.socket() as probe:  # a loopback port nobody listens on
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Settings(
        password=API,
        admin_password=ADMIN,
        rproxy=f"http://127.0.0.1:{port}",
        cookie_array=({"cookie": A},),
    )
    app = build_app(config, ConfigStore(tmp_path / "clewdr.toml"), clock=ManualClock(NOW))
    async with serve(app) as base:
        client = anthropic.Anthropic(base_url=base, api_key=API, max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as caught:
            await in_thread(lambda: client.messages.create(**args()))
        assert caught.value.status_code == 502
        assert "cannot reach 127.0.0.1" in caught.value.message
        info = app.proxy.cookies.get(A)
        assert info is not None and info.state is State.VALID
