"""claude.ai's completion stream -> canonical events (llmproxy.claude.web_stream).

The sample streams are composed from protocols.md §4.5 (claude.ai's "messages"
rendering: ``chatcompl_`` ids, ``uuid``/``trace_id`` fields, block timestamps and
flags, no usage anywhere, ``thinking_summary_delta``, ``message_limit``) and the
legacy ``completion`` format. Every output is checked three ways: against the
exact expected events, against the event grammar of protocols.md §1.8, and, for
the main samples, by the official anthropic SDK's ``messages.stream()`` helper
reading the encoded bytes offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.lib.streaming import MessageStream
from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.asgi.families import dumps
from llmproxy.claude import web_stream
from llmproxy.claude.web_stream import (
    EXCEEDED_FALLBACK_SECONDS,
    Limit,
    LimitWindow,
    WebStream,
    parse_limit,
)
from llmproxy.wire.accumulate import MessageAccumulator
from llmproxy.wire.estimate import estimate_text
from llmproxy.wire.sse import SSEDecoder, SSEEvent, encode_event

Upstream = list[tuple[str | None, dict[str, Any]]]
MODEL = "claude-sonnet-4-5"
NOW = 1_777_550_000.0

WITHIN_LIMIT = {
    "type": "within_limit",
    "resetsAt": None,
    "remaining": None,
    "perModelLimit": None,
    "representativeClaim": "five_hour",
    "overageDisabledReason": "overage_not_provisioned",
    "overageInUse": False,
    "windows": {
        "5h": {"status": "within_limit", "resets_at": 1777560000, "utilization": 0.65},
        "7d": {"status": "within_limit", "resets_at": 1777824000, "utilization": 0.16},
    },
}
EXCEEDED_LIMIT = {
    "type": "exceeded_limit",
    "resetsAt": 1777561234,
    "remaining": 0,
    "perModelLimit": False,
    "representativeClaim": "seven_day",
    "windows": {
        "5h": {"status": "within_limit", "resets_at": 1777560000, "utilization": 0.4},
        "7d": {"status": "exceeded_limit", "resets_at": 1777824000, "utilization": 1.0},
    },
}


def message_start(message_id: str = "chatcompl_01Q5kT3vYq9Zx") -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "parent_uuid": "6f1c7f0e-0000-4000-8000-000000000001",
            "uuid": "6f1c7f0e-0000-4000-8000-000000000002",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "trace_id": "0a1b2c3d4e5f",
            "request_id": "req_011CVxyz",
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    stamped = {"start_timestamp": "2026-05-01T10:00:00.100000Z", "stop_timestamp": None}
    return {"type": "content_block_start", "index": index, "content_block": stamped | block}


def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def block_stop(index: int) -> dict[str, Any]:
    return {
        "type": "content_block_stop",
        "index": index,
        "stop_timestamp": "2026-05-01T10:00:02.000000Z",
    }


def message_delta(reason: str | None = "end_turn") -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None, "stop_details": None},
    }


def named(events: Iterable[dict[str, Any]]) -> Upstream:
    return [(event["type"], event) for event in events]


THINKING_AND_TEXT: Upstream = named(
    [
        message_start(),
        block_start(
            0,
            {"type": "thinking", "thinking": "", "summaries": [], "cut_off": False, "flags": None},
        ),
        delta(0, {"type": "thinking_delta", "thinking": "The user greets me."}),
        delta(0, {"type": "thinking_summary_delta", "summary": {"summary": "Greeting"}}),
        delta(0, {"type": "thinking_delta", "thinking": " Reply briefly."}),
        block_stop(0),
        block_start(1, {"type": "text", "text": "", "citations": [], "flags": None}),
        {"type": "ping"},
        delta(1, {"type": "text_delta", "text": "Hello"}),
        delta(
            1,
            {
                "type": "citations_delta",
                "citation": {"type": "web_search_result_location", "url": "https://x"},
            },
        ),
        delta(1, {"type": "text_delta", "text": "! How can I help?"}),
        block_stop(1),
        message_delta(),
        {"type": "message_limit", "message_limit": WITHIN_LIMIT},
        {"type": "message_stop"},
    ]
)


def canonical_start(message_id: str = "msg_test_1", input_tokens: int = 42) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
    }


def canonical_end(text: str, reason: str = "end_turn") -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": estimate_text(text)},
        },
        {"type": "message_stop"},
    ]


def factory() -> Any:
    counter = iter(range(1, 100))
    return lambda: f"msg_test_{next(counter)}"


def run(upstream: Upstream, **kwargs: Any) -> tuple[WebStream, list[dict[str, Any]]]:
    stream = WebStream(MODEL, 42, message_id_factory=factory(), **kwargs)
    out: list[dict[str, Any]] = []
    for name, data in upstream:
        out += stream.feed(name, data)
    check_grammar(out)
    return stream, out


def check_grammar(events: Sequence[dict[str, Any]]) -> None:
    """The event order of protocols.md §1.8, as strictly as the SDK needs it."""
    started = stopped = False
    open_index: int | None = None
    types: list[str] = []
    for number, event in enumerate(events):
        kind = event["type"]
        assert not stopped, f"event after the end: {event}"
        if kind == "ping":
            continue
        if kind == "error":
            assert set(event["error"]) == {"type", "message"}
            stopped = True
            continue
        if kind == "message_start":
            assert not started
            started = True
            message = event["message"]
            assert message["content"] == []
            assert message["id"].startswith("msg_")
            assert {"input_tokens", "output_tokens"} <= set(message["usage"])
            continue
        assert started, f"{kind} before message_start (event {number})"
        if kind == "content_block_start":
            assert open_index is None
            assert event["index"] == len(types)
            block = event["content_block"]
            if block["type"] == "text":
                assert block == {"type": "text", "text": ""}
            elif block["type"] == "thinking":
                assert block["thinking"] == ""
                assert set(block) == {"type", "thinking", "signature"}
            types.append(block["type"])
            open_index = event["index"]
        elif kind == "content_block_delta":
            assert event["index"] == open_index
            assert len(event["delta"]) == 2
        elif kind == "content_block_stop":
            assert event == {"type": "content_block_stop", "index": open_index}
            open_index = None
        elif kind == "message_delta":
            assert open_index is None
            assert event["delta"]["stop_reason"] in web_stream.STOP_REASONS
            assert isinstance(event["usage"]["output_tokens"], int)
        elif kind == "message_stop":
            assert open_index is None
            assert any(e["type"] == "message_delta" for e in events[:number])
            stopped = True
        else:
            raise AssertionError(f"not a canonical event: {event}")


def test_thinking_and_text_stream() -> None:
    stream, out = run(THINKING_AND_TEXT)
    thinking = "The user greets me. Reply briefly."
    text = "Hello! How can I help?"
    assert out == [
        canonical_start(),
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "The user greets me."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": " Reply briefly."},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Hello"},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "! How can I help?"},
        },
        {"type": "content_block_stop", "index": 1},
        *canonical_end(thinking + text),
    ]
    assert stream.finished
    assert not stream.truncated
    assert not stream.failed
    assert stream.stop_reason == "end_turn"
    assert stream.limit == WITHIN_LIMIT
    assert stream.output_tokens == estimate_text(thinking + text) > 0


def test_accumulated_message() -> None:
    _, out = run(THINKING_AND_TEXT)
    acc = MessageAccumulator()
    for event in out:
        acc.feed(event)
    assert acc.complete
    assert acc.error is None
    assert acc.message() == {
        "id": "msg_test_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [
            {"type": "thinking", "thinking": "The user greets me. Reply briefly.", "signature": ""},
            {"type": "text", "text": "Hello! How can I help?"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 42,
            "output_tokens": estimate_text(
                "The user greets me. Reply briefly.Hello! How can I help?"
            ),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def test_message_ids() -> None:
    _, out = run([("message_start", message_start("msg_01XFDUDYJgAACzvnptvVoYEL"))])
    assert out[0]["message"]["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    _, out = run([("message_start", message_start("msg_bad id"))])
    assert out[0]["message"]["id"] == "msg_test_1"
    default = WebStream(MODEL, 1).feed("message_start", message_start())
    assert default[0]["message"]["id"].startswith("msg_")
    other = WebStream(MODEL, 1).feed("message_start", message_start())
    assert other[0]["message"]["id"] != default[0]["message"]["id"]


def test_claude_ai_tools_are_dropped_and_blocks_renumbered() -> None:
    """Web search: claude.ai's tool_use and tool_result blocks never reach the client."""
    upstream = named(
        [
            message_start(),
            block_start(0, {"type": "text", "text": "", "citations": []}),
            delta(0, {"type": "text_delta", "text": "Let me search."}),
            block_stop(0),
            block_start(
                1,
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "web_search",
                    "input": {},
                    "message": "Searching the web",
                },
            ),
            delta(1, {"type": "input_json_delta", "partial_json": '{"query": "Paris weather"}'}),
            block_stop(1),
            block_start(
                2,
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "name": "web_search",
                    "content": [{"type": "knowledge", "title": "Weather", "url": "https://w"}],
                    "is_error": False,
                },
            ),
            block_stop(2),
            block_start(5, {"type": "text", "text": "It is 18°C.", "citations": []}),
            delta(5, {"type": "text_delta", "text": " Sunny."}),
            block_stop(5),
            message_delta("tool_use"),
            {"type": "message_stop"},
        ]
    )
    stream, out = run(upstream)
    assert out == [
        canonical_start(),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Let me search."},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "It is 18°C."},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": " Sunny."},
        },
        {"type": "content_block_stop", "index": 1},
        # tool_use with no tool_use block sent would leave the client nothing to answer
        *canonical_end("Let me search.It is 18°C. Sunny."),
    ]
    assert stream.stop_reason == "end_turn"


