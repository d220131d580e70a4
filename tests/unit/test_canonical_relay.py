"""Relaying canonical events to the client's format (llmproxy.upstream.canonical).

Run on trio's autojump clock, so keep-alive intervals pass without real waiting.
The sinks write into a real :class:`~llmproxy.asgi.request.Request` whose ASGI
``send`` records each message with the (mock) time it went out; the protocol-level
tests use a recording sink instead. Upstreams are scripted async generators:
a number in the script is seconds of silence, an exception is raised where it
stands, anything else is yielded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
import trio

from llmproxy.asgi.families import Family, dumps
from llmproxy.asgi.request import Request
from llmproxy.chain.rotate import CredentialRejected
from llmproxy.credentials import Exhausted
from llmproxy.errors import BadRequest, ProxyError, UpstreamError
from llmproxy.translate.openai_response import ChatStream as ChatChunks
from llmproxy.upstream.canonical import (
    DRAIN_SECONDS,
    AnthropicMessage,
    AnthropicStream,
    ChatCompletion,
    ChatStream,
    error_from_event,
    json_events,
    json_objects,
    relay_events,
)
from llmproxy.upstream.client import UpstreamUnreachable
from llmproxy.wire.sse import COMMENT_PING, anthropic_ping, encode_event

INTERVAL = 10.0
Event = dict[str, Any]


# --- fixtures and helpers ----------------------------------------------------------------


class Recorder:
    """The ASGI side of a :class:`Request`: every message sent, with its time."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.t0 = trio.current_time()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.messages.append((round(trio.current_time() - self.t0, 6), dict(message)))

    @property
    def status(self) -> int | None:
        for _, message in self.messages:
            if message["type"] == "http.response.start":
                return int(message["status"])
        return None

    @property
    def headers(self) -> dict[bytes, bytes]:
        for _, message in self.messages:
            if message["type"] == "http.response.start":
                return dict(message["headers"])
        return {}

    @property
    def bodies(self) -> list[tuple[float, bytes]]:
        return [
            (t, m.get("body", b"")) for t, m in self.messages if m["type"] == "http.response.body"
        ]

    @property
    def body(self) -> bytes:
        return b"".join(body for _, body in self.bodies)

    @property
    def ended(self) -> bool:
        bodies = [m for _, m in self.messages if m["type"] == "http.response.body"]
        return bool(bodies) and bodies[-1].get("more_body", False) is False

    def blocks(self) -> list[bytes]:
        """The body split into SSE blocks (each without its blank line)."""
        return [block for block in self.body.split(b"\n\n") if block]


def make_request(family: Family = Family.ANTHROPIC) -> tuple[Request, Recorder]:
    recorder = Recorder()

    async def receive() -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "headers": [],
        "query_string": b"",
    }
    request = Request(scope, receive, recorder.send, "/v1/messages")
    request.family = family
    return request, recorder


