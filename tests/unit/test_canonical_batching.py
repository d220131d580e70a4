"""relay_events over json_events: one write per upstream read, and the upstream's end.

Complements tests/unit/test_canonical_relay.py (which drives relay_events with
plain iterators, where it writes event by event). Here the events come from
:func:`json_events` over an ``httpx.Response`` whose body is a scripted async
generator: bytes are one read each, a number is seconds of silence. Run on
trio's autojump clock.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from llmproxy.asgi.families import Family, dumps
from llmproxy.asgi.request import Request
from llmproxy.translate.openai_response import ChatStream as ChatChunks
from llmproxy.upstream.canonical import (
    DRAIN_SECONDS,
    AnthropicStream,
    ChatStream,
    json_events,
    relay_events,
)
from llmproxy.wire.sse import anthropic_ping, encode_event

INTERVAL = 10.0
Event = dict[str, Any]


def answer(*pieces: str) -> list[Event]:
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-test",
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 11, "output_tokens": 0},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}} for p in pieces),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]


def sse(event: Event) -> bytes:
    return encode_event(dumps(event), event=event["type"])


class Client:
    def __init__(self) -> None:
        self.t0 = trio.current_time()
        self.bodies: list[tuple[float, bytes]] = []
        self.ended_at: float | None = None
        self.on_end: list[Any] = []

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        now = trio.current_time() - self.t0
        if message.get("body"):
            self.bodies.append((now, message["body"]))
        if not message.get("more_body", False):
            self.ended_at = now
            for check in self.on_end:
                check()

    @property
    def body(self) -> bytes:
        return b"".join(b for _, b in self.bodies)


def make_request(client: Client, family: Family = Family.ANTHROPIC) -> Request:
    async def receive() -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError

    scope = {"type": "http", "method": "POST", "path": "/v1/messages", "headers": [], "query_string": b""}
    request = Request(scope, receive, client.send, "/v1/messages")
    request.family = family
    return request


def upstream(*steps: Any) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for step in steps:
            if isinstance(step, int | float):
                await trio.sleep(step)
            else:
                yield step

    return httpx.Response(200, content=body())


async def events_of(response: httpx.Response) -> AsyncIterator[Event]:
    async for _, data in json_events(response):
        yield data


async def test_one_read_of_many_events_is_one_write(autojump_clock: trio.abc.Clock) -> None:
    events = answer("Hel", "lo", " there")
    client = Client()
    ok = await relay_events(events_of(upstream(b"".join(map(sse, events)))), AnthropicStream(make_request(client)),
                            ping_interval=INTERVAL)
    assert ok
    assert client.bodies == [(0, b"".join(map(sse, events)))]
    assert client.ended_at == 0


async def test_each_read_is_written_before_the_next_one_is_awaited(autojump_clock: trio.abc.Clock) -> None:
    events = answer("Hel", "lo")
    reads = [b"".join(map(sse, events[:3])), sse(events[3])[:9], sse(events[3])[9:] + sse(events[4]),
             b"".join(map(sse, events[5:]))]
    client = Client()
    assert await relay_events(events_of(upstream(reads[0], 3, reads[1], 3, reads[2], 3, reads[3])),
                              AnthropicStream(make_request(client)), ping_interval=INTERVAL)
    assert client.bodies == [
        (0, reads[0]),
        (pytest.approx(6), sse(events[3]) + sse(events[4])),  # the partial read at 3 wrote nothing
        (pytest.approx(9), reads[3]),
    ]


async def test_pings_only_in_silence_between_reads(autojump_clock: trio.abc.Clock) -> None:
    events = answer("x")
    client = Client()
    await relay_events(events_of(upstream(sse(events[0]), 15, b"".join(map(sse, events[1:])))),
                       AnthropicStream(make_request(client)), ping_interval=INTERVAL)
    assert [body for _, body in client.bodies] == [sse(events[0]), anthropic_ping(), b"".join(map(sse, events[1:]))]
    assert client.bodies[1][0] == pytest.approx(10)


async def test_chat_stream_sends_the_last_read_and_done_in_one_write(autojump_clock: trio.abc.Clock) -> None:
    client = Client()
    sink = ChatStream(make_request(client, Family.OPENAI), ChatChunks(model="m", created=1, include_usage=False))
    assert await relay_events(events_of(upstream(b"".join(map(sse, answer("hi"))))), sink, ping_interval=INTERVAL)
    assert len(client.bodies) == 1
    assert client.body.endswith(b"data: [DONE]\n\n")


async def test_the_upstream_is_read_to_its_end_after_message_stop(autojump_clock: trio.abc.Clock) -> None:
    """So that httpcore can reuse the connection; the client has every event meanwhile."""
    events = answer("x")
    response = upstream(b"".join(map(sse, events)), DRAIN_SECONDS / 2, b": trailing comment\n\n")
    client = Client()
    assert await relay_events(events_of(response), AnthropicStream(make_request(client)), ping_interval=INTERVAL)
    assert client.bodies == [(0, b"".join(map(sse, events)))]
    assert client.ended_at == pytest.approx(DRAIN_SECONDS / 2)
    assert response.is_stream_consumed


async def test_an_upstream_that_talks_on_is_hung_up_on_before_the_answer_ends(autojump_clock: trio.abc.Clock) -> None:
    events = answer("x")
    response = upstream(b"".join(map(sse, events)), 1e6, sse(events[2]))
    client = Client()
    client.on_end.append(lambda: client.__dict__.setdefault("closed_at_end", response.is_closed))
    start = trio.current_time()
    assert await relay_events(events_of(response), AnthropicStream(make_request(client)), ping_interval=INTERVAL)
    assert trio.current_time() - start == pytest.approx(DRAIN_SECONDS)
    assert client.__dict__["closed_at_end"] is True
    assert client.body == b"".join(map(sse, events))


async def test_an_iterator_that_stops_early_hangs_up_at_once(autojump_clock: trio.abc.Clock) -> None:
    """A stop sequence ends the answer while the upstream still talks (the web route)."""
    events = answer("x", "y")
    response = upstream(b"".join(map(sse, events[:3])), 1e6, b"".join(map(sse, events[3:])))

    async def cut() -> AsyncIterator[Event]:
        async for _, data in json_events(response):
            yield data
            if data["type"] == "content_block_delta":
                yield {"type": "content_block_stop", "index": 0}
                yield {"type": "message_stop"}
                return

    client = Client()
    client.on_end.append(lambda: client.__dict__.setdefault("closed_at_end", response.is_closed))
    start = trio.current_time()
    assert await relay_events(cut(), AnthropicStream(make_request(client)), ping_interval=INTERVAL)
    assert trio.current_time() - start == 0
    assert client.__dict__["closed_at_end"] is True


async def test_a_finished_relay_is_freed_without_the_garbage_collector(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A reference cycle would keep every finished stream, and its upstream response, in
    memory until a collector pass: under load that is thousands of objects a second."""
    client = Client()
    response = upstream(b"".join(map(sse, answer("hi"))))
    gone = weakref.ref(response)
    sink = ChatStream(make_request(client, Family.OPENAI), ChatChunks(model="m", created=1, include_usage=False))
    gc.collect()
    gc.disable()
    try:
        assert await relay_events(events_of(response), sink, ping_interval=INTERVAL)
        del response, sink
        assert gone() is None
    finally:
        gc.enable()