def test_client_tool_use_passes() -> None:
    upstream = named(
        [
            message_start(),
            block_start(
                0,
                {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}, "x": 1},
            ),
            delta(0, {"type": "input_json_delta", "partial_json": ""}),
            delta(0, {"type": "input_json_delta", "partial_json": '{"city": "Pa'}),
            delta(0, {"type": "text_delta", "text": "wrong kind for this block"}),
            delta(0, {"type": "input_json_delta", "partial_json": 'ris"}'}),
            block_stop(0),
            message_delta("tool_use"),
            {"type": "message_stop"},
        ]
    )
    stream, out = run(upstream, client_tools={"get_weather"})
    assert out[1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}},
    }
    assert [e["delta"]["partial_json"] for e in out if e["type"] == "content_block_delta"] == [
        "",
        '{"city": "Pa',
        'ris"}',
    ]
    assert stream.stop_reason == "tool_use"
    acc = MessageAccumulator()
    for event in out:
        acc.feed(event)
    assert acc.message()["content"] == [
        {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Paris"}}
    ]


def test_exceeded_limit_is_recorded() -> None:
    upstream = [
        *THINKING_AND_TEXT[:-2],
        ("message_limit", {"type": "message_limit", "message_limit": EXCEEDED_LIMIT}),
        ("message_stop", {"type": "message_stop"}),
    ]
    stream, out = run(upstream)
    assert stream.finished
    assert stream.limit == EXCEEDED_LIMIT
    assert all(event["type"] != "message_limit" for event in out)
    limit = parse_limit(EXCEEDED_LIMIT, NOW)
    assert limit == Limit(
        type="exceeded_limit",
        exceeded=True,
        resets_at=1777561234.0,
        windows={"5h": LimitWindow(0.4, 1777560000.0), "7d": LimitWindow(1.0, 1777824000.0)},
        representative="seven_day",
    )


def test_parse_limit_within() -> None:
    limit = parse_limit(WITHIN_LIMIT, NOW)
    assert not limit.exceeded
    assert limit.type == "within_limit"
    # no resetsAt: the representative claim's window (five_hour -> "5h")
    assert limit.resets_at == 1777560000.0
    assert limit.windows["7d"] == LimitWindow(utilization=0.16, resets_at=1777824000.0)
    utilization, resets_at = limit.windows["5h"]
    assert (utilization, resets_at) == (0.65, 1777560000.0)


@pytest.mark.parametrize(
    ("raw", "resets_at"),
    [
        # the exceeded window's reset when nothing else names one
        (
            {
                "type": "exceeded_limit",
                "windows": {"7d": {"status": "exceeded_limit", "resets_at": 1777824000}},
            },
            1777824000.0,
        ),
        # nothing at all: ClewdR's one-hour fallback
        ({"type": "exceeded_limit"}, NOW + EXCEEDED_FALLBACK_SECONDS),
        # milliseconds and RFC 3339 are understood
        ({"type": "exceeded_limit", "resetsAt": 1777561234000}, 1777561234.0),
        ({"type": "exceeded_limit", "resetsAt": "2026-04-30T15:00:00Z"}, 1777561200.0),
        ({"type": "exceeded_limit", "resetsAt": "2026-04-30T15:00:00"}, 1777561200.0),
        # the legacy messageLimit shape
        ({"type": "within_limit"}, None),
        # garbage is ignored, not raised
        (
            {
                "type": 3,
                "resetsAt": "soon",
                "windows": {"5h": "full", 7: {}, "x": {"utilization": True}},
            },
            None,
        ),
    ],
)
def test_parse_limit_reset_time(raw: dict[str, Any], resets_at: float | None) -> None:
    assert parse_limit(raw, NOW).resets_at == resets_at


def test_stream_cut_before_message_stop() -> None:
    stream, out = run(THINKING_AND_TEXT[:9])
    assert stream.started
    assert stream.truncated
    assert not stream.finished
    assert out[-1] == {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "text_delta", "text": "Hello"},
    }
    empty = WebStream(MODEL, 1)
    assert not empty.truncated
    assert not empty.started


