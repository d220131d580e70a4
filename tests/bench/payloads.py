"""What the benchmark sends and what its fake upstream answers, byte for byte.

The fake upstream answers in the exact Anthropic wire formats (protocols.md §1.7 and
§1.8), so the proxy does its real work on them: a ``Message`` JSON body of about
400 bytes, and a stream of 51 SSE events (``message_start``, ``content_block_start``,
``ping``, 45 ``content_block_delta``, ``content_block_stop``, ``message_delta``,
``message_stop``) of about 6 KB, the shape stack.md measured.

The upstream cannot see which workload a request belongs to except through the body
the proxy forwards, so the client puts a marker word into the user message
(:data:`MARKERS`). The proxy passes message text through on every route (the
OpenAI route translates the envelope, not the words), and nginx picks its answer by
matching the body (see :mod:`tests.bench.nginx`).

This module also holds the checks that a response is complete and right, so no
figure is ever taken from a run that produced errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "API_KEY",
    "EVENT_COUNT",
    "JSON_TEXT",
    "MARKERS",
    "MODEL",
    "TEXT",
    "BadResponse",
    "Workload",
    "anthropic_request",
    "check_anthropic_json",
    "check_anthropic_sse",
    "check_openai_json",
    "check_openai_sse",
    "message_json",
    "openai_request",
    "sse_body",
    "sse_events",
]

API_KEY = "bench"
"""The proxy's API password in the benchmark configuration."""

MODEL = "claude-sonnet-4-5-20250929"
EVENT_COUNT = 51
_DELTAS = EVENT_COUNT - 6  # message_start, block start, ping, block stop, message_delta, stop

# Words of the streamed answer: 45 deltas of 4 to 12 characters, so the whole SSE body is
# close to the 6,186 bytes stack.md used.
_WORDS = [f"w{i:02d} " * (1 + i % 3) for i in range(_DELTAS)]
TEXT = "".join(_WORDS)
"""The assistant text of the streamed answer."""
JSON_TEXT = TEXT[:72]
"""The text of the JSON answer (shorter, so the whole body is about 400 bytes)."""


class Workload(StrEnum):
    """What the upstream does for a request; the value is the body marker word."""

    JSON = "json"
    """One ``Message`` JSON body (``stream`` absent)."""
    SSE = "sse"
    """The 51 events as one body with ``content-length`` (no pacing)."""
    PACED = "paced"
    """The 51 events 2 ms apart, one chunk each (chunked transfer encoding)."""
    SLOW = "slow"
    """The 51 events with a 12 s pause after the third: the 1,000-streams scenario."""

    @property
    def streams(self) -> bool:
        return self is not Workload.JSON

    @property
    def marker(self) -> str:
        return MARKERS[self]


MARKERS: dict[Workload, str] = {w: f"bench-{w.value}" for w in Workload}
"""The word the upstream matches in the forwarded body to choose its answer."""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _prompt(workload: Workload) -> str:
    return f"Reply with the benchmark text. {workload.marker}"


def anthropic_request(workload: Workload) -> bytes:
    """A Messages request (about 120 bytes) for ``workload``."""
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": _prompt(workload)}],
    }
    if workload.streams:
        body["stream"] = True
    return _compact(body).encode()


def openai_request(workload: Workload) -> bytes:
    """A Chat Completions request for ``workload`` (the translating route)."""
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": _prompt(workload)}],
    }
    if workload.streams:
        body["stream"] = True
    return _compact(body).encode()


_USAGE_START = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 1,
    "service_tier": "standard",
}


def message_json() -> bytes:
    """The upstream's non-streaming answer: one ``Message`` (protocols.md §1.7)."""
    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": JSON_TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {**_USAGE_START, "output_tokens": 31},
    }
    return _compact(message).encode()


