"""Relaying a stream of canonical events to a client, in the client's own format.

Routes that rebuild a response (the claude.ai web route, every OpenAI-format
route) produce canonical events: the Anthropic Messages events as dicts
(DESIGN.md). :func:`relay_events` moves them from an upstream-reading iterator to
a :class:`Sink`, which writes them in the client's format:

- :class:`AnthropicStream` — Anthropic SSE;
- :class:`ChatStream` — OpenAI ``chat.completion.chunk`` lines and ``[DONE]``;
- :class:`AnthropicMessage` / :class:`ChatCompletion` — the same events folded
  by one accumulator into a single JSON answer (one code path for both modes).

The streaming sinks buffer what :meth:`Sink.event` encodes and write it on
:meth:`Sink.flush`. When the events come from :func:`json_events` or
:func:`json_objects` (however wrapped), the relay flushes once per upstream
read, just before the next read: everything one read completed goes out as one
write, and nothing complete is held back while the upstream is awaited. With
any other iterator it flushes after each event. The iterator is read in the
relay's own task; a :class:`~llmproxy.upstream.relay.KeepAlive` beside it gets
the client a keep-alive every ``ping_interval`` seconds of silence. A stream that ends
without ``message_stop`` ends with an error, never a silent cut. Nothing is sent
before the first event or ping, so a failure that comes before it can still be
retried with another credential.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import anyio

from ..asgi.families import Family, dumps, error_event
from ..asgi.request import Request
from ..errors import ProxyError, UpstreamError
from ..tasks import task_group
from ..translate.openai_response import ChatStream as ChatChunks
from ..translate.openai_response import chat_completion
from ..wire.accumulate import MessageAccumulator
from ..wire.sse import COMMENT_PING, SSEDataReader, anthropic_ping, encode_event
from .client import Response, UpstreamUnreachable
from .relay import PING_INTERVAL, KeepAlive

__all__ = [
    "AnthropicMessage",
    "AnthropicStream",
    "ChatCompletion",
    "ChatStream",
    "Sink",
    "error_from_event",
    "json_events",
    "json_objects",
    "relay_events",
]

log = logging.getLogger("llmproxy")

DRAIN_SECONDS = 0.5
"""How long a complete stream's upstream is read on, for its end (see :func:`_drain`)."""

