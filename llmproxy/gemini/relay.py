"""Sending Gemini answers to the client: held-then-relayed streams, and keep-alive bodies.

Streams (:func:`relay_sse`). The upstream body is read by one task and handed
over a small channel to the task that writes to the client. A :mod:`.watch`
decides per event: while it *holds*, nothing is written (not even the status
line), so an empty answer or an error event can still move the request to
another credential; once it *releases*, every event is written and flushed the
moment it is complete. After release, an OpenAI stream gets a ``: ping``
comment every :data:`PING_INTERVAL` seconds of upstream silence; a Gemini
stream gets none, because google-genai cannot read comments. A stream that
breaks off, or ends without its end marker, ends with an error event.

Non-stream answers (:func:`with_keepalive`). Nothing goes out until the answer
is complete, so a failure can still be answered with its own status. If that
takes longer than :data:`KEEPALIVE_INTERVAL` seconds, the ``200`` and a ``\\n``
go out, and another ``\\n`` every interval after: leading whitespace is valid
JSON, and it keeps proxies and clients from timing out (ClewdR did the same).
From then on an error can only be written as the JSON body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.abc

from ..asgi.families import Family, error_body, error_event
from ..asgi.request import Request
from ..errors import ProxyError, UpstreamError
from ..tasks import task_group
from ..upstream.client import Response, UpstreamUnreachable
from ..wire.sse import SSEDecoder
from .rotation import EmptyAnswer, Reply, Transient
from .watch import Watch, WatchState

__all__ = [
    "KEEPALIVE_INTERVAL",
    "PING_INTERVAL",
    "relay_raw",
    "relay_sse",
    "send_reply",
    "with_keepalive",
]

KEEPALIVE_INTERVAL = 15.0
"""Seconds a non-stream answer may take before keep-alive whitespace starts."""
PING_INTERVAL = 15.0
"""Seconds of upstream silence before an OpenAI stream gets a ``: ping``."""
PING = b": ping\n\n"

_Item = bytes | UpstreamUnreachable | None


async def send_reply(request: Request, reply: Reply) -> None:
    """Send a whole reply with its own status."""
    await request.send_bytes(
        reply.body,
        status=reply.status,
        content_type=reply.content_type.encode("latin-1"),
        headers=reply.headers,
    )


async def with_keepalive(
    request: Request, work: Callable[[], Awaitable[Reply]], *, interval: float | None = None
) -> None:
    """Run ``work`` and send its reply, with keep-alive whitespace if it is slow.

    Errors (:class:`~llmproxy.errors.ProxyError`) raised by ``work`` propagate
    while nothing has been sent; after keep-alive started they are written as
    the body (``{"error": …}`` in the route's dialect) and the response ends.
    """
    wait = KEEPALIVE_INTERVAL if interval is None else interval
    lock = anyio.Lock()
    done = False
    result: Reply | Exception | None = None

    async def tick() -> None:
        while True:
            await anyio.sleep(wait)
            async with lock:
                if done:
                    return
                if not request.started:
                    await request.start(200, [(b"content-type", b"application/json")])
                await request.send_event(b"\n")

    async with task_group() as group:
        group.start_soon(tick)
        try:
            result = await work()
        except Exception as exc:  # answered or re-raised below, outside the task group
            result = exc
        finally:
            # Wait for a tick that is halfway through a write, so the response
            # is never left between a status line and its first byte.
            with anyio.CancelScope(shield=True):
                async with lock:
                    done = True
            group.cancel_scope.cancel()
    assert result is not None
    if isinstance(result, Exception):
        if not request.started:
            raise result
        shown = result if isinstance(result, ProxyError) else UpstreamError(
            "Internal proxy error; see the proxy log", status=500
        )
        request.error_kind = shown.kind
        await request.send_event(error_body(request.family, shown))
        await request.end_stream()
        if shown is not result:
            raise result  # the app logs it; the response is already complete
        return
    if not request.started:
        await send_reply(request, result)
        return
    await request.send_event(result.body)
    await request.end_stream()


async def relay_raw(request: Request, response: Response) -> None:
    """Relay a body as it arrives (``streamGenerateContent`` without ``alt=sse``: a JSON array)."""
    await request.start(
        200, [(b"content-type", response.headers.get("content-type", "application/json").encode())]
    )
    try:
        async for chunk in response.aiter_raw():
            await request.send_event(chunk)
    except UpstreamUnreachable:
        pass  # the client sees a truncated array, which it reports as such
    await request.end_stream()


async def relay_sse(
    request: Request,
    response: Response,
    watch: Watch,
    *,
    family: Family,
    on_error: Callable[[Mapping[str, Any]], Exception],
    ping: bool = False,
    ping_interval: float | None = None,
) -> None:
    """Relay an upstream event stream through ``watch`` (see the module docstring).

    Args:
        request: The client exchange.
        response: The open upstream response (status 200).
        watch: Decides when the stream is released and what bytes go out.
        family: The dialect of the error event for a stream that breaks off.
        on_error: Turns an error event seen while holding into the exception to
            raise (a credential rejection, or the error for the client).
        ping: Send ``: ping`` comments while the upstream is silent (OpenAI only).
        ping_interval: Seconds of silence before a ping.

    Raises:
        EmptyAnswer: the stream ended (or said OTHER) before any answer.
        Transient: the upstream connection broke before any answer.
        Exception: whatever ``on_error`` returns, for an error while holding.
    """
    interval = PING_INTERVAL if ping_interval is None else ping_interval
    send, receive = anyio.create_memory_object_stream[_Item](16)

    async def pump() -> None:
        async with send:
            try:
                async for chunk in response.aiter_raw():
                    await send.send(chunk)
            except UpstreamUnreachable as exc:
                await send.send(exc)
                return
            await send.send(None)

    outcome: BaseException | None = None
    async with task_group() as group:
        group.start_soon(pump)
        try:
            async with receive:
                await _consume(request, receive, watch, ping=ping, interval=interval)
        except Exception as exc:  # re-raised below, outside the task group
            outcome = exc
        finally:
            group.cancel_scope.cancel()
    if outcome is not None:
        raise outcome
    if not watch.released:
        if watch.state is WatchState.FAILED and watch.error is not None:
            raise on_error(watch.error)
        watch.end()  # still holding at the end: the answer was empty
        raise EmptyAnswer(Reply(200, "text/event-stream", watch.held()))
    if watch.complete:
        tail = watch.end()  # an OpenAI stream's [DONE], if the upstream left it out
        if tail:
            await request.send_event(tail)
    else:
        # No terminator after this: the client must not mistake a cut for an end.
        broke = UpstreamError("the upstream stream broke off before its end", status=502)
        await request.send_event(error_event(family, broke))
    await request.end_stream()


async def _consume(
    request: Request,
    receive: anyio.abc.ObjectReceiveStream[_Item],
    watch: Watch,
    *,
    ping: bool,
    interval: float,
) -> None:
    """Feed upstream chunks through the decoder and the watch until the stream ends.

    Returns when the stream ended (cleanly or not) or the watch reached a final
    verdict while holding.

    Raises:
        Transient: the connection broke before the stream was released.
    """
    decoder = SSEDecoder()
    while True:
        item: _Item = None
        with anyio.move_on_after(interval if ping and watch.released else None) as waited:
            item = await receive.receive()
        if waited.cancelled_caught:
            await request.send_event(PING)
            continue
        if isinstance(item, UpstreamUnreachable):
            if watch.released:
                return  # the caller sees the stream incomplete and says so
            message = f"the upstream stream broke off before any answer: {item.message}"
            raise Transient(UpstreamError(message, status=502))
        if item is None:
            # google-genai keeps a last event that lacks its blank line; so do we.
            decoder.feed(b"\n\n")
            decoder.end()
        else:
            decoder.feed(item)
        for event in decoder.events():
            out = watch.accept(event)
            if watch.state in (WatchState.EMPTY, WatchState.FAILED):
                return
            if out:
                if not request.streaming:
                    await request.start_stream()
                await request.send_event(out)
        if item is None:
            return