def test_error_mid_stream() -> None:
    upstream = [
        *THINKING_AND_TEXT[:9],
        (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
        *THINKING_AND_TEXT[9:],
    ]
    stream, out = run(upstream)
    assert out[-1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert stream.failed
    assert not stream.truncated
    assert not stream.finished
    assert stream.feed("message_stop", {"type": "message_stop"}) == []
    acc = MessageAccumulator()
    for event in out:
        acc.feed(event)
    assert acc.error == {"type": "overloaded_error", "message": "Overloaded"}
    assert not acc.complete


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"error": "boom"}, {"type": "api_error", "message": "boom"}),
        ({"error": {"message": "x"}}, {"type": "api_error", "message": "x"}),
        ({}, {"type": "api_error", "message": ""}),
    ],
)
def test_error_shapes(data: dict[str, Any], error: dict[str, str]) -> None:
    assert WebStream(MODEL, 1).feed("error", data) == [{"type": "error", "error": error}]


LEGACY: Upstream = [
    (
        "completion",
        {
            "type": "completion",
            "completion": " Hello",
            "stop_reason": None,
            "model": "claude-2.1",
            "stop": None,
            "log_id": "abc",
            "messageLimit": {"type": "within_limit"},
        },
    ),
    ("ping", {}),
    (
        "completion",
        {
            "type": "completion",
            "completion": " there.",
            "stop_reason": None,
            "model": "claude-2.1",
            "stop": None,
            "log_id": "abc",
            "messageLimit": {"type": "within_limit"},
        },
    ),
    (
        "completion",
        {
            "type": "completion",
            "completion": "",
            "stop_reason": "end_turn",
            "model": "claude-2.1",
            "stop": None,
            "log_id": "abc",
            "messageLimit": {"type": "within_limit"},
        },
    ),
]


