"""Holding a stream until its first answer, and the framing each client gets.

Every case runs the upstream bytes through the SSE decoder whole and one byte at
a time; the watch must decide the same and write the same bytes either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from llmproxy.gemini.watch import ChatWatch, GeminiWatch, Watch, WatchState, reframe
from llmproxy.wire.sse import SSEDecoder


def run(watch: Watch, data: bytes, *, bytewise: bool) -> bytes:
    decoder = SSEDecoder()
    out = b""
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        decoder.feed(piece)
        for item in decoder.events():
            out += watch.accept(item)
    decoder.end()
    for item in decoder.events():
        out += watch.accept(item)
    return out


def both(make: Callable[[], Watch], data: bytes) -> tuple[Watch, bytes]:
    first, whole = make(), b""
    whole = run(first, data, bytewise=False)
    second = make()
    assert run(second, data, bytewise=True) == whole
    assert second.state is first.state
    return first, whole


def gemini(obj: Any, eol: bytes = b"\r\n") -> bytes:
    return b"data: " + json.dumps(obj).encode() + eol + eol


def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 1}}


USAGE_ONLY = {"usageMetadata": {"promptTokenCount": 3}}


def test_gemini_events_go_out_byte_for_byte_once_an_answer_starts() -> None:
    data = gemini(USAGE_ONLY) + gemini(chunk("a")) + gemini(chunk("b", "STOP"))
    watch, out = both(GeminiWatch, data)
    assert out == data
    assert watch.state is WatchState.RELEASED and watch.complete


def test_gemini_holds_until_the_first_candidate() -> None:
    watch = GeminiWatch()
    decoder = SSEDecoder()
    decoder.feed(gemini(USAGE_ONLY))
    [event] = list(decoder.events())
    assert watch.accept(event) == b"" and watch.holding
    assert watch.held() == gemini(USAGE_ONLY)


@pytest.mark.parametrize(
    "data",
    [
        gemini(chunk("", "OTHER")),
        gemini(USAGE_ONLY) + gemini({"candidates": [{"finishReason": "OTHER"}]}) + gemini(chunk("late")),
        gemini({"promptFeedback": {"blockReason": "OTHER"}}),
        b"",
    ],
)
def test_gemini_empty_streams(data: bytes) -> None:
    watch, out = both(GeminiWatch, data)
    watch.end()
    assert out == b""
    assert watch.state is WatchState.EMPTY


def test_gemini_error_before_the_answer_fails_and_after_it_is_relayed() -> None:
    error = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    watch, out = both(GeminiWatch, gemini(error))
    assert watch.state is WatchState.FAILED and watch.error == error and out == b""
    data = gemini(chunk("a")) + gemini(error)
    watch, out = both(GeminiWatch, data)
    assert out == data and not watch.complete


def test_gemini_comments_and_foreign_lines_never_reach_the_sdk() -> None:
    data = b": keep-alive\r\n\r\n" + b"event: message\r\ndata: " + json.dumps(chunk("x", "STOP")).encode() + b"\r\n\r\n"
    watch, out = both(GeminiWatch, data)
    assert out == reframe(json.dumps(chunk("x", "STOP")))
    assert all(line.startswith(b"data: ") for line in out.splitlines() if line)


def test_gemini_lf_framing_passes_through_as_it_came() -> None:
    data = gemini(chunk("a", "STOP"), eol=b"\n")
    assert both(GeminiWatch, data)[1] == data


def test_reframe_splits_multiline_data() -> None:
    assert reframe("{\n}") == b"data: {\r\ndata: }\r\n\r\n"


def openai(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {} if content is None else {"content": content}
    return {
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {**d, **extra}, "finish_reason": finish}],
    }


def chat() -> ChatWatch:
    return ChatWatch(completion_id="chatcmpl-x", created=7, model="gemini")


def test_chat_role_only_deltas_are_held_then_released_with_the_content() -> None:
    data = openai(delta(role="assistant")) + openai(delta("hi")) + openai(delta(finish="stop")) + b"data: [DONE]\n\n"
    watch, out = both(chat, data)
    assert out == data
    assert watch.released and watch.complete and watch.end() == b""


def test_chat_fills_missing_fields_and_adds_done() -> None:
    bare = {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]}
    watch, out = both(chat, openai(bare))
    sent = json.loads(out.split(b"\n\n")[0].removeprefix(b"data: "))
    assert (sent["id"], sent["object"], sent["created"], sent["model"]) == ("chatcmpl-x", "chat.completion.chunk", 7, "gemini")
    assert watch.end() == b"data: [DONE]\n\n"


@pytest.mark.parametrize(
    "data",
    [
        b"data: [DONE]\n\n",
        openai(delta(role="assistant")) + b"data: [DONE]\n\n",
        openai(delta("", finish="OTHER")),
        openai({"id": "x", "choices": []}),
    ],
)
def test_chat_empty_streams(data: bytes) -> None:
    watch, out = both(chat, data)
    watch.end()
    assert out == b"" and watch.state is WatchState.EMPTY
    assert watch.held().endswith(b"data: [DONE]\n\n")


def test_chat_error_arrays_fail_while_holding() -> None:
    error = [{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}]
    watch, _ = both(chat, openai(error))
    assert watch.state is WatchState.FAILED
    assert watch.error == {"error": error[0]["error"]}


def test_chat_comments_pass_only_after_release() -> None:
    data = b": early\n\n" + openai(delta("x")) + b": later\n\n"
    _, out = both(chat, data)
    assert out == openai(delta("x")) + b": later\n\n"


def test_chat_tool_calls_count_as_an_answer() -> None:
    data = openai(delta(tool_calls=[{"index": 0, "id": "t", "function": {"name": "f", "arguments": ""}}]))
    watch, out = both(chat, data)
    assert watch.released and out == data
