"""Claude Messages answers -> OpenAI chat completions (llmproxy.translate).

A table of (Claude Message, chat.completion) pairs read both ways; exact chunk
lists for realistic canonical event sequences; the same streams pushed through the
SSE decoder whole and one byte at a time; and the official ``openai`` SDK, offline
over ``httpx.MockTransport``, parsing what we produce.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from typing import Any

import httpx
import openai
import pytest

from llmproxy.asgi.families import dumps
from llmproxy.translate import (
    THINK_CLOSE,
    THINK_OPEN,
    ChatStream,
    chat_completion,
    error_chunk,
    finish_reason,
    message_from_completion,
)
from llmproxy.wire.sse import SSEDecoder, SSEEvent, encode_event

CREATED = 1_700_000_000
MODEL = "claude-sonnet-4-5-thinking"  # what the client asked for, echoed back as is


# --- non-streaming ------------------------------------------------------------------------


def message(
    content: list[dict[str, Any]],
    stop_reason: str | None = "end_turn",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage
        if usage is not None
        else {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def completion(
    reply: dict[str, Any],
    finish: str = "stop",
    usage: tuple[int, int, int, int] = (10, 5, 0, 0),
) -> dict[str, Any]:
    prompt, completion_tokens, cached, reasoning = usage
    return {
        "id": "chatcmpl-msg_01",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "refusal": None, **reply},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def thinking(value: str, signature: str = "") -> dict[str, Any]:
    return {"type": "thinking", "thinking": value, "signature": signature}


def use(call_id: str, name: str, input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": input}


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


BOTH, ONE_WAY = True, False
CACHED_USAGE = {
    "input_tokens": 7,
    "output_tokens": 5,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 100,
}
THINKING_USAGE = {**CACHED_USAGE, "output_tokens_details": {"thinking_tokens": 3}}

# (id, Claude Message, OpenAI completion, invertible)
COMPLETIONS: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("text", message([text("Hi there")]), completion({"content": "Hi there"}), BOTH),
    ("empty answer", message([]), completion({"content": ""}), BOTH),
    (
        "text and tool call",
        message([text("Checking."), use("toolu_1", "get_weather", {"city": "Paris"})], "tool_use"),
        completion(
            {
                "content": "Checking.",
                "tool_calls": [call("toolu_1", "get_weather", '{"city":"Paris"}')],
            },
            "tool_calls",
        ),
        BOTH,
    ),
    (
        "tool calls only: content is null",
        message([use("toolu_1", "a", {}), use("toolu_2", "b", {"x": [1, "é"]})], "tool_use"),
        completion(
            {
                "content": None,
                "tool_calls": [call("toolu_1", "a", "{}"), call("toolu_2", "b", '{"x":[1,"é"]}')],
            },
            "tool_calls",
        ),
        BOTH,
    ),
    (
        "thinking is reasoning_content; cached tokens count as prompt",
        message([thinking("Let me see."), text("42")], usage=THINKING_USAGE),
        completion({"content": "42", "reasoning_content": "Let me see."}, usage=(107, 5, 100, 3)),
        BOTH,
    ),
    (
        "max_tokens",
        message([text("Once upon")], "max_tokens"),
        completion({"content": "Once upon"}, "length"),
        BOTH,
    ),
    (
        "refusal",
        message([text("I can't help.")], "refusal"),
        completion({"content": "I can't help."}, "content_filter"),
        BOTH,
    ),
    # one-way rows: what OpenAI has no slot for
    (
        "stop_sequence is stop",
        message([text("a")], "stop_sequence"),
        completion({"content": "a"}),
        ONE_WAY,
    ),
    (
        "pause_turn is stop",
        message([text("a")], "pause_turn"),
        completion({"content": "a"}),
        ONE_WAY,
    ),
    (
        "context window is length",
        message([text("a")], "model_context_window_exceeded"),
        completion({"content": "a"}, "length"),
        ONE_WAY,
    ),
    ("no stop reason", message([text("a")], None), completion({"content": "a"}), ONE_WAY),
    (
        "text blocks joined, signature and redacted thinking dropped",
        message(
            [
                thinking("a", "EqQB"),
                {"type": "redacted_thinking", "data": "x"},
                text("x"),
                text("y"),
            ]
        ),
        completion({"content": "xy", "reasoning_content": "a"}, usage=(10, 5, 0, 1)),
        ONE_WAY,
    ),
    (
        "cache creation counts as prompt",
        message([text("a")], usage={**CACHED_USAGE, "cache_creation_input_tokens": 50}),
        completion({"content": "a"}, usage=(157, 5, 100, 0)),
        ONE_WAY,
    ),
    (
        # no thinking_tokens from upstream: characters / 4, never above the output
        "reasoning tokens estimated",
        message([thinking("x" * 9), text("a")]),
        completion({"content": "a", "reasoning_content": "x" * 9}, usage=(10, 5, 0, 3)),
        ONE_WAY,
    ),
    (
        "reasoning estimate capped by output",
        message([thinking("x" * 400), text("a")]),
        completion({"content": "a", "reasoning_content": "x" * 400}, usage=(10, 5, 0, 5)),
        ONE_WAY,
    ),
    (
        "server tools are not the client's calls",
        message(
            [
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {"q": "x"},
                },
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                text("found"),
            ]
        ),
        completion({"content": "found"}),
        ONE_WAY,
    ),
    (
        "missing usage",
        {**message([text("a")]), "usage": None},
        completion({"content": "a"}, usage=(0, 0, 0, 0)),
        ONE_WAY,
    ),
]


@pytest.mark.parametrize(
    ("name", "claude", "openai_", "invertible"), COMPLETIONS, ids=[c[0] for c in COMPLETIONS]
)
def test_chat_completion(
    name: str, claude: dict[str, Any], openai_: dict[str, Any], invertible: bool
) -> None:
    before = copy.deepcopy(claude)
    assert chat_completion(claude, model=MODEL, created=CREATED) == openai_
    assert claude == before


@pytest.mark.parametrize(
    ("name", "claude", "openai_"),
    [(n, c, o) for n, c, o, inv in COMPLETIONS if inv],
    ids=[c[0] for c in COMPLETIONS if c[3]],
)
def test_message_from_completion(
    name: str, claude: dict[str, Any], openai_: dict[str, Any]
) -> None:
    assert message_from_completion(openai_) == claude


def test_chat_completion_think_tags() -> None:
    claude = message(
        [thinking("hmm"), text("A"), thinking("again"), use("toolu_1", "f", {})], "tool_use"
    )
    out = chat_completion(claude, model=MODEL, created=CREATED, think_tags=True)
    reply = out["choices"][0]["message"]
    assert reply["content"] == f"{THINK_OPEN}hmm{THINK_CLOSE}A{THINK_OPEN}again{THINK_CLOSE}"
    assert "reasoning_content" not in reply
    assert reply["tool_calls"] == [call("toolu_1", "f", "{}")]


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
        ("something_new", "stop"),
    ],
)
def test_finish_reason(stop_reason: str | None, expected: str) -> None:
    assert finish_reason(stop_reason) == expected


def test_error_chunk() -> None:
    assert error_chunk("Overloaded", "overloaded_error") == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}
    }
    assert error_chunk("x", code="c", param="p")["error"] == {
        "message": "x",
        "type": "server_error",
        "param": "p",
        "code": "c",
    }


# --- canonical event sequences ---------------------------------------------------------------


def start(input_tokens: int = 12, cache_read: int = 0) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": cache_read,
                "output_tokens": 1,
            },
        },
    }


def block(index: int, content_block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def delta(index: int, value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": value}


def tdelta(index: int, value: str) -> dict[str, Any]:
    return delta(index, {"type": "text_delta", "text": value})


def thdelta(index: int, value: str) -> dict[str, Any]:
    return delta(index, {"type": "thinking_delta", "thinking": value})


def jdelta(index: int, value: str) -> dict[str, Any]:
    return delta(index, {"type": "input_json_delta", "partial_json": value})


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(reason: str, output_tokens: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


PING = {"type": "ping"}
TEXT_BLOCK = {"type": "text", "text": ""}
THINKING_BLOCK = {"type": "thinking", "thinking": "", "signature": ""}


def tool_block(call_id: str, name: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": {}}


TEXT_EVENTS = [
    start(),
    block(0, TEXT_BLOCK),
    PING,
    tdelta(0, "Hel"),
    tdelta(0, "lo, wörld"),
    stop(0),
    *end("end_turn", 7),
]
THINKING_EVENTS = [
    start(),
    block(0, THINKING_BLOCK),
    PING,
    thdelta(0, "User wants "),
    thdelta(0, "weather."),
    delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
    stop(0),
    block(1, TEXT_BLOCK),
    tdelta(1, "Sunny."),
    stop(1),
    *end("end_turn", 20),
]
TOOL_EVENTS = [
    start(input_tokens=377, cache_read=100),
    block(0, TEXT_BLOCK),
    tdelta(0, "Checking."),
    stop(0),
    block(1, tool_block("toolu_01", "get_weather")),
    jdelta(1, ""),
    jdelta(1, '{"city": "Pa'),
    jdelta(1, 'ris"}'),
    stop(1),
    block(2, tool_block("toolu_02", "get_time")),
    jdelta(2, '{"tz":'),
    jdelta(2, '"CET"}'),
    stop(2),
    *end("tool_use", 65),
]
MAX_TOKENS_EVENTS = [
    start(),
    block(0, TEXT_BLOCK),
    tdelta(0, "Once upon a"),
    stop(0),
    *end("max_tokens", 4),
]


class Chunks:
    """Builds the chunks we expect, with or without the usage key."""

    def __init__(self, include_usage: bool = False) -> None:
        self.include_usage = include_usage

    def __call__(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": "chatcmpl-msg_01",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def role(self) -> dict[str, Any]:
        return self({"role": "assistant", "content": ""})

    def content(self, value: str) -> dict[str, Any]:
        return self({"content": value})

    def finish(self, reason: str) -> dict[str, Any]:
        return self({}, reason)

    def usage(
        self, prompt: int, completion_tokens: int, cached: int = 0, reasoning: int = 0
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-msg_01",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            },
        }


def tool_head(index: int, call_id: str, name: str) -> dict[str, Any]:
    return {
        "tool_calls": [
            {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
        ]
    }


def tool_args(index: int, fragment: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


def run(events: Iterable[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    stream = ChatStream(model=MODEL, created=CREATED, **options)
    out: list[dict[str, Any]] = []
    for event in events:
        out.extend(stream.feed(event))
    assert stream.done
    return out


C = Chunks()
CU = Chunks(include_usage=True)

# (id, events, options, expected chunks)
STREAMS: list[tuple[str, list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]] = [
    (
        "text",
        TEXT_EVENTS,
        {},
        [C.role(), C.content("Hel"), C.content("lo, wörld"), C.finish("stop")],
    ),
    (
        "text with usage",
        TEXT_EVENTS,
        {"include_usage": True},
        [CU.role(), CU.content("Hel"), CU.content("lo, wörld"), CU.finish("stop"), CU.usage(12, 7)],
    ),
    (
        "thinking and text",
        THINKING_EVENTS,
        {},
        [
            C.role(),
            C({"reasoning_content": "User wants "}),
            C({"reasoning_content": "weather."}),
            C.content("Sunny."),
            C.finish("stop"),
        ],
    ),
    (
        "thinking with usage",
        THINKING_EVENTS,
        {"include_usage": True},
        [
            CU.role(),
            CU({"reasoning_content": "User wants "}),
            CU({"reasoning_content": "weather."}),
            CU.content("Sunny."),
            CU.finish("stop"),
            CU.usage(12, 20, reasoning=5),  # 19 thinking characters / 4, rounded up
        ],
    ),
    (
        "thinking as think tags",
        THINKING_EVENTS,
        {"think_tags": True},
        [
            C.role(),
            C.content(THINK_OPEN + "User wants "),
            C.content("weather."),
            C.content(THINK_CLOSE + "Sunny."),
            C.finish("stop"),
        ],
    ),
    (
        "two tool calls",
        TOOL_EVENTS,
        {},
        [
            C.role(),
            C.content("Checking."),
            C(tool_head(0, "toolu_01", "get_weather")),
            C(tool_args(0, '{"city": "Pa')),
            C(tool_args(0, 'ris"}')),
            C(tool_head(1, "toolu_02", "get_time")),
            C(tool_args(1, '{"tz":')),
            C(tool_args(1, '"CET"}')),
            C.finish("tool_calls"),
        ],
    ),
    (
        "two tool calls with usage",
        TOOL_EVENTS,
        {"include_usage": True},
        [
            CU.role(),
            CU.content("Checking."),
            CU(tool_head(0, "toolu_01", "get_weather")),
            CU(tool_args(0, '{"city": "Pa')),
            CU(tool_args(0, 'ris"}')),
            CU(tool_head(1, "toolu_02", "get_time")),
            CU(tool_args(1, '{"tz":')),
            CU(tool_args(1, '"CET"}')),
            CU.finish("tool_calls"),
            CU.usage(477, 65, cached=100),
        ],
    ),
    ("max_tokens", MAX_TOKENS_EVENTS, {}, [C.role(), C.content("Once upon a"), C.finish("length")]),
    (
        "thinking then a tool call closes the tag at the end",
        [
            start(),
            block(0, THINKING_BLOCK),
            thdelta(0, "need a tool"),
            stop(0),
            block(1, tool_block("toolu_01", "f")),
            jdelta(1, "{}"),
            stop(1),
            *end("tool_use", 9),
        ],
        {"think_tags": True},
        [
            C.role(),
            C.content(THINK_OPEN + "need a tool"),
            C(tool_head(0, "toolu_01", "f")),
            C(tool_args(0, "{}")),
            C.content(THINK_CLOSE),
            C.finish("tool_calls"),
        ],
    ),
    (
        "server tool input and redacted thinking are not sent",
        [
            start(),
            block(0, {"type": "redacted_thinking", "data": "EmwK"}),
            stop(0),
            block(
                1,
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            ),
            jdelta(1, '{"query": "x"}'),
            stop(1),
            block(
                2, {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
            ),
            stop(2),
            block(3, TEXT_BLOCK),
            delta(
                3, {"type": "citations_delta", "citation": {"type": "web_search_result_location"}}
            ),
            tdelta(3, "Found it."),
            stop(3),
            *end("end_turn", 30),
        ],
        {},
        [C.role(), C.content("Found it."), C.finish("stop")],
    ),
    (
        "tool input given whole at block start",
        [
            start(),
            block(0, {**tool_block("toolu_01", "f"), "input": {"a": 1}}),
            stop(0),
            *end("tool_use", 3),
        ],
        {},
        [
            C.role(),
            C(tool_head(0, "toolu_01", "f")),
            C(tool_args(0, '{"a":1}')),
            C.finish("tool_calls"),
        ],
    ),
    (
        "content before message_start still gets a role first",
        [block(0, TEXT_BLOCK), tdelta(0, "x"), stop(0), *end("end_turn", 1)],
        {"completion_id": "chatcmpl-msg_01"},
        [C.role(), C.content("x"), C.finish("stop")],
    ),
    (
        "events after message_stop are ignored",
        [*MAX_TOKENS_EVENTS, tdelta(0, "late"), *end("end_turn", 9)],
        {},
        [C.role(), C.content("Once upon a"), C.finish("length")],
    ),
]


@pytest.mark.parametrize(
    ("name", "events", "options", "expected"), STREAMS, ids=[s[0] for s in STREAMS]
)
def test_stream(
    name: str, events: list[dict[str, Any]], options: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    before = copy.deepcopy(events)
    assert run(events, **options) == expected
    assert events == before


def test_completion_id_given() -> None:
    chunks = run(TEXT_EVENTS, completion_id="chatcmpl-abc", include_usage=True)
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-abc"}


def test_usage_restated_in_message_delta_wins() -> None:
    events = [
        *TEXT_EVENTS[:-2],
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {
                "input_tokens": 50,
                "cache_read_input_tokens": None,
                "output_tokens": 8,
                "output_tokens_details": {"thinking_tokens": 2},
            },
        },
        {"type": "message_stop"},
    ]
    assert run(events, include_usage=True)[-1] == CU.usage(50, 8, reasoning=2)


def test_usage_so_far_is_the_claude_usage_for_accounting() -> None:
    stream = ChatStream(model=MODEL, created=CREATED)
    assert stream.usage == {}
    stream.feed(
        {"type": "message_start", "message": {"id": "msg_01", "usage": {"input_tokens": 9, "output_tokens": 1}}}
    )
    assert stream.usage == {"input_tokens": 9, "output_tokens": 1}
    stream.feed({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 7, "cache_read_input_tokens": None}})
    assert stream.usage == {"input_tokens": 9, "output_tokens": 7}


def test_error_event() -> None:
    stream = ChatStream(model=MODEL, created=CREATED)
    assert stream.feed(start()) == [C.role()]
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert stream.feed(error) == [error_chunk("Overloaded", "overloaded_error")]
    assert stream.feed(tdelta(0, "late")) == []
    assert stream.feed({"type": "message_stop"}) == []
    assert not stream.done


def test_done_only_after_message_stop() -> None:
    stream = ChatStream(model=MODEL, created=CREATED)
    for event in TEXT_EVENTS[:-1]:
        stream.feed(event)
        assert not stream.done
    stream.feed(TEXT_EVENTS[-1])
    assert stream.done


# --- the same streams through the SSE decoder, whole and one byte at a time ---------------------


def sse_bytes(events: Sequence[dict[str, Any]]) -> bytes:
    out = [b": keep-alive\n\n"]
    for event in events:
        out.append(encode_event(dumps(event), event=event["type"]))
    return b"".join(out)


def decode_and_translate(pieces: Iterable[bytes], **options: Any) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    stream = ChatStream(model=MODEL, created=CREATED, **options)
    out: list[dict[str, Any]] = []
    for piece in pieces:
        decoder.feed(piece)
        for item in decoder.events():
            if isinstance(item, SSEEvent):
                out.extend(stream.feed(item.json()))
    decoder.end()
    assert not decoder.cut
    assert stream.done
    return out


@pytest.mark.parametrize(
    ("name", "events", "options", "expected"), STREAMS[:9], ids=[s[0] for s in STREAMS[:9]]
)
def test_stream_through_sse_bytewise(
    name: str, events: list[dict[str, Any]], options: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    data = sse_bytes(events)
    whole = decode_and_translate([data], **options)
    assert whole == expected
    bytewise = decode_and_translate((data[i : i + 1] for i in range(len(data))), **options)
    assert bytewise == whole


# --- stream and non-stream agree ---------------------------------------------------------------


def fold(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A tiny accumulator: the Message a stream stands for."""
    result: dict[str, Any] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            result = copy.deepcopy(event["message"])
        elif kind == "content_block_start":
            result["content"].append(copy.deepcopy(event["content_block"]))
        elif kind == "content_block_delta":
            target, value = result["content"][event["index"]], event["delta"]
            if value["type"] == "text_delta":
                target["text"] += value["text"]
            elif value["type"] == "thinking_delta":
                target["thinking"] += value["thinking"]
            elif value["type"] == "input_json_delta":
                target["_json"] = target.get("_json", "") + value["partial_json"]
        elif kind == "content_block_stop":
            target = result["content"][event["index"]]
            if "_json" in target:
                target["input"] = json.loads(target.pop("_json") or "{}")
        elif kind == "message_delta":
            result.update(event["delta"])
            result["usage"].update(event["usage"])
    return result