def test_legacy_completion_events() -> None:
    stream, out = run(LEGACY)
    assert out == [
        canonical_start(),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " Hello"},
        },
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " there."},
        },
        {"type": "content_block_stop", "index": 0},
        *canonical_end(" Hello there."),
    ]
    assert stream.finished
    assert stream.limit == {"type": "within_limit"}


def test_both_formats_give_the_same_stream() -> None:
    messages_format = named(
        [
            message_start(),
            block_start(0, {"type": "text", "text": ""}),
            delta(0, {"type": "text_delta", "text": " Hello"}),
            {"type": "ping"},
            delta(0, {"type": "text_delta", "text": " there."}),
            block_stop(0),
            message_delta(),
            {"type": "message_stop"},
        ]
    )
    assert run(messages_format)[1] == run(LEGACY)[1]


def test_legacy_unnamed_2023_events() -> None:
    """2023 streams had neither ``event:`` lines nor ``type`` fields."""
    upstream: Upstream = [
        (None, {"completion": "Hi", "stop_reason": None, "truncated": False}),
        (
            "",
            {
                "completion": "",
                "stop_reason": "stop_sequence",
                "stop": "\n\nHuman:",
                "exception": None,
            },
        ),
    ]
    stream, out = run(upstream)
    assert out[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "stop_sequence", "stop_sequence": "\n\nHuman:"},
        "usage": {"output_tokens": estimate_text("Hi")},
    }
    assert stream.finished