def sse_events() -> list[bytes]:
    """The 51 events of the upstream's stream, each with its ``event:`` and ``data:`` line."""
    datas: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": _USAGE_START,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    datas += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
        for word in _WORDS
    ]
    datas += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 290},
        },
        {"type": "message_stop"},
    ]
    events = []
    for data in datas:
        # The SDK fixtures show ping's data with a space after the colon; keep it.
        text = '{"type": "ping"}' if data["type"] == "ping" else _compact(data)
        events.append(f"event: {data['type']}\ndata: {text}\n\n".encode())
    assert len(events) == EVENT_COUNT
    return events


def sse_body() -> bytes:
    """The whole stream as one body."""
    return b"".join(sse_events())


# --- checks ------------------------------------------------------------------------------


class BadResponse(Exception):
    """A response that is not the complete, correct answer."""


@dataclass(frozen=True, slots=True)
class _Block:
    event: str | None
    data: str


def _sse_blocks(body: bytes) -> Iterator[_Block]:
    """Minimal SSE split for checking (the proxy's own decoder is not trusted here)."""
    text = body.decode("utf-8").replace("\r\n", "\n")
    for raw in text.split("\n\n"):
        if not raw.strip():
            continue
        event: str | None = None
        data: list[str] = []
        for line in raw.split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
        if event is None and not data:
            continue  # a comment-only block (a keep-alive)
        yield _Block(event, "\n".join(data))


def check_anthropic_json(body: bytes) -> None:
    """Raise :class:`BadResponse` unless ``body`` is the upstream's Message."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise BadResponse(f"not JSON: {body[:200]!r}") from exc
    if message.get("type") != "message":
        raise BadResponse(f"not a Message: {body[:200]!r}")
    texts = [b.get("text") for b in message.get("content", []) if b.get("type") == "text"]
    if "".join(t for t in texts if isinstance(t, str)) != JSON_TEXT:
        raise BadResponse("the Message text differs from the upstream's")


def check_anthropic_sse(body: bytes) -> int:
    """Check a relayed Anthropic stream; returns the number of events (pings included).

    Pings the proxy may add are allowed; every upstream event must be there, in order,
    with the same data, and the stream must end with ``message_stop``.
    """
    expected = [b for b in _sse_blocks(sse_body()) if b.event != "ping"]
    blocks = list(_sse_blocks(body))
    got = [b for b in blocks if b.event != "ping"]
    if any(b.event == "error" for b in got):
        raise BadResponse(f"stream carries an error event: {body[-300:]!r}")
    if len(got) != len(expected):
        raise BadResponse(f"{len(got)} non-ping events, expected {len(expected)}")
    for mine, theirs in zip(got, expected, strict=True):
        if mine.event != theirs.event or json.loads(mine.data) != json.loads(theirs.data):
            raise BadResponse(f"event differs: {mine!r} vs upstream {theirs!r}")
    return len(blocks)


def check_openai_json(body: bytes) -> None:
    """Raise :class:`BadResponse` unless ``body`` is a chat completion with the text."""
    try:
        completion = json.loads(body)
    except ValueError as exc:
        raise BadResponse(f"not JSON: {body[:200]!r}") from exc
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise BadResponse(f"not a chat completion: {body[:200]!r}") from exc
    if content != JSON_TEXT:
        raise BadResponse(f"completion text differs: {content!r}")


def check_openai_sse(body: bytes) -> int:
    """Check a chat-completion stream; returns the number of ``data:`` events."""
    blocks = list(_sse_blocks(body))
    if not blocks or blocks[-1].data != "[DONE]":
        raise BadResponse(f"stream does not end with [DONE]: {body[-200:]!r}")
    text = []
    for block in blocks[:-1]:
        chunk = json.loads(block.data)
        if "error" in chunk:
            raise BadResponse(f"stream carries an error: {block.data[:200]}")
        for choice in chunk.get("choices", []):
            piece = choice.get("delta", {}).get("content")
            if isinstance(piece, str):
                text.append(piece)
    if "".join(text) != TEXT:
        raise BadResponse("streamed completion text differs from the upstream's")
    return len(blocks)
