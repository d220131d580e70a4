"""Folding canonical events into one Message (llmproxy.wire.accumulate).

The main sample is the composed Messages API stream of protocols.md §1.8
(thinking, text, and a tool call whose input arrives as three JSON fragments),
the shape the Claude Code upstream produces. Its result is compared with the
non-streaming Message of §1.7 and with what the official anthropic SDK's own
stream accumulator makes of the same bytes.
"""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import httpx2
import pytest

from llmproxy.asgi.families import dumps
from llmproxy.wire import accumulate
from llmproxy.wire.accumulate import MessageAccumulator
from llmproxy.wire.sse import encode_event

API_STREAM: list[dict[str, Any]] = [
    {
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
                "input_tokens": 377,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {"type": "ping"},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "User wants weather."},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"},
    },
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "text_delta", "text": "Checking Paris."},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": ""},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": 'ris"}'},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 65},
    },
    {"type": "message_stop"},
]

API_MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "User wants weather.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Checking Paris."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 377,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 65,
    },
}


def fold(events: list[dict[str, Any]]) -> MessageAccumulator:
    acc = MessageAccumulator()
    for event in events:
        acc.feed(event)
    return acc


def test_api_stream_folds_into_the_non_streaming_message() -> None:
    acc = fold(API_STREAM)
    assert acc.complete
    assert acc.error is None
    assert acc.invalid_tool_inputs == {}
    assert acc.message() == API_MESSAGE


def test_official_sdk_accumulates_the_same_message() -> None:
    body = b"".join(encode_event(dumps(event), event=event["type"]) for event in API_STREAM)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://127.0.0.1:9",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )
    with client.messages.stream(
        model="llmproxy-test-model", max_tokens=100, messages=[{"role": "user", "content": "?"}]
    ) as stream:
        final = stream.get_final_message()
    theirs = final.to_dict()
    theirs.pop("stop_details", None)  # set from the delta's (absent) stop_details
    assert theirs == fold(API_STREAM).message()


def test_message_is_a_fresh_copy_and_events_are_not_mutated() -> None:
    events = copy.deepcopy(API_STREAM)
    acc = fold(events)
    assert events == API_STREAM
    first = acc.message()
    first["content"][2]["input"]["city"] = "Rome"
    first["usage"]["output_tokens"] = 0
    assert acc.message() == API_MESSAGE


def test_partial_message_before_the_end() -> None:
    acc = fold(API_STREAM[:12])  # cut after the fragment '{"city": "Pa'
    assert not acc.complete
    message = acc.message()
    assert message["stop_reason"] is None
    assert message["content"][2]["input"] == {}
    assert acc.invalid_tool_inputs == {2: '{"city": "Pa'}
    # the rest still folds in normally
    for event in API_STREAM[12:]:
        acc.feed(event)
    assert acc.message() == API_MESSAGE
    assert acc.invalid_tool_inputs == {}


def test_usage_fields_of_message_delta_replace_non_null_ones() -> None:
    events = copy.deepcopy(API_STREAM)
    events[-2]["usage"] = {
        "input_tokens": 400,
        "cache_read_input_tokens": None,
        "output_tokens": 70,
        "server_tool_use": {"web_search_requests": 1},
    }
    usage = fold(events).message()["usage"]
    assert usage == {
        "input_tokens": 400,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 70,
        "server_tool_use": {"web_search_requests": 1},
    }


def test_extra_message_fields_and_stop_details_are_kept() -> None:
    events = copy.deepcopy(API_STREAM)
    events[0]["message"]["container"] = {"id": "c1"}
    events[-2]["delta"]["stop_details"] = {"type": "refusal", "category": None}
    message = fold(events).message()
    assert message["container"] == {"id": "c1"}
    assert message["stop_details"] == {"type": "refusal", "category": None}


def test_invalid_tool_json_is_recorded_not_lost() -> None:
    events = [
        API_STREAM[0],
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "n", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "[1, 2"},
        },
        {"type": "content_block_stop", "index": 0},
    ]
    acc = fold(events)
    assert acc.message()["content"] == [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]
    assert acc.invalid_tool_inputs == {0: "[1, 2"}
    # a JSON value that is not an object is no tool input either
    events[2]["delta"]["partial_json"] = "[1, 2]"
    assert fold(events).invalid_tool_inputs == {0: "[1, 2]"}


def test_server_tool_results_citations_and_redacted_thinking() -> None:
    citation = {"type": "web_search_result_location", "url": "https://a", "cited_text": "x"}
    result_block = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [{"type": "web_search_result", "url": "https://a", "title": "A"}],
    }
    events: list[dict[str, Any]] = [
        API_STREAM[0],
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "redacted_thinking", "data": "opaque"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "web_search",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"query": "a"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": result_block},
        {"type": "content_block_stop", "index": 2},
        {
            "type": "content_block_start",
            "index": 3,
            "content_block": {"type": "text", "text": "", "citations": []},
        },
        {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "A"}},
        {
            "type": "content_block_delta",
            "index": 3,
            "delta": {"type": "citations_delta", "citation": citation},
        },
        {"type": "content_block_stop", "index": 3},
    ]
    assert fold(events).message()["content"] == [
        {"type": "redacted_thinking", "data": "opaque"},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {"query": "a"},
        },
        result_block,
        {"type": "text", "text": "A", "citations": [citation]},
    ]


def test_error_event() -> None:
    error = {"type": "overloaded_error", "message": "Overloaded"}
    acc = fold([*API_STREAM[:8], {"type": "error", "error": error}])
    assert acc.error == error
    assert not acc.complete
    assert acc.message()["content"][1] == {"type": "text", "text": "Checking Paris."}
    assert fold([{"type": "error"}]).error == {"type": "api_error"}


def test_no_message_before_message_start() -> None:
    acc = fold([{"type": "ping"}, API_STREAM[1]])
    assert not acc.started
    with pytest.raises(RuntimeError):
        acc.message()


def test_odd_events_are_ignored() -> None:
    events: list[dict[str, Any]] = [
        API_STREAM[0],
        {"type": "content_block_delta", "index": 5, "delta": {"type": "text_delta", "text": "x"}},
        {"type": "content_block_start", "index": "0", "content_block": {"type": "text"}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}},
        {"type": "content_block_delta", "index": 0, "delta": "x"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "content_block_stop", "index": None},
        {"type": "message_delta", "delta": None, "usage": None},
        {"type": "something_new"},
        {"type": "message_start", "message": {"id": "msg_other"}},
    ]
    message = fold(events).message()
    assert message["id"] == "msg_01"
    assert message["content"] == [{"type": "text", "text": "ok"}]


def test_module_exports() -> None:
    assert accumulate.__all__ == ["MessageAccumulator"]