def test_legacy_error_and_cut() -> None:
    stream, out = run([(None, {"completion": "Hi", "stop_reason": None})])
    assert stream.truncated
    stream, out = run(
        [(None, {"completion": "Hi"}), (None, {"error": {"type": "x", "message": "m"}})]
    )
    assert out[-1] == {"type": "error", "error": {"type": "x", "message": "m"}}
    assert stream.failed


def test_odd_upstream_orders_are_repaired() -> None:
    upstream = named(
        [
            # no message_start; a block with initial text; no block stops; a delta
            # for a block that never started; an unknown stop reason; no message_delta
            block_start(3, {"type": "text", "text": "First"}),
            delta(7, {"type": "thinking_delta", "thinking": "hmm"}),
            delta(3, {"type": "text_delta", "text": "late delta for a closed block"}),
            delta(9, {"type": "input_json_delta", "partial_json": "{}"}),
            block_start(3, {"type": "thinking", "thinking": ""}),
            {"type": "mystery_event", "x": 1},
            {"type": "message_stop"},
            {"type": "message_stop"},
        ]
    )
    stream, out = run(upstream)
    assert out == [
        canonical_start(),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "First"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "thinking_delta", "thinking": "hmm"},
        },
        {"type": "content_block_stop", "index": 1},
        *canonical_end("Firsthmm"),
    ]
    _, out = run(
        named([message_start(), message_delta("some_new_reason"), {"type": "message_stop"}])
    )
    assert out[1]["delta"]["stop_reason"] == "end_turn"


def test_signature_and_redacted_thinking_pass() -> None:
    upstream = named(
        [
            message_start("msg_01"),
            block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
            delta(0, {"type": "thinking_delta", "thinking": "x"}),
            delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
            block_stop(0),
            block_start(1, {"type": "redacted_thinking", "data": "opaque=="}),
            block_stop(1),
            message_delta(),
            {"type": "message_stop"},
        ]
    )
    _, out = run(upstream)
    acc = MessageAccumulator()
    for event in out:
        acc.feed(event)
    assert acc.message()["content"] == [
        {"type": "thinking", "thinking": "x", "signature": "EqQBCgIYAhIM"},
        {"type": "redacted_thinking", "data": "opaque=="},
    ]
    assert out[-2]["usage"]["output_tokens"] == estimate_text("x")


def test_input_tokens_reach_message_start() -> None:
    out = WebStream(MODEL, 1234, message_id_factory=lambda: "msg_x").feed(
        "message_start", message_start()
    )
    assert out == [canonical_start("msg_x", 1234)]
    assert WebStream(MODEL, 1).feed("message_start", {"type": "message_start"})[0]["type"] == (
        "message_start"
    )


# --- any sequence of upstream events gives a well-formed stream ----------------------

