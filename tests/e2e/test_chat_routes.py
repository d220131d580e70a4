"""The OpenAI-compatible Claude routes end to end with the official openai SDK.

``/code/v1/chat/completions`` runs against the fake Anthropic API, and
``/v1/chat/completions`` against the fake claude.ai; both must look like the real
OpenAI API to the SDK: ids, usage, tool calls, reasoning, errors.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest
import trio

from llmproxy import build_app
from llmproxy.config import ConfigStore, Settings
from tests.fakes import anthropic as fa
from tests.fakes import claude_web as fw
from tests.fakes.server import serve

API = "k" * 64
ADMIN = "a" * 64
A = "sk-ant-sid01-" + "A" * 86 + "-aaaaaaAA"
MODEL = "claude-sonnet-4-6"
NOW = 1_800_000_000.0
T = TypeVar("T")


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


@asynccontextmanager
async def code_stack(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[str, fa.FakeAnthropic]]:
    clock = fa.ManualClock(NOW)
    fake = fa.FakeAnthropic(clock=clock, expires_in=3600)
    fake.add_account(A, "pro")
    async with serve(fake) as upstream:
        config = Settings(password=API, admin_password=ADMIN, rproxy=upstream,
                          cookie_array=({"cookie": A},), **settings)
        app = build_app(config, ConfigStore(tmp_path / "c.toml"), clock=clock)
        async with serve(app) as base:
            yield base, fake


@asynccontextmanager
async def web_stack(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[str, fw.FakeClaudeWeb]]:
    clock = fw.ManualClock(NOW)
    fake = fw.FakeClaudeWeb(clock=clock)
    fake.add_account(A, kind="pro")
    async with serve(fake) as upstream:
        config = Settings(password=API, admin_password=ADMIN, rproxy=upstream,
                          cookie_array=({"cookie": A},), **settings)
        app = build_app(config, ConfigStore(tmp_path / "c.toml"), clock=clock)
        async with serve(app) as base:
            yield base, fake


def client(base: str, prefix: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}{prefix}/v1", api_key=API, max_retries=0)


HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


# --- Claude Code route -------------------------------------------------------------


async def test_code_create_returns_a_full_completion(tmp_path: Path) -> None:
    async with code_stack(tmp_path) as (base, fake):
        fake.account(A).next_messages(fa.Answer([fa.Text("Hi!")]))
        done = await in_thread(lambda: client(base, "/code").chat.completions.create(model=MODEL, messages=HELLO))
        assert done.object == "chat.completion" and done.id.startswith("chatcmpl-")
        assert done.model == MODEL and done.created == int(NOW)
        assert done.choices[0].message.content == "Hi!" and done.choices[0].finish_reason == "stop"
        assert done.usage is not None and done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
        sent = fake.account(A).requests[-1].json()
        assert sent["system"][-1]["text"] == "Be brief."
        assert sent["messages"] == [{"role": "user", "content": "hello"}]


async def test_code_stream_with_tool_calls_and_usage(tmp_path: Path) -> None:
    async with code_stack(tmp_path) as (base, fake):
        fake.account(A).next_messages(
            fa.Answer([fa.Text("Let me check."), fa.ToolUse("get_weather", {"city": "Paris", "unit": "c"})])
        )

        def run() -> tuple[list[Any], Any]:
            with client(base, "/code").chat.completions.stream(
                model=MODEL, messages=HELLO, tools=[WEATHER_TOOL], stream_options={"include_usage": True}
            ) as stream:
                events = list(stream)
                return events, stream.get_final_completion()

        events, final = await in_thread(run)
        choice = final.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == "Let me check."
        call = choice.message.tool_calls[0]
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "c"}
        assert final.usage is not None and final.usage.completion_tokens > 0
        assert any(e.type == "tool_calls.function.arguments.delta" for e in events)
        sent = fake.account(A).requests[-1].json()
        assert sent["tools"][0]["name"] == "get_weather" and sent["stream"] is True


async def test_code_stream_usage_is_counted_against_the_cookie(tmp_path: Path) -> None:
    """The usage the Messages API reported (start and final delta) lands on the cookie."""
    async with code_stack(tmp_path) as (base, fake):
        fake.account(A).next_messages(fa.Answer([fa.Text("Counted.")], input_tokens=123, output_tokens=45))

        def run() -> Any:
            with client(base, "/code").chat.completions.stream(
                model=MODEL, messages=HELLO, stream_options={"include_usage": True}
            ) as stream:
                return stream.get_final_completion()

        final = await in_thread(run)
        assert final.usage is not None
        assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (123, 45)
        async with httpx.AsyncClient(base_url=base) as admin:
            listing = await admin.get("/api/cookies", headers={"authorization": f"Bearer {ADMIN}"})
        lifetime = listing.json()["valid"][0]["lifetime_usage"]
        assert (lifetime["total_input_tokens"], lifetime["total_output_tokens"]) == (123, 45)


async def test_code_stream_raw_chunks_end_with_done(tmp_path: Path) -> None:
    async with code_stack(tmp_path) as (base, fake):
        fake.account(A).next_messages(fa.Answer([fa.Thinking("hmm", "sig"), fa.Text("ok")]))
        body = {"model": MODEL + "-thinking", "messages": HELLO, "stream": True}
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.post("/code/v1/chat/completions", json=body,
                                       headers={"authorization": f"Bearer {API}"})
        lines = [line for line in response.text.split("\n") if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(line[6:]) for line in lines[:-1]]
        assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL + "-thinking" for c in chunks)
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])
        assert reasoning == "hmm"
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert "id:" not in response.text


async def test_code_rejects_unsupported_fields_naming_them(tmp_path: Path) -> None:
    async with code_stack(tmp_path) as (base, fake):
        with pytest.raises(openai.BadRequestError) as caught:
            await in_thread(lambda: client(base, "/code").chat.completions.create(model=MODEL, messages=HELLO, n=2))
        assert caught.value.param == "n"
        assert fake.account(A).requests == []


async def test_code_upstream_error_is_in_openai_shape(tmp_path: Path) -> None:
    async with code_stack(tmp_path) as (base, fake):
        fake.account(A).next_messages(fa.Failure.overloaded())
        with pytest.raises(openai.APIStatusError) as caught:
            await in_thread(lambda: client(base, "/code").chat.completions.create(model=MODEL, messages=HELLO))
        assert caught.value.status_code == 529
        body = caught.value.body
        assert isinstance(body, dict) and {"message", "type", "param", "code"} <= set(body)


async def test_think_tags_option_puts_thinking_in_the_text(tmp_path: Path) -> None:
    async with code_stack(tmp_path, think_tags=True) as (base, fake):
        fake.account(A).next_messages(fa.Answer([fa.Thinking("deep", "sig"), fa.Text("answer")]))
        done = await in_thread(
            lambda: client(base, "/code").chat.completions.create(model=MODEL + "-thinking", messages=HELLO)
        )
        assert done.choices[0].message.content == "<think>\ndeep\n</think>\n\nanswer"


# --- claude.ai web route -----------------------------------------------------------


async def test_web_create_and_stream(tmp_path: Path) -> None:
    async with web_stack(tmp_path) as (base, fake):
        fake.account(A).next_completion(fw.Answer([fw.Text("Hello from the web.")]))
        done = await in_thread(lambda: client(base, "").chat.completions.create(model=MODEL, messages=HELLO))
        assert done.choices[0].message.content == "Hello from the web."
        assert done.model == MODEL and done.usage is not None and done.usage.prompt_tokens > 0
        assert fake.account(A).completions[-1].transcript == "Be brief.\n\n\x08Human: hello"

        fake.account(A).next_completion(fw.Answer([fw.Text("streamed words here")], chunk_size=4))

        def run() -> tuple[str, Any]:
            with client(base, "").chat.completions.stream(
                model=MODEL, messages=HELLO, stop=["words"], stream_options={"include_usage": True}
            ) as stream:
                text = "".join(e.delta for e in stream if e.type == "content.delta")
                return text, stream.get_final_completion()

        text, final = await in_thread(run)
        assert text == "streamed "
        assert final.choices[0].finish_reason == "stop"
        assert final.usage is not None


async def test_web_remote_image_url_is_a_400(tmp_path: Path) -> None:
    async with web_stack(tmp_path) as (base, fake):
        messages: Any = [{"role": "user", "content": [
            {"type": "text", "text": "see"},
            {"type": "image_url", "image_url": {"url": "https://cdn.example.net/a.png"}},
        ]}]
        with pytest.raises(openai.BadRequestError) as caught:
            await in_thread(lambda: client(base, "").chat.completions.create(model=MODEL, messages=messages))
        assert "cdn.example.net" in str(caught.value)
        assert fake.account(A).calls["completion"] == 0


async def test_web_tool_history_reaches_the_transcript_as_text(tmp_path: Path) -> None:
    async with web_stack(tmp_path) as (base, fake):
        messages: Any = [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
        ]
        await in_thread(lambda: client(base, "").chat.completions.create(model=MODEL, messages=messages))
        transcript = fake.account(A).completions[-1].transcript
        assert '[tool call get_weather id=call_1]\n{"city":"Oslo"}' in transcript
        assert "[tool result id=call_1]\nrainy" in transcript


async def test_models_lists_each_model_with_a_thinking_variant(tmp_path: Path) -> None:
    async with code_stack(tmp_path, models=("claude-x-1", "claude-y-2")) as (base, _):
        for prefix in ("", "/code"):
            ids = [m.id for m in await in_thread(lambda: list(client(base, prefix).models.list()))]
            assert ids == ["claude-x-1", "claude-x-1-thinking", "claude-y-2", "claude-y-2-thinking"]


async def test_code_images_and_stop_reach_the_messages_api(tmp_path: Path) -> None:
    async with code_stack(tmp_path) as (base, fake):
        fake.account(A).next_messages(fa.Answer([fa.Text("a cat")]))
        messages: Any = [{"role": "user", "content": [
            {"type": "text", "text": "what?"},
            {"type": "image_url", "image_url": {"url": "https://cdn.example.net/cat.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ]}]
        await in_thread(lambda: client(base, "/code").chat.completions.create(
            model=MODEL, messages=messages, stop=["END"], max_completion_tokens=300
        ))
        sent = fake.account(A).requests[-1].json()
        content = sent["messages"][0]["content"]
        assert content[1] == {"type": "image", "source": {"type": "url", "url": "https://cdn.example.net/cat.png"}}
        assert content[2]["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
        assert sent["stop_sequences"] == ["END"] and sent["max_tokens"] == 300
