"""The pass-through stream relay (llmproxy.upstream.relay) and its keep-alive.

Run on trio's autojump clock. The upstream is an ``httpx.Response`` over a
scripted async generator: bytes are one read each, a number is seconds of
silence, an exception is raised where it stands. The client side is a real
:class:`~llmproxy.asgi.request.Request` whose ASGI ``send`` records each message
with the (mock) time it went out, and can be made slow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from llmproxy.asgi.request import Request
from llmproxy.upstream.client import UpstreamUnreachable
from llmproxy.upstream.relay import (
    EventFramer,
    KeepAlive,
    StreamUsage,
    _complete,
    relay_anthropic_stream,
)
from llmproxy.wire.sse import SSEDecoder, anthropic_ping

INTERVAL = 10.0
PING = anthropic_ping()

START = b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":7,"cache_read_input_tokens":3,"output_tokens":1}}}\n\n'
BLOCK = b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi \\u00e9"}}\n\n'
STOP_BLOCK = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
MESSAGE_DELTA = b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}\n\n'
STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
EVENTS = [START, BLOCK, DELTA, STOP_BLOCK, MESSAGE_DELTA, STOP]


class Client:
    """The ASGI side of a :class:`Request`: body messages with their times; optionally slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.t0 = trio.current_time()
        self.bodies: list[tuple[float, bytes]] = []
        self.ended = False
        self.concurrent = 0
        self.most_concurrent = 0

    async def send(self, message: dict[str, Any]) -> None:
        self.concurrent += 1
        self.most_concurrent = max(self.most_concurrent, self.concurrent)
        try:
            if message["type"] != "http.response.body":
                return
            if self.delay and message.get("body"):
                await trio.sleep(self.delay)
            if message.get("body"):
                self.bodies.append((trio.current_time() - self.t0, message["body"]))
            if not message.get("more_body", False):
                self.ended = True
        finally:
            self.concurrent -= 1

    @property
    def body(self) -> bytes:
        return b"".join(body for _, body in self.bodies)


def make_request(client: Client) -> Request:
    async def receive() -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError

    scope = {"type": "http", "method": "POST", "path": "/code/v1/messages", "headers": [], "query_string": b""}
    return Request(scope, receive, client.send, "/code/v1/messages")


def upstream(*steps: Any) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for step in steps:
            if isinstance(step, int | float):
                await trio.sleep(step)
            elif isinstance(step, BaseException):
                raise step
            else:
                yield step

    return httpx.Response(200, content=body())


async def test_a_whole_body_in_one_read_is_one_write_of_the_exact_bytes(autojump_clock: trio.abc.Clock) -> None:
    client = Client()
    body = b"".join(EVENTS)
    usage = await relay_anthropic_stream(make_request(client), upstream(body), ping_interval=INTERVAL)
    assert client.bodies == [(0, body)]
    assert client.ended
    assert (usage.input_tokens, usage.output_tokens, usage.completed) == (10, 5, True)


@pytest.mark.parametrize("size", [1, 7, 64])
async def test_reads_cut_anywhere_never_hold_back_a_complete_event(
    autojump_clock: trio.abc.Clock, size: int
) -> None:
    """After each read, everything complete so far has gone out, and nothing partial."""
    body = b"".join(EVENTS)
    steps: list[Any] = []
    for i in range(0, len(body), size):
        steps += [body[i : i + size], 1]
    client = Client()
    usage = await relay_anthropic_stream(make_request(client), upstream(*steps), ping_interval=1e9)
    assert client.body == body
    ends = [sum(len(e) for e in EVENTS[: i + 1]) for i in range(len(EVENTS))]
    sent = 0
    for t, chunk in client.bodies:
        sent += len(chunk)
        assert sent in ends, "a write ended inside an event"
        arrived = -(-sent // size)  # reads needed to hold those bytes
        assert t == pytest.approx(arrived - 1), "an event waited for a read after its own"
    assert usage.completed


async def test_pings_fill_the_silence_only_between_events(autojump_clock: trio.abc.Clock) -> None:
    half = len(DELTA) // 2
    client = Client()
    usage = await relay_anthropic_stream(
        make_request(client),
        upstream(25, START + BLOCK, DELTA[:half], 21, DELTA[half:] + STOP_BLOCK + MESSAGE_DELTA + STOP),
        ping_interval=INTERVAL,
    )
    assert client.bodies == [
        (pytest.approx(10), PING),
        (pytest.approx(20), PING),
        (pytest.approx(25), START + BLOCK),
        (pytest.approx(35), PING),  # half an event is buffered, not sent: the ping goes between
        (pytest.approx(45), PING),
        (pytest.approx(46), DELTA + STOP_BLOCK + MESSAGE_DELTA + STOP),
    ]
    assert usage.completed


async def test_no_ping_while_events_come_faster_than_the_interval(autojump_clock: trio.abc.Clock) -> None:
    steps: list[Any] = []
    for event in EVENTS:
        steps += [INTERVAL - 0.5, event]
    client = Client()
    await relay_anthropic_stream(make_request(client), upstream(*steps), ping_interval=INTERVAL)
    assert PING not in client.body
    assert client.body == b"".join(EVENTS)


async def test_a_slow_client_never_gets_a_ping_in_the_middle_of_a_write(autojump_clock: trio.abc.Clock) -> None:
    client = Client(delay=25)
    await relay_anthropic_stream(make_request(client), upstream(START, 0, BLOCK, 30, STOP), ping_interval=INTERVAL)
    assert client.most_concurrent == 1
    kinds = [body for _, body in client.bodies]
    assert kinds[:2] == [START, BLOCK]
    assert kinds[-1] == STOP
    assert PING in kinds  # after the slow writes, the silence still gets its ping


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ((START, BLOCK, UpstreamUnreachable("reset")), b"broke off"),
        ((START, BLOCK, DELTA[:10]), b"ended early"),
    ],
)
async def test_a_stream_cut_short_ends_with_an_error_event(
    autojump_clock: trio.abc.Clock, steps: tuple[Any, ...], reason: bytes
) -> None:
    client = Client()
    usage = await relay_anthropic_stream(make_request(client), upstream(*steps), ping_interval=INTERVAL)
    assert not usage.completed
    assert client.body.startswith(START + BLOCK + b"event: error\ndata: ")
    assert reason in client.bodies[-1][1]
    assert client.ended