_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def error_from_event(event: Mapping[str, Any]) -> UpstreamError:
    """An upstream ``error`` event as an exception with the status the API would use."""
    error = event.get("error")
    etype = error.get("type") if isinstance(error, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return UpstreamError(
        message if isinstance(message, str) else "the upstream reported an error mid-stream",
        status=_STATUS_OF_TYPE.get(etype, 502) if isinstance(etype, str) else 502,
        upstream_type=etype if isinstance(etype, str) else None,
        body=dict(event),
    )


class _ReadBoundary:
    """How the event readers tell :func:`relay_events` that a read is about to block.

    The relay puts one in :data:`_BOUNDARY` for the duration of the relay; the
    event iterator runs in the relay's task, so :func:`json_events` and
    :func:`json_objects` find it there however many generators wrap it.
    ``seen`` says that the iterator honours it (otherwise the relay flushes
    after every event); ``response`` and ``ended`` say which upstream response
    it reads and whether it read it to the end, so a relay that stopped early
    can hang up before it ends the answer.
    """

    __slots__ = ("before_read", "seen", "response", "ended")

    def __init__(self, before_read: Callable[[], Awaitable[None]]) -> None:
        self.before_read = before_read
        self.seen = False
        self.response: Response | None = None
        self.ended = False

    def release(self) -> None:
        """Drop the relay and the response: the relay holds this boundary, so keeping
        them would make a reference cycle that only the garbage collector frees."""
        self.before_read = _no_read
        self.response = None


async def _no_read() -> None:
    return None


_BOUNDARY: ContextVar[_ReadBoundary | None] = ContextVar("llmproxy_read_boundary", default=None)


async def json_events(response: Response) -> AsyncIterator[tuple[str | None, Any]]:
    """The (event name, parsed data) pairs of an upstream SSE body, as they arrive.

    Comments are skipped; an event whose data is not JSON is skipped too (a
    proxy must not die of one odd line). Inside :func:`relay_events`, the relay
    is told before each read, so it can write what the last read produced.
    """
    boundary = _reading(response)
    reader = SSEDataReader()
    chunks = response.aiter_raw()
    while (chunk := await _read(chunks, boundary)) is not None:
        for name, text in reader.feed(chunk):
            data = _loads(text)
            if data is not _NOT_JSON:
                yield name, data
    if boundary is not None:
        boundary.ended = True
    for name, text in reader.end():  # an event whose blank line ended in a lone CR
        data = _loads(text)
        if data is not _NOT_JSON:
            yield name, data


async def json_objects(response: Response) -> AsyncIterator[dict[str, Any]]:
    """The data of each event of an upstream SSE body that is a JSON object.

    :func:`json_events` for a stream whose events name themselves in their data
    (the Messages API's ``type``): the relay can read it directly, with no
    generator between that drops the names.
    """
    boundary = _reading(response)
    reader = SSEDataReader()
    chunks = response.aiter_raw()
    while (chunk := await _read(chunks, boundary)) is not None:
        for _, text in reader.feed(chunk):
            data = _loads(text)
            if type(data) is dict:
                yield data
    if boundary is not None:
        boundary.ended = True
    for _, text in reader.end():
        data = _loads(text)
        if type(data) is dict:
            yield data


def _reading(response: Response) -> _ReadBoundary | None:
    """The running relay's boundary, told that this iterator honours it and reads ``response``."""
    boundary = _BOUNDARY.get()
    if boundary is not None:
        boundary.seen = True
        boundary.response = response
    return boundary


async def _read(chunks: AsyncIterator[bytes], boundary: _ReadBoundary | None) -> bytes | None:
    """The next upstream read (``None`` at the end), after telling the relay it is coming."""
    if boundary is not None:
        await boundary.before_read()
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


_NOT_JSON: Any = object()


def _loads(text: str) -> Any:
    """``text`` parsed as JSON, or :data:`_NOT_JSON`."""
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


class Sink(Protocol):
    """Where canonical events go; each sink writes one client format.

    A sink may buffer what :meth:`event` produces until :meth:`flush`; every
    other method flushes first, so the client sees everything in order.
    :meth:`finish` writes the rest of a complete answer (``[DONE]``) without
    ending the response; :meth:`close` ends it.
    """

    async def event(self, event: dict[str, Any]) -> None: ...

    async def flush(self) -> None: ...

    async def finish(self) -> None: ...

    async def ping(self) -> None: ...

    async def error(self, exc: ProxyError) -> None: ...

    async def close(self) -> None: ...


class _Buffered:
    """A streaming sink's pending bytes and the start of its response."""

    def __init__(self, request: Request, headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.headers = headers
        self._pending: list[bytes] = []

    async def _start(self) -> None:
        if not self.request.started:
            await self.request.start_stream(self.headers)

    async def flush(self) -> None:
        """Write what :meth:`event` encoded since the last flush, in one message."""
        if not self._pending:
            return
        pending = self._pending
        self._pending = []
        await self._start()
        await self.request.send_event(pending[0] if len(pending) == 1 else b"".join(pending))

    async def _write(self, data: bytes) -> None:
        if self._pending:
            self._pending.append(data)
            await self.flush()
            return
        await self._start()
        await self.request.send_event(data)


class AnthropicStream(_Buffered):
    """Anthropic SSE: ``event: <type>`` + compact JSON data."""

    async def event(self, event: dict[str, Any]) -> None:
        self._pending.append(encode_event(dumps(event), event=event["type"]))

    async def ping(self) -> None:
        await self._write(anthropic_ping())

    async def error(self, exc: ProxyError) -> None:
        await self.flush()
        if not self.request.started:
            raise exc
        await self.request.send_event(error_event(Family.ANTHROPIC, exc))

    async def finish(self) -> None:
        await self.flush()

    async def close(self) -> None:
        await self.finish()
        await self._start()
        await self.request.end_stream()


class ChatStream(_Buffered):
    """OpenAI chunks: ``data: <chunk>`` lines, SSE comments as keep-alives, then ``[DONE]``."""

    def __init__(self, request: Request, chunks: ChatChunks, headers: dict[str, str] | None = None) -> None:
        super().__init__(request, headers)
        self.chunks = chunks
        self.failed = False
        self._done = False

    async def event(self, event: dict[str, Any]) -> None:
        for chunk in self.chunks.feed(event):
            self._pending.append(b"data: " + dumps(chunk) + b"\n\n")

    async def ping(self) -> None:
        await self._write(COMMENT_PING)

    async def error(self, exc: ProxyError) -> None:
        await self.flush()
        if not self.request.started:
            raise exc
        self.failed = True
        await self.request.send_event(error_event(Family.OPENAI, exc))

    async def finish(self) -> None:
        if not self.failed and not self._done:
            self._done = True
            self._pending.append(b"data: [DONE]\n\n")
        await self.flush()

    async def close(self) -> None:
        await self.finish()
        await self._start()
        await self.request.end_stream()


class AnthropicMessage:
    """One Anthropic ``Message`` JSON body, folded from the events."""

    def __init__(self, request: Request, headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.headers = headers
        self.accumulator = MessageAccumulator()

    async def event(self, event: dict[str, Any]) -> None:
        self.accumulator.feed(event)

    async def flush(self) -> None:
        """Nothing to write before the end."""

    async def finish(self) -> None:
        """The body goes out whole on :meth:`close`."""

    async def ping(self) -> None:
        """A JSON answer has no room for keep-alives; the client just waits."""

    async def error(self, exc: ProxyError) -> None:
        raise exc

    def body(self) -> dict[str, Any]:
        return self.accumulator.message()

    async def close(self) -> None:
        await self.request.send_json(self.body(), headers=self.headers)


class ChatCompletion(AnthropicMessage):
    """One OpenAI ``chat.completion`` JSON body, folded from the events."""

    def __init__(
        self,
        request: Request,
        *,
        model: str,
        created: int,
        think_tags: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(request, headers)
        self.model = model
        self.created = created
        self.think_tags = think_tags

    def body(self) -> dict[str, Any]:
        return chat_completion(
            self.accumulator.message(), model=self.model, created=self.created, think_tags=self.think_tags
        )


class _Relay:
    """The state of one :func:`relay_events` run."""

    __slots__ = ("sink", "keepalive", "boundary", "flush", "unflushed", "complete", "upstream_error")

    def __init__(self, sink: Sink, interval: float) -> None:
        self.sink = sink
        self.keepalive = KeepAlive(interval, sink.ping)
        self.boundary = _ReadBoundary(self.before_read)
        # A sink without flush() writes in event() (test doubles, older sinks).
        self.flush: Callable[[], Awaitable[None]] | None = getattr(sink, "flush", None)
        self.unflushed = False
        self.complete = False
        self.upstream_error: UpstreamError | None = None

    async def before_read(self) -> None:
        if self.unflushed:
            self.unflushed = False
            assert self.flush is not None
            await self.keepalive.write(self.flush)

    async def finish(self, events: AsyncIterator[dict[str, Any]]) -> None:
        """End a complete answer: the client gets all of it, the upstream is read to its end.

        The last bytes (``[DONE]``) go out first; the response itself ends only
        after the upstream was drained (or hung up on, if the iterator stopped
        before its end), so no request outlives its answer's upstream call.
        """
        finish = getattr(self.sink, "finish", None)
        if finish is not None:
            self.unflushed = False
            await finish()  # flushes what is pending too
        elif self.unflushed:
            await self.before_read()
        await _drain(events)
        boundary = self.boundary
        if boundary.response is not None and not boundary.ended:
            await boundary.response.aclose()
        await self.sink.close()

    async def deliver(self, event: dict[str, Any]) -> None:
        await self.sink.event(event)
        if self.flush is not None:
            await self.flush()

    async def consume(self, events: AsyncIterator[dict[str, Any]]) -> None:
        """Hand every event to the sink until ``message_stop``, an error event or the end."""
        async for event in events:
            kind = event.get("type")
            if kind == "error":
                self.upstream_error = error_from_event(event)
                return
            if self.boundary.seen and self.flush is not None:
                await self.sink.event(event)  # buffered; written before the next read
                self.unflushed = True
            else:
                await self.keepalive.write(self.deliver, event)
            if kind == "message_stop":
                self.complete = True
                return


async def relay_events(
    events: AsyncIterator[dict[str, Any]],
    sink: Sink,
    *,
    ping_interval: float | None = None,
    what: str = "the upstream stream",
) -> bool:
    """Move ``events`` to ``sink`` until ``message_stop``, an error, or the end.

    Returns:
        True when the stream completed with ``message_stop``.

    Raises:
        Whatever ``events`` raised, and what the sink raises for an error it
        cannot write (nothing has reached the client yet in that case).
    """
    interval = PING_INTERVAL if ping_interval is None else ping_interval
    relay = _Relay(sink, interval)
    failure: Exception | None = None
    token = _BOUNDARY.set(relay.boundary)
    try:
        async with task_group() as group:
            group.start_soon(relay.keepalive.run, group.cancel_scope)
            try:
                await relay.consume(events)
            except Exception as exc:  # re-raised below, outside the task group
                failure = exc
            if not relay.complete:  # a complete answer's last read goes out with its end
                try:
                    await relay.before_read()  # what the last read produced
                except Exception as exc:
                    failure = failure or exc
            await relay.keepalive.settle()
            group.cancel_scope.cancel()
        failure = failure or relay.keepalive.failure
        if failure is None and relay.complete:
            await relay.finish(events)
            return True
    finally:
        _BOUNDARY.reset(token)
        await _close(events)
        relay.boundary.release()
    if failure is not None:
        if not isinstance(failure, UpstreamUnreachable):
            raise failure
        relay.upstream_error = UpstreamError(f"{what} broke off: {failure.message}", status=502)
    upstream_error = relay.upstream_error
    if upstream_error is None:
        upstream_error = UpstreamError(f"{what} ended before message_stop", status=502)
    await sink.error(upstream_error)
    if sink_started(sink):
        await _end(sink)
    return False


async def _drain(events: AsyncIterator[dict[str, Any]]) -> None:
    """After ``message_stop`` (the client has its events), read the upstream to its end, briefly.

    httpcore puts an HTTP/1.1 connection back in its pool only when the response
    body was read to the end; closing the response at ``message_stop``, a read
    before the final chunk, would cost the next request a new connection (TCP and
    TLS handshakes). The end almost always arrives with ``message_stop`` or just
    after it. claude.ai may still be talking after a stop sequence cut the answer:
    that is given up after :data:`DRAIN_SECONDS`.
    """
    try:
        with anyio.move_on_after(DRAIN_SECONDS):
            async for _ in events:
                pass
    except Exception as exc:  # the answer is complete; what follows it cannot change that
        log.debug("after message_stop, the upstream stream failed: %r", exc)


async def _close(events: AsyncIterator[dict[str, Any]]) -> None:
    """Close the iterator now (an early stop leaves it suspended), so its cleanup runs."""
    aclose = getattr(events, "aclose", None)
    if aclose is None:
        return
    await aclose()


def sink_started(sink: Sink) -> bool:
    request = getattr(sink, "request", None)
    return bool(request is not None and request.started)


async def _end(sink: Sink) -> None:
    request: Request = getattr(sink, "request")  # noqa: B009 - every sink here has one
    if not request.finished:
        await request.end_stream()