_EVENT_POOL: list[tuple[str | None, dict[str, Any]]] = [
    *THINKING_AND_TEXT,
    *LEGACY,
    ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "o"}}),
    ("content_block_start", block_start(1, {"type": "tool_use", "id": "t", "name": "n"})),
    ("content_block_start", block_start(2, {"type": "redacted_thinking", "data": "d"})),
    ("content_block_delta", delta(2, {"type": "signature_delta", "signature": "s"})),
    ("content_block_delta", {"type": "content_block_delta", "index": True, "delta": {}}),
    ("content_block_start", {"type": "content_block_start", "index": [1], "content_block": {}}),
    ("message_delta", {"type": "message_delta", "delta": "nope"}),
    ("message_limit", {"type": "message_limit", "message_limit": "nope"}),
    (None, {}),
    ("weird", {"type": "weird"}),
]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_EVENT_POOL), max_size=30))
def test_any_upstream_sequence_gives_a_valid_stream(upstream: Upstream) -> None:
    stream, out = run(upstream)  # run() checks the grammar
    assert stream.truncated == (stream.started and not stream.finished and not stream.failed)
    acc = MessageAccumulator()
    for event in out:
        acc.feed(event)
    if stream.started:
        assert len(acc.message()["content"]) == sum(
            1 for e in out if e["type"] == "content_block_start"
        )


# --- the official SDK accepts the stream ----------------------------------------------


def encode(events: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(encode_event(dumps(event), event=event["type"]) for event in events)


def sdk_stream(body: bytes) -> MessageStream[Any]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://127.0.0.1:9",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )
    manager = client.messages.stream(
        model="llmproxy-test-model", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    return manager.__enter__()


@pytest.mark.parametrize(
    ("upstream", "kwargs"),
    [
        (THINKING_AND_TEXT, {}),
        (LEGACY, {}),
        (
            named(
                [
                    message_start(),
                    block_start(0, {"type": "text", "text": "Let me check."}),
                    block_stop(0),
                    block_start(1, {"type": "tool_use", "id": "toolu_9", "name": "get_weather"}),
                    delta(1, {"type": "input_json_delta", "partial_json": '{"city":'}),
                    delta(1, {"type": "input_json_delta", "partial_json": ' "Paris"}'}),
                    block_stop(1),
                    message_delta("tool_use"),
                    {"type": "message_stop"},
                ]
            ),
            {"client_tools": ["get_weather"]},
        ),
    ],
)
def test_official_sdk_reads_the_stream(upstream: Upstream, kwargs: dict[str, Any]) -> None:
    _, out = run(upstream, **kwargs)
    body = encode(out)
    # our own decoder reads back exactly what was encoded
    decoder = SSEDecoder()
    decoder.feed(body)
    decoder.end()
    decoded = [item for item in decoder.events() if isinstance(item, SSEEvent)]
    assert [(item.event, item.json()) for item in decoded] == [(e["type"], e) for e in out]

    stream = sdk_stream(body)
    try:
        seen = [event.type for event in stream]
        final = stream.get_final_message()
    finally:
        stream.close()
    assert "message_stop" in seen
    acc = MessageAccumulator()
    for event in out:
        acc.feed(event)
    ours = acc.message()
    theirs = final.to_dict()
    theirs.pop("stop_details", None)  # the SDK copies the delta's (absent) stop_details
    assert theirs == ours
    assert final.usage.input_tokens == 42
    assert final.usage.output_tokens == ours["usage"]["output_tokens"]


def test_official_sdk_raises_on_the_error_event() -> None:
    _, out = run(
        [
            *THINKING_AND_TEXT[:9],
            ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Over"}}),
        ]
    )
    stream = sdk_stream(encode(out))
    try:
        with pytest.raises(anthropic.APIStatusError) as caught:
            for _ in stream:
                pass
    finally:
        stream.close()
    assert "Over" in str(caught.value)


def test_module_exports() -> None:
    assert sorted(web_stream.__all__) == web_stream.__all__
    for name in web_stream.__all__:
        assert hasattr(web_stream, name)