async def test_an_event_ended_by_a_lone_cr_at_eof_is_still_relayed(autojump_clock: trio.abc.Clock) -> None:
    last = STOP.replace(b"\n", b"\r")
    client = Client()
    usage = await relay_anthropic_stream(make_request(client), upstream(START, last), ping_interval=INTERVAL)
    assert client.body == START + last
    assert usage.completed


async def test_keepalive_waits_for_a_ping_in_flight_before_a_write(autojump_clock: trio.abc.Clock) -> None:
    log: list[tuple[str, float]] = []
    t0 = trio.current_time()

    async def ping() -> None:
        log.append(("ping start", trio.current_time() - t0))
        await trio.sleep(3)
        log.append(("ping end", trio.current_time() - t0))

    async def write() -> None:
        log.append(("write", trio.current_time() - t0))

    keepalive = KeepAlive(INTERVAL, ping)
    async with anyio.create_task_group() as group:
        group.start_soon(keepalive.run, group.cancel_scope)
        await trio.sleep(11)  # the ping started at 10 and runs until 13
        await keepalive.write(write)
        await keepalive.settle()
        group.cancel_scope.cancel()
    assert log == [("ping start", 10), ("ping end", 13), ("write", 13)]


# -- the pass-through framer ------------------------------------------------------------

TRICKY = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a message_delta or error here"}}\n\n'


def _by_decoder(chunks: list[bytes]) -> tuple[list[bytes], StreamUsage]:
    """The reference: the full SSE decoder on every read."""
    usage = StreamUsage()
    decoder = SSEDecoder()
    outs = []
    for chunk in chunks:
        decoder.feed(chunk)
        outs.append(_complete(decoder, usage))
    decoder.end()
    outs.append(_complete(decoder, usage))
    return outs, usage


def _by_framer(chunks: list[bytes]) -> tuple[list[bytes], StreamUsage]:
    usage = StreamUsage()
    framer = EventFramer(usage)
    outs = [framer.feed(chunk) for chunk in chunks]
    outs.append(framer.end())
    return outs, usage


@given(
    events=st.lists(st.sampled_from([*EVENTS, TRICKY, b": keep-alive\n\n"]), max_size=12),
    line_end=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
    bom=st.booleans(),
)
def test_the_framer_forwards_what_the_decoder_would(
    events: list[bytes], line_end: bytes, cuts: list[int], bom: bool
) -> None:
    """Same bytes per read and same usage as decoding every event, for any split."""
    body = (b"\xef\xbb\xbf" if bom else b"") + b"".join(events).replace(b"\n", line_end)
    body += b"event: message_start\ndata: {\"partial"  # a cut-off last event: dropped by both
    points = sorted({min(cut, len(body)) for cut in cuts} | {0, len(body)})
    chunks = [body[a:b] for a, b in zip(points, points[1:], strict=False)]
    assert _by_framer(chunks) == _by_decoder(chunks)


def test_the_framer_parses_only_usage_events() -> None:
    framer = EventFramer(StreamUsage())
    out = framer.feed(START + DELTA[:30])
    assert out == START
    assert framer.usage.input_tokens == 10
    assert framer.feed(DELTA[30:] + TRICKY + MESSAGE_DELTA + STOP) == DELTA + TRICKY + MESSAGE_DELTA + STOP
    assert framer.usage.output_tokens == 5 and framer.usage.completed