class RecordingSink:
    """A sink that remembers what it was asked to do (and nothing about a request)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.t0 = trio.current_time()

    async def event(self, event: Event) -> None:
        self.calls.append(("event", event["type"]))

    async def flush(self) -> None:
        """Nothing is buffered here."""

    async def finish(self) -> None:
        """Nothing is buffered here."""

    async def ping(self) -> None:
        self.calls.append(("ping", round(trio.current_time() - self.t0, 6)))

    async def error(self, exc: ProxyError) -> None:
        self.calls.append(("error", exc))

    async def close(self) -> None:
        self.calls.append(("close", None))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


async def scripted(*steps: Any, closed: list[str] | None = None) -> AsyncIterator[Event]:
    """Yield events; a number is silence of that many seconds; an exception is raised."""
    try:
        for step in steps:
            if isinstance(step, int | float):
                await trio.sleep(step)
            elif isinstance(step, BaseException):
                raise step
            else:
                yield step
    finally:
        if closed is not None:
            closed.append("closed")


def answer(*pieces: str, stop_reason: str = "end_turn") -> list[Event]:
    """A whole canonical text answer."""
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-test",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 11, "output_tokens": 0},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            }
            for piece in pieces
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
    ]


def sse(event: Event) -> bytes:
    return encode_event(dumps(event), event=event["type"])


def overloaded() -> Event:
    return {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def chunks(recorder: Recorder) -> list[Any]:
    """The parsed ``data:`` payloads of an OpenAI stream (``[DONE]`` kept as a string)."""
    out: list[Any] = []
    for block in recorder.blocks():
        if block.startswith(b":"):
            continue
        assert block.startswith(b"data: "), block
        payload = block[len(b"data: ") :]
        out.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return out


# --- the relay loop, seen through a recording sink ----------------------------------


async def test_events_go_to_the_sink_in_order_then_close(autojump_clock: trio.abc.Clock) -> None:
    events = answer("Hel", "lo")
    sink = RecordingSink()
    assert await relay_events(scripted(*events), sink, ping_interval=INTERVAL) is True
    assert sink.calls == [("event", e["type"]) for e in events] + [("close", None)]


async def test_pings_fill_each_interval_of_silence(autojump_clock: trio.abc.Clock) -> None:
    first, *rest = answer("x")
    sink = RecordingSink()
    await relay_events(scripted(25, first, 35, *rest), sink, ping_interval=INTERVAL)
    pings = [t for kind, t in sink.calls if kind == "ping"]
    # 25 s before message_start: pings at 10 and 20; 35 s after it (at 25): at 35, 45, 55.
    assert pings == pytest.approx([10, 20, 35, 45, 55])
    assert sink.kinds()[:3] == ["ping", "ping", "event"]
    assert sink.kinds()[-1] == "close"


async def test_no_ping_while_events_come_faster_than_the_interval(
    autojump_clock: trio.abc.Clock,
) -> None:
    steps: list[Any] = []
    for event in answer("a", "b", "c"):
        steps += [INTERVAL - 0.5, event]
    sink = RecordingSink()
    assert await relay_events(scripted(*steps), sink, ping_interval=INTERVAL) is True
    assert "ping" not in sink.kinds()


async def test_a_stream_that_ends_without_message_stop_is_a_502(
    autojump_clock: trio.abc.Clock,
) -> None:
    sink = RecordingSink()
    ok = await relay_events(
        scripted(*answer("x")[:-1]), sink, ping_interval=INTERVAL, what="the test stream"
    )
    assert ok is False
    kind, exc = sink.calls[-1]
    assert kind == "error"
    assert isinstance(exc, UpstreamError)
    assert exc.status == 502
    assert "the test stream" in exc.message
    assert "message_stop" in exc.message
    assert "close" not in sink.kinds()


async def test_an_empty_stream_is_a_502_too(autojump_clock: trio.abc.Clock) -> None:
    sink = RecordingSink()
    assert await relay_events(scripted(), sink, ping_interval=INTERVAL) is False
    assert len(sink.calls) == 1
    assert isinstance(sink.calls[0][1], UpstreamError)
    assert sink.calls[0][1].status == 502


async def test_an_error_event_becomes_sink_error_with_the_api_status(
    autojump_clock: trio.abc.Clock,
) -> None:
    events = answer("x")
    sink = RecordingSink()
    ok = await relay_events(
        scripted(*events[:3], overloaded(), *events[3:]), sink, ping_interval=INTERVAL
    )
    assert ok is False
    assert sink.kinds() == ["event", "event", "event", "error"]  # nothing after the error
    exc = sink.calls[-1][1]
    assert isinstance(exc, UpstreamError)
    assert (exc.status, exc.upstream_type, exc.message) == (529, "overloaded_error", "Overloaded")
    assert exc.body == overloaded()


async def test_message_stop_ends_the_relay_without_waiting_for_the_upstream(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A stop sequence ends the message while claude.ai is still talking: wait only briefly."""
    closed: list[str] = []
    start = trio.current_time()
    sink = RecordingSink()
    events = answer("x")
    ok = await relay_events(
        scripted(*events, 1e6, *answer("more"), closed=closed), sink, ping_interval=INTERVAL
    )
    assert ok is True
    assert trio.current_time() - start <= DRAIN_SECONDS
    assert sink.kinds() == ["event"] * len(events) + ["close"]
    assert closed == ["closed"]  # the upstream reader was cancelled, so its cleanup ran