@pytest.mark.parametrize("think_tags", [False, True])
@pytest.mark.parametrize(
    "events", [TEXT_EVENTS, THINKING_EVENTS, TOOL_EVENTS], ids=["text", "thinking", "tools"]
)
def test_stream_and_completion_agree(events: list[dict[str, Any]], think_tags: bool) -> None:
    chunks = run(events, include_usage=True, think_tags=think_tags)
    whole = chat_completion(fold(events), model=MODEL, created=CREATED, think_tags=think_tags)
    reply = whole["choices"][0]["message"]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == (reply["content"] or "")
    assert "".join(d.get("reasoning_content", "") for d in deltas) == reply.get(
        "reasoning_content", ""
    )
    arguments: dict[int, str] = {}
    for d in deltas:
        for entry in d.get("tool_calls", ()):
            arguments[entry["index"]] = (
                arguments.get(entry["index"], "") + entry["function"]["arguments"]
            )
    assert [json.loads(a) for a in arguments.values()] == [
        json.loads(c["function"]["arguments"]) for c in reply.get("tool_calls", [])
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert chunks[-1]["usage"] == whole["usage"]


# --- the official openai SDK, offline ------------------------------------------------------------


def sdk_client(body: bytes, content_type: str) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(http_client=http, api_key="x", base_url="http://test/v1", max_retries=0)


def openai_sse(chunks: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + dumps(chunk) + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"


ASK: list[Any] = [{"role": "user", "content": "weather?"}]


def test_sdk_stream_helper_assembles_tool_calls() -> None:
    body = openai_sse(run(TOOL_EVENTS, include_usage=True))
    with sdk_client(body, "text/event-stream") as client:
        with client.chat.completions.stream(model=MODEL, messages=ASK) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in kinds
    assert final.id == "chatcmpl-msg_01"
    assert final.model == MODEL
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Checking."
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("toolu_01", "get_weather", {"city": "Paris"}),
        ("toolu_02", "get_time", {"tz": "CET"}),
    ]
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (
        477,
        65,
        542,
    )
    assert final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 100


def test_sdk_stream_helper_reasoning_content() -> None:
    body = openai_sse(run(THINKING_EVENTS))
    with sdk_client(body, "text/event-stream") as client:
        with client.chat.completions.stream(model=MODEL, messages=ASK) as stream:
            content = "".join(e.delta for e in stream if e.type == "content.delta")
            final = stream.get_final_completion()
    assert content == "Sunny."
    message = final.choices[0].message
    assert message.content == "Sunny."
    assert (message.model_extra or {}).get("reasoning_content") == "User wants weather."
    assert final.choices[0].finish_reason == "stop"


def test_sdk_create_stream_think_tags() -> None:
    body = openai_sse(run(THINKING_EVENTS, think_tags=True, include_usage=True))
    with sdk_client(body, "text/event-stream") as client:
        chunks = list(client.chat.completions.create(model=MODEL, messages=ASK, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"{THINK_OPEN}User wants weather.{THINK_CLOSE}Sunny."
    assert [c.usage for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens_details is not None
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 5


def test_sdk_raises_on_error_chunk() -> None:
    stream = ChatStream(model=MODEL, created=CREATED)
    chunks = stream.feed(start()) + stream.feed(tdelta(0, "x"))
    chunks += stream.feed(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    with sdk_client(openai_sse(chunks), "text/event-stream") as client:
        with pytest.raises(openai.APIError, match="Overloaded"):
            list(client.chat.completions.create(model=MODEL, messages=ASK, stream=True))


def test_sdk_non_stream_completion() -> None:
    claude = message(
        [thinking("Think."), text("Checking."), use("toolu_1", "get_weather", {"city": "Paris"})],
        "tool_use",
        THINKING_USAGE,
    )
    body = dumps(chat_completion(claude, model=MODEL, created=CREATED))
    with sdk_client(body, "application/json") as client:
        final = client.chat.completions.create(model=MODEL, messages=ASK)
    assert final.id == "chatcmpl-msg_01"
    assert final.created == CREATED
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    assert (choice.message.model_extra or {}).get("reasoning_content") == "Think."
    (tool_call,) = choice.message.tool_calls or []
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.usage is not None
    assert final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens == 3
