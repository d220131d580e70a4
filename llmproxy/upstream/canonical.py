"""Relaying a stream of canonical events to a client, in the client's own format.

Routes that rebuild a response (the claude.ai web route, every OpenAI-format
route) produce canonical events: the Anthropic Messages events as dicts
(DESIGN.md). :func:`relay_events` moves them from an upstream-reading iterator to
a :class:`Sink`, which writes them in the client's format:

- :class:`AnthropicStream` — Anthropic SSE, one flush per event;
- :class:`ChatStream` — OpenAI ``chat.completion.chunk`` lines and ``[DONE]``;
- :class:`AnthropicMessage` / :class:`ChatCompletion` — the same events folded
  by one accumulator into a single JSON answer (one code path for both modes).

Like the raw relay, the upstream is read in its own task so that a silent
upstream gets the client a keep-alive every ``ping_interval`` seconds, and a
stream that ends without ``message_stop`` ends with an error, never a silent cut.
Nothing is sent before the first event or ping, so a failure that comes before
it can still be retried with another credential.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import anyio
import httpx

from ..asgi.families import Family, dumps, error_event
from ..asgi.request import Request
from ..errors import ProxyError, UpstreamError
from ..translate.openai_response import ChatStream as ChatChunks
from ..translate.openai_response import chat_completion
from ..wire.accumulate import MessageAccumulator
from ..wire.sse import COMMENT_PING, NEED_DATA, SSEDecoder, SSEEvent, anthropic_ping, encode_event
from .relay import PING_INTERVAL

__all__ = [
    "AnthropicMessage",
    "AnthropicStream",
    "ChatCompletion",
    "ChatStream",
    "Sink",
    "error_from_event",
    "json_events",
    "relay_events",
]

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


async def json_events(response: httpx.Response) -> AsyncIterator[tuple[str | None, Any]]:
    """The (event name, parsed data) pairs of an upstream SSE body, as they arrive.

    Comments are skipped; an event whose data is not JSON is skipped too (a
    proxy must not die of one odd line).
    """
    decoder = SSEDecoder()
    async for chunk in response.aiter_raw():
        decoder.feed(chunk)
        while True:
            event = decoder.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, SSEEvent) and event.data:
                try:
                    data = json.loads(event.data)
                except ValueError:
                    continue
                yield event.event, data
    decoder.end()


class Sink(Protocol):
    """Where canonical events go; each sink writes one client format."""

    async def event(self, event: dict[str, Any]) -> None: ...

    async def ping(self) -> None: ...

    async def error(self, exc: ProxyError) -> None: ...

    async def close(self) -> None: ...


class AnthropicStream:
    """Anthropic SSE: ``event: <type>`` + compact JSON data, flushed per event."""

    def __init__(self, request: Request, headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.headers = headers

    async def _start(self) -> None:
        if not self.request.started:
            await self.request.start_stream(self.headers)

    async def event(self, event: dict[str, Any]) -> None:
        await self._start()
        await self.request.send_event(encode_event(dumps(event), event=event["type"]))

    async def ping(self) -> None:
        await self._start()
        await self.request.send_event(anthropic_ping())

    async def error(self, exc: ProxyError) -> None:
        if not self.request.started:
            raise exc
        await self.request.send_event(error_event(Family.ANTHROPIC, exc))

    async def close(self) -> None:
        await self._start()
        await self.request.end_stream()


class ChatStream:
    """OpenAI chunks: ``data: <chunk>`` lines, SSE comments as keep-alives, then ``[DONE]``."""

    def __init__(self, request: Request, chunks: ChatChunks, headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.chunks = chunks
        self.headers = headers
        self.failed = False

    async def _start(self) -> None:
        if not self.request.started:
            await self.request.start_stream(self.headers)

    async def event(self, event: dict[str, Any]) -> None:
        chunks = self.chunks.feed(event)
        if not chunks:
            return
        await self._start()
        for chunk in chunks:
            await self.request.send_event(b"data: " + dumps(chunk) + b"\n\n")

    async def ping(self) -> None:
        await self._start()
        await self.request.send_event(COMMENT_PING)

    async def error(self, exc: ProxyError) -> None:
        if not self.request.started:
            raise exc
        self.failed = True
        await self.request.send_event(error_event(Family.OPENAI, exc))

    async def close(self) -> None:
        await self._start()
        if not self.failed:
            await self.request.send_event(b"data: [DONE]\n\n")
        await self.request.end_stream()


class AnthropicMessage:
    """One Anthropic ``Message`` JSON body, folded from the events."""

    def __init__(self, request: Request, headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.headers = headers
        self.accumulator = MessageAccumulator()

    async def event(self, event: dict[str, Any]) -> None:
        self.accumulator.feed(event)

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


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


_END = object()


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
    send, receive = anyio.create_memory_object_stream[Any](16)

    async def pump() -> None:
        async with send:
            try:
                async for event in events:
                    await send.send(event)
            except Exception as exc:  # handed to the writer, raised there
                await send.send(_Failed(exc))
                return
            await send.send(_END)

    failure: Exception | None = None
    complete = False
    upstream_error: UpstreamError | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(pump)
        async with receive:
            while True:
                item: Any = _END
                with anyio.move_on_after(interval) as waited:
                    item = await receive.receive()
                if waited.cancelled_caught:
                    await sink.ping()
                    continue
                if item is _END:
                    break
                if isinstance(item, _Failed):
                    failure = item.exc
                    break
                kind = item.get("type")
                if kind == "error":
                    upstream_error = error_from_event(item)
                    break
                await sink.event(item)
                if kind == "message_stop":
                    complete = True
                    break
        group.cancel_scope.cancel()
    if failure is not None:
        if isinstance(failure, ProxyError) or not isinstance(failure, httpx.HTTPError | anyio.EndOfStream):
            raise failure
        upstream_error = UpstreamError(f"{what} broke off: {type(failure).__name__}", status=502)
    if upstream_error is None and not complete:
        upstream_error = UpstreamError(f"{what} ended before message_stop", status=502)
    if upstream_error is not None:
        await sink.error(upstream_error)
        if sink_started(sink):
            await _end(sink)
        return False
    await sink.close()
    return True


def sink_started(sink: Sink) -> bool:
    request = getattr(sink, "request", None)
    return bool(request is not None and request.started)


async def _end(sink: Sink) -> None:
    request: Request = getattr(sink, "request")  # noqa: B009 - every sink here has one
    if not request.finished:
        await request.end_stream()