async def test_an_early_stop_behind_a_slow_client_closes_the_event_iterator(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Whatever the iterator was doing when the message stopped, its cleanup runs first."""
    closed: list[str] = []

    class SlowSink(RecordingSink):
        async def event(self, event: Event) -> None:
            await trio.sleep(1)  # a slow client: the reader fills the channel meanwhile
            await super().event(event)

    events = answer("x")
    trailing = [{"type": "ping"}] * 40
    sink = SlowSink()
    iterator = scripted(*events, *trailing, closed=closed)
    assert await relay_events(iterator, sink, ping_interval=INTERVAL) is True
    assert closed == ["closed"]


async def test_a_slow_client_when_the_message_stops_is_no_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Events after ``message_stop`` are neither forwarded nor turned into an error."""

    class SlowSink(RecordingSink):
        async def event(self, event: Event) -> None:
            await trio.sleep(1)
            await super().event(event)

    events = answer("x")
    sink = SlowSink()
    assert (
        await relay_events(
            scripted(*events, *[{"type": "ping"}] * 40), sink, ping_interval=INTERVAL
        )
        is True
    )
    assert sink.calls == [("event", e["type"]) for e in events] + [("close", None)]


async def test_an_exception_from_the_sink_propagates_unwrapped(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Not inside an ExceptionGroup, which the App could only log as a bug and answer with a 500."""

    class BrokenClient(RecordingSink):
        async def event(self, event: Event) -> None:
            raise OSError("the client went away")  # what ASGI >= 2.4 servers raise from send

    with pytest.raises(OSError, match="went away"):
        await relay_events(scripted(*answer("x")), BrokenClient(), ping_interval=INTERVAL)


async def test_a_failing_ping_propagates_unwrapped(autojump_clock: trio.abc.Clock) -> None:
    """Raised in the keep-alive task, it must still leave the relay as itself, at once."""

    class GoneClient(RecordingSink):
        async def ping(self) -> None:
            raise OSError("the client went away")

    first, *rest = answer("x")
    start = trio.current_time()
    with pytest.raises(OSError, match="went away"):
        await relay_events(
            scripted(first, 3 * INTERVAL, *rest), GoneClient(), ping_interval=INTERVAL
        )
    assert trio.current_time() - start == INTERVAL  # not after the upstream's next event


async def test_an_exception_before_anything_was_sent_propagates_unchanged(
    autojump_clock: trio.abc.Clock,
) -> None:
    rejected = CredentialRejected(Exhausted(1.0), UpstreamError("limited", status=429))
    request, recorder = make_request()
    with pytest.raises(CredentialRejected) as caught:
        await relay_events(scripted(3, rejected), AnthropicStream(request), ping_interval=INTERVAL)
    assert caught.value is rejected
    assert recorder.messages == []  # nothing sent: rotation may still retry


async def test_a_bug_in_the_iterator_propagates_unchanged(autojump_clock: trio.abc.Clock) -> None:
    boom = KeyError("bug")
    sink = RecordingSink()
    with pytest.raises(KeyError) as caught:
        await relay_events(scripted(answer()[0], boom), sink, ping_interval=INTERVAL)
    assert caught.value is boom
    assert sink.kinds() == ["event"]


async def test_a_proxy_error_from_the_iterator_propagates_for_the_app_to_render(
    autojump_clock: trio.abc.Clock,
) -> None:
    error = BadRequest("remote images are not fetched")
    sink = RecordingSink()
    with pytest.raises(BadRequest) as caught:
        await relay_events(scripted(*answer("x")[:3], error), sink, ping_interval=INTERVAL)
    assert caught.value is error
    assert "error" not in sink.kinds()


@pytest.mark.parametrize(
    "failure",
    [
        UpstreamUnreachable("reading from claude.ai failed: connection reset by peer"),
        UpstreamUnreachable("claude.ai sent a malformed body: peer closed connection"),
    ],
    ids=["reset", "cut"],
)
async def test_a_broken_connection_mid_stream_becomes_an_error_event(
    autojump_clock: trio.abc.Clock, failure: UpstreamUnreachable
) -> None:
    request, recorder = make_request()
    events = answer("Hel", "lo")
    ok = await relay_events(
        scripted(*events[:3], failure),
        AnthropicStream(request),
        ping_interval=INTERVAL,
        what="the claude.ai stream",
    )
    assert ok is False
    blocks = recorder.blocks()
    assert blocks[:3] == [sse(e).rstrip(b"\n") for e in events[:3]]
    assert blocks[3].startswith(b"event: error\ndata: ")
    error = json.loads(blocks[3].split(b"data: ", 1)[1])
    assert error["type"] == "error"
    assert error["error"]["type"] == "api_error"
    assert error["error"]["message"] == f"the claude.ai stream broke off: {failure.message}"
    assert len(blocks) == 4
    assert recorder.ended
    assert request.finished


async def test_a_broken_connection_before_anything_is_a_502_naming_the_failure(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, recorder = make_request()
    with pytest.raises(UpstreamError) as caught:
        await relay_events(
            scripted(UpstreamUnreachable("reset")), AnthropicStream(request), ping_interval=INTERVAL
        )
    assert caught.value.status == 502
    assert "broke off: reset" in caught.value.message
    assert recorder.messages == []


async def test_a_cancelled_relay_stops_reading_and_cleans_up(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A client disconnect cancels the scope around the relay; the reader stops at once."""
    closed: list[str] = []
    request, recorder = make_request()
    first, *rest = answer("x")
    with trio.move_on_after(25) as scope:
        await relay_events(
            scripted(first, 1e6, *rest, closed=closed),
            AnthropicStream(request),
            ping_interval=INTERVAL,
        )
    assert scope.cancelled_caught
    assert closed == ["closed"]
    assert recorder.blocks() == [
        sse(first).rstrip(b"\n"),
        anthropic_ping().rstrip(b"\n"),
        anthropic_ping().rstrip(b"\n"),
    ]


# --- upstream reads and client writes (events from json_events) ----------------------


async def _reads(*steps: Any) -> AsyncIterator[bytes]:
    """An upstream body: bytes are one read each, a number is silence before the next."""
    for step in steps:
        if isinstance(step, int | float):
            await trio.sleep(step)
        else:
            yield step


async def _canonical(
    response: httpx.Response, closed: list[str] | None = None
) -> AsyncIterator[Event]:
    """Like the web route's converter: wraps json_events, yields the data objects."""
    try:
        async for _, data in json_events(response):
            yield data
    finally:
        if closed is not None:
            closed.append("closed")


def _wire(*events: Event) -> bytes:
    return b"".join(sse(e) for e in events)


async def test_what_one_read_completes_goes_out_in_one_write_before_the_next_read(
    autojump_clock: trio.abc.Clock,
) -> None:
    events = answer("Hel", "lo")
    first, second = _wire(*events[:3]), _wire(*events[3:])
    split = len(second) // 2  # the second read ends inside an event
    response = httpx.Response(200, content=_reads(first, 4, second[:split], 3, second[split:]))
    request, recorder = make_request()
    assert (
        await relay_events(_canonical(response), AnthropicStream(request), ping_interval=INTERVAL)
        is True
    )
    sent = [(t, body) for t, body in recorder.bodies if body]
    complete_in_second_read = second[: second.rindex(b"\n\n", 0, split) + 2]
    assert (
        sent
        == [
            (0, first),  # not held while the next read waits
            (4, complete_in_second_read),  # the partial event waits for its end
            (7, second[len(complete_in_second_read) :]),
        ]
    )
    assert recorder.body == _wire(*events)
    assert recorder.ended


async def test_pings_count_from_the_last_write_when_reads_are_batched(
    autojump_clock: trio.abc.Clock,
) -> None:
    events = answer("x")
    response = httpx.Response(200, content=_reads(_wire(*events[:2]), 25, _wire(*events[2:])))
    request, recorder = make_request()
    assert (
        await relay_events(_canonical(response), AnthropicStream(request), ping_interval=INTERVAL)
        is True
    )
    ping = anthropic_ping()
    sent = [(t, body) for t, body in recorder.bodies if body]
    assert [t for t, body in sent if body == ping] == pytest.approx([10, 20])
    assert recorder.body == _wire(*events[:2]) + ping + ping + _wire(*events[2:])


async def test_a_stop_in_the_middle_of_a_read_drops_the_rest_and_closes_the_reader(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A stop sequence ends the message inside a read; what follows is never sent."""
    events = answer("x")
    closed: list[str] = []
    response = httpx.Response(
        200, content=_reads(_wire(*events, *answer("after the stop")[1:]), 1e6, b"never read")
    )
    request, recorder = make_request()
    start = trio.current_time()
    assert await relay_events(
        _canonical(response, closed), AnthropicStream(request), ping_interval=INTERVAL
    )
    assert trio.current_time() - start <= DRAIN_SECONDS
    assert recorder.body == _wire(*events)
    assert recorder.bodies[0][0] == 0  # the answer is not held back by the wait
    assert recorder.ended
    assert response.is_closed  # the relay hung up on the upstream
    assert closed == ["closed"]


async def test_a_complete_answer_reads_the_upstream_to_its_end(
    autojump_clock: trio.abc.Clock,
) -> None:
    """So the connection can be reused; the client's response ends after that."""
    events = answer("x")
    read_to_end: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        yield _wire(*events)
        await trio.sleep(0.1)
        yield b": the last bytes of the body\n\n"
        read_to_end.append("yes")

    response = httpx.Response(200, content=body())
    request, recorder = make_request()
    assert await relay_events(
        _canonical(response), AnthropicStream(request), ping_interval=INTERVAL
    )
    assert read_to_end == ["yes"]
    assert recorder.body == _wire(*events)
    assert recorder.bodies[0][0] == 0
    assert recorder.bodies[-1][0] == 0.1  # the end of the response, after the upstream's
    assert recorder.ended


async def test_a_read_error_after_a_batched_read_still_delivers_that_read_first(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield _wire(*answer("x")[:3])
        await trio.sleep(2)
        raise UpstreamUnreachable("connection reset")

    request, recorder = make_request()
    response = httpx.Response(200, content=broken())
    assert (
        await relay_events(_canonical(response), AnthropicStream(request), ping_interval=INTERVAL)
        is False
    )
    blocks = recorder.blocks()
    assert b"".join(block + b"\n\n" for block in blocks[:3]) == _wire(*answer("x")[:3])
    assert blocks[3].startswith(b"event: error\n")
    assert b"connection reset" in blocks[3]
    assert recorder.ended


# --- error_from_event -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("etype", "status"),
    [
        ("invalid_request_error", 400),
        ("authentication_error", 401),
        ("permission_error", 403),
        ("not_found_error", 404),
        ("request_too_large", 413),
        ("rate_limit_error", 429),
        ("api_error", 500),
        ("overloaded_error", 529),
        ("some_new_error", 502),
    ],
)
def test_error_event_status_follows_the_api_table(etype: str, status: int) -> None:
    event = {"type": "error", "error": {"type": etype, "message": "m"}}
    exc = error_from_event(event)
    assert (exc.status, exc.upstream_type, exc.message) == (status, etype, "m")
    assert exc.body == event


@pytest.mark.parametrize(
    "event",
    [
        {"type": "error"},
        {"type": "error", "error": "text"},
        {"type": "error", "error": {"type": 5, "message": None}},
    ],
)
def test_an_odd_error_event_is_a_502_with_a_generic_message(event: Event) -> None:
    exc = error_from_event(event)
    assert exc.status == 502
    assert exc.upstream_type is None
    assert exc.message == "the upstream reported an error mid-stream"


# --- AnthropicStream --------------------------------------------------------------------


async def test_anthropic_stream_writes_each_event_when_it_arrives(
    autojump_clock: trio.abc.Clock,
) -> None:
    events = answer("Hel", "lo")
    steps: list[Any] = []
    for event in events:
        steps += [3, event]
    request, recorder = make_request()
    assert await relay_events(
        scripted(*steps), AnthropicStream(request, {"request-id": "req_1"}), ping_interval=INTERVAL
    )
    assert recorder.status == 200
    assert recorder.headers[b"content-type"].startswith(b"text/event-stream")
    assert recorder.headers[b"request-id"] == b"req_1"
    sent = [(t, body) for t, body in recorder.bodies if body]
    assert sent == [(3 * (i + 1), sse(e)) for i, e in enumerate(events)]
    assert recorder.ended


async def test_anthropic_stream_pings_are_ping_events_and_start_the_stream(
    autojump_clock: trio.abc.Clock,
) -> None:
    events = answer("x")
    request, recorder = make_request()
    await relay_events(scripted(15, *events), AnthropicStream(request), ping_interval=INTERVAL)
    assert recorder.messages[0][0] == pytest.approx(10)  # the 200 went out with the first ping
    assert recorder.status == 200
    assert recorder.blocks() == [anthropic_ping().rstrip(b"\n")] + [
        sse(e).rstrip(b"\n") for e in events
    ]


async def test_anthropic_stream_error_before_anything_raises_for_an_http_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, recorder = make_request()
    with pytest.raises(UpstreamError) as caught:
        await relay_events(scripted(overloaded()), AnthropicStream(request), ping_interval=INTERVAL)
    assert caught.value.status == 529
    assert recorder.messages == []


async def test_anthropic_stream_error_after_a_ping_is_an_error_event(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, recorder = make_request()
    assert (
        await relay_events(
            scripted(12, overloaded()), AnthropicStream(request), ping_interval=INTERVAL
        )
        is False
    )
    assert recorder.blocks() == [
        anthropic_ping().rstrip(b"\n"),
        b"event: error\ndata: " + dumps(overloaded()),
    ]
    assert recorder.ended


async def test_anthropic_stream_cut_short_ends_with_an_error_event(
    autojump_clock: trio.abc.Clock,
) -> None:
    events = answer("x")
    request, recorder = make_request()
    assert (
        await relay_events(scripted(*events[:4]), AnthropicStream(request), ping_interval=INTERVAL)
        is False
    )
    last = recorder.blocks()[-1]
    assert last.startswith(b"event: error\n")
    assert b"ended before message_stop" in last
    assert recorder.ended


# --- ChatStream -------------------------------------------------------------------------


def chat_sink(request: Request, *, include_usage: bool = False) -> ChatStream:
    return ChatStream(
        request, ChatChunks(model="gpt-ish", created=1_700_000_000, include_usage=include_usage)
    )


async def test_chat_stream_ends_with_done_after_a_complete_answer(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, recorder = make_request(Family.OPENAI)
    assert await relay_events(
        scripted(*answer("Hel", "lo")),
        chat_sink(request, include_usage=True),
        ping_interval=INTERVAL,
    )
    out = chunks(recorder)
    assert out[-1] == "[DONE]"
    assert out.count("[DONE]") == 1
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in out[:-1])
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in out[:-1] if c["choices"])
        == "Hello"
    )
    assert out[-2]["choices"] == []
    assert out[-2]["usage"]["prompt_tokens"] == 11
    assert recorder.ended
    assert b"event:" not in recorder.body
    assert b"\nid:" not in recorder.body


async def test_chat_stream_pings_are_sse_comments(autojump_clock: trio.abc.Clock) -> None:
    request, recorder = make_request(Family.OPENAI)
    first, *rest = answer("x")
    await relay_events(scripted(first, 21, *rest), chat_sink(request), ping_interval=INTERVAL)
    raw = recorder.body
    assert raw.count(COMMENT_PING) == 2
    assert b'"type":"ping"' not in raw
    assert chunks(recorder)[-1] == "[DONE]"


async def test_chat_stream_error_mid_stream_is_an_error_chunk_and_no_done(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, recorder = make_request(Family.OPENAI)
    events = answer("Hel", "lo")
    assert (
        await relay_events(
            scripted(*events[:3], overloaded()), chat_sink(request), ping_interval=INTERVAL
        )
        is False
    )
    out = chunks(recorder)
    assert "[DONE]" not in out
    assert out[-1] == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}
    }
    assert recorder.ended


async def test_chat_stream_cut_short_is_an_error_chunk_and_no_done(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, recorder = make_request(Family.OPENAI)
    assert (
        await relay_events(
            scripted(*answer("x")[:3], UpstreamUnreachable("reset")),
            chat_sink(request),
            ping_interval=INTERVAL,
        )
        is False
    )
    out = chunks(recorder)
    assert "[DONE]" not in out
    assert "error" in out[-1]
    assert "reset" in out[-1]["error"]["message"]
    assert recorder.ended


async def test_chat_stream_error_before_anything_raises(autojump_clock: trio.abc.Clock) -> None:
    request, recorder = make_request(Family.OPENAI)
    with pytest.raises(UpstreamError) as caught:
        await relay_events(scripted(overloaded()), chat_sink(request), ping_interval=INTERVAL)
    assert caught.value.status == 529
    assert recorder.messages == []


# --- AnthropicMessage / ChatCompletion (folded) ---------------------------------------


async def test_anthropic_message_folds_the_stream_into_one_body(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, recorder = make_request()
    first, *rest = answer("Hel", "lo")
    assert (
        await relay_events(
            scripted(first, 45, *rest), AnthropicMessage(request), ping_interval=INTERVAL
        )
        is True
    )
    assert recorder.status == 200
    assert recorder.headers[b"content-type"] == b"application/json"
    body = json.loads(recorder.body)
    assert body["content"] == [{"type": "text", "text": "Hello"}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"] == {"input_tokens": 11, "output_tokens": 3}
    assert len(recorder.bodies) == 1  # no keep-alive bytes in a JSON answer


async def test_anthropic_message_error_raises_with_nothing_sent(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, recorder = make_request()
    events = answer("Hel", "lo")
    with pytest.raises(UpstreamError) as caught:
        await relay_events(
            scripted(*events[:4], overloaded()), AnthropicMessage(request), ping_interval=INTERVAL
        )
    assert caught.value.status == 529
    assert recorder.messages == []


async def test_anthropic_message_cut_short_raises_a_502(autojump_clock: trio.abc.Clock) -> None:
    request, recorder = make_request()
    with pytest.raises(UpstreamError) as caught:
        await relay_events(
            scripted(*answer("x")[:5]), AnthropicMessage(request), ping_interval=INTERVAL
        )
    assert caught.value.status == 502
    assert recorder.messages == []


async def test_chat_completion_is_one_openai_body(autojump_clock: trio.abc.Clock) -> None:
    request, recorder = make_request(Family.OPENAI)
    sink = ChatCompletion(request, model="claude-test-thinking", created=1_700_000_000)
    assert await relay_events(
        scripted(*answer("Hel", "lo", stop_reason="max_tokens")), sink, ping_interval=INTERVAL
    )
    body = json.loads(recorder.body)
    assert body["object"] == "chat.completion"
    assert body["id"] == "chatcmpl-msg_01"
    assert body["model"] == "claude-test-thinking"
    assert body["choices"][0]["message"]["content"] == "Hello"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["prompt_tokens"] == 11
    assert body["usage"]["completion_tokens"] == 3


# --- json_events ------------------------------------------------------------------------


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
async def test_json_events_parses_named_events_and_skips_what_is_not_json(
    one_byte_at_a_time: bool,
) -> None:
    raw = (
        b": keep-alive\n\n"
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m"}}\n\n'
        b"event: ping\ndata: \n\n"
        b"event: odd\ndata: not json\n\n"
        b'data: {"type":"completion","completion":"caf\xc3\xa9"}\r\n\r\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        b'event: unterminated\ndata: {"type":"x"}'
    )
    response = httpx.Response(200, content=_pieces(raw, 1 if one_byte_at_a_time else len(raw)))
    got = [pair async for pair in json_events(response)]
    assert got == [
        ("message_start", {"type": "message_start", "message": {"id": "m"}}),
        (None, {"type": "completion", "completion": "café"}),
        ("message_stop", {"type": "message_stop"}),
    ]


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
async def test_json_objects_gives_the_objects_only(one_byte_at_a_time: bool) -> None:
    raw = (
        b": keep-alive\n\n"
        b'event: message_start\ndata: {"type":"message_start"}\n\n'
        b"data: [1, 2]\n\ndata: 3\n\ndata: null\n\ndata: \"text\"\n\ndata: not json\n\n"
        b'data: {"type":"x",\ndata: "y":1}\r\n\r\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        b'data: {"type":"unterminated"}'
    )
    response = httpx.Response(200, content=_pieces(raw, 1 if one_byte_at_a_time else len(raw)))
    got = [data async for data in json_objects(response)]
    assert got == [{"type": "message_start"}, {"type": "x", "y": 1}, {"type": "message_stop"}]
