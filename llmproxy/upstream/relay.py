"""Relaying an upstream Anthropic event stream to the client, a read at a time.

The task that reads the upstream body also writes to the client, so that:

- everything one upstream read completes goes out in one write (one ASGI
  message, one chunk on the wire), as the exact bytes the upstream sent
  (signatures and other opaque strings are never re-encoded); a partial event
  waits only for the rest of itself, and a complete one is never held back;
- while nothing has been written for ``ping_interval`` seconds (a model thinking
  for minutes), a ``ping`` event goes out so no client or middlebox times out.
  The built-in server does that for us (``Request.server_pings``); under other
  servers a :class:`KeepAlive` task does, pinging only while the reader is not
  writing. Either way pings only ever land between events;
- a stream that breaks off (connection error, or EOF before ``message_stop``)
  ends with an ``error`` event, never a silent cut;
- token usage is read from ``message_start`` and ``message_delta`` on the way.

There is no channel between a reader and a writer task, and no cancel scope
around each receive: per upstream read the cost is the read, the decoding and
one write. A client disconnect cancels the surrounding scope, which closes the
upstream response (the caller's ``finally``) and so the upstream connection.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from typing import TypeVarTuple, Unpack

import anyio

from ..asgi.families import Family, error_event
from ..asgi.request import Request
from ..errors import UpstreamError
from ..tasks import Cancellable, clock, task_group
from ..wire.sse import NEED_DATA, SSEDecoder, SSEEvent, anthropic_ping
from .client import Response, UpstreamUnreachable

__all__ = ["PING_INTERVAL", "EventFramer", "KeepAlive", "StreamUsage", "relay_anthropic_stream"]

PING_INTERVAL = 15.0

_Args = TypeVarTuple("_Args")


class KeepAlive:
    """Pings a client whenever ``interval`` seconds pass without a write to it.

    The relaying task wraps each write in :meth:`write`, which records when the
    client last heard from us; :meth:`run`, started in a task group beside it,
    sleeps until that moment plus ``interval`` and pings only if nothing was
    written since and no write is in progress. The two never write at once: a
    write waits for a ping in flight, and a ping is never started during a write.
    Per write this costs two attribute stores and a clock read; the pinging task
    wakes at most once an interval. A ping that fails (the client went away) is
    kept in :attr:`failure` and cancels the scope given to :meth:`run`, so the
    relay can raise it as it is rather than inside an exception group.

    Args:
        interval: Seconds of silence before a ping.
        ping: Writes one keep-alive to the client.
    """

    __slots__ = ("_interval", "_ping", "_clock", "_last", "_writing", "_pinging", "failure")

    def __init__(self, interval: float, ping: Callable[[], Awaitable[None]]) -> None:
        self._interval = interval
        self._ping = ping
        self._clock = clock()
        self._last = self._clock()
        self._writing = False
        self._pinging: anyio.Event | None = None
        self.failure: Exception | None = None
        """What a ping raised, if one failed."""

    async def write(self, send: Callable[[Unpack[_Args]], Awaitable[None]], *args: Unpack[_Args]) -> None:
        """Run ``send(*args)`` as a write to the client (it resets the ping timer)."""
        while self._pinging is not None:
            await self._pinging.wait()
        self._writing = True
        try:
            await send(*args)
        finally:
            self._writing = False
            self._last = self._clock()

    async def run(self, scope: Cancellable) -> None:
        """Ping during silence, until cancelled (see :meth:`settle`).

        Args:
            scope: Cancelled when a ping fails (the relay's task group).
        """
        while True:
            due = self._last + self._interval
            now = self._clock()
            if now < due:
                await anyio.sleep(due - now)
                continue
            if self._writing:
                # A write is stuck on a slow client; it restarts the timer when done.
                await anyio.sleep(self._interval)
                continue
            pinging = self._pinging = anyio.Event()
            try:
                await self._ping()
            except Exception as exc:  # raised by the relay, after its task group
                self.failure = exc
                scope.cancel()
                return
            finally:
                self._pinging = None
                pinging.set()
                self._last = self._clock()

    async def settle(self) -> None:
        """Wait until no ping is being written, so cancelling :meth:`run` cuts none in half."""
        while self._pinging is not None:
            await self._pinging.wait()


@dataclasses.dataclass(slots=True)
class StreamUsage:
    """What the stream said about itself, for usage accounting and the log."""

    input_tokens: int = 0
    output_tokens: int = 0
    completed: bool = False


_USAGE_EVENTS = frozenset(("message_start", "message_delta", "message_stop", "error"))


def _add_usage(usage: StreamUsage, name: str | None, data: str) -> None:
    if name in ("message_stop", "error"):
        usage.completed = True  # both end the stream; an upstream error was relayed as is
        return
    try:
        payload = json.loads(data)
    except ValueError:
        return
    if not isinstance(payload, dict):
        return
    block = payload.get("message", {}).get("usage") if name == "message_start" else payload.get("usage")
    if not isinstance(block, dict):
        return
    for field in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        value = block.get(field)
        if isinstance(value, int) and name == "message_start":
            usage.input_tokens += value
    output = block.get("output_tokens")
    if isinstance(output, int):
        usage.output_tokens = max(usage.output_tokens, output)


_USAGE_MARK = re.compile(rb"message_(?:start|delta|stop)|error")


class EventFramer:
    """Cuts an upstream SSE byte stream at event boundaries, noting usage on the way.

    A pass-through relay must not decode every event: for an LF-only stream (what
    the Messages API sends) the last ``\n\n`` of the bytes so far is the end of
    the last complete event, so one ``rfind`` per read finds what can go out, and
    only the few events that carry usage (``message_start``, ``message_delta``,
    ``message_stop``, ``error``, found by one regex search) are parsed. A stream
    that uses CR line ends or starts with a BOM is handed, from that point on, to
    the full :class:`SSEDecoder`, which gives the same bytes.
    """

    __slots__ = ("usage", "_pending", "_decoder", "_fed")

    def __init__(self, usage: StreamUsage) -> None:
        self.usage = usage
        self._pending = b""
        self._decoder: SSEDecoder | None = None
        self._fed = False

    def feed(self, chunk: bytes) -> bytes:
        """The bytes of every event ``chunk`` completes (empty if none)."""
        decoder = self._decoder
        if decoder is None:
            if b"\r" in chunk or (not self._fed and chunk[:1] == b"\xef"):
                decoder = self._decoder = SSEDecoder()
                decoder.feed(self._pending)
                self._pending = b""
            else:
                self._fed = True
                data = self._pending + chunk if self._pending else chunk
                cut = data.rfind(b"\n\n") + 2
                if cut < 2:
                    self._pending = data
                    return b""
                out, self._pending = data[:cut], data[cut:]
                if _USAGE_MARK.search(out) is not None:
                    self._note_usage(out)
                return out
        decoder.feed(chunk)
        return _complete(decoder, self.usage)

    def end(self) -> bytes:
        """The stream ended: what is still complete (a partial last event is dropped)."""
        decoder = self._decoder
        if decoder is None:
            return b""
        decoder.end()
        return _complete(decoder, self.usage)  # an event whose blank line ended in a lone CR

    def _note_usage(self, out: bytes) -> None:
        position = 0
        while (found := _USAGE_MARK.search(out, position)) is not None:
            start = out.rfind(b"\n\n", 0, found.start())
            start = 0 if start < 0 else start + 2
            end = out.find(b"\n\n", found.end()) + 2
            decoder = SSEDecoder()
            decoder.feed(out[start:end])
            for item in decoder.events():
                if isinstance(item, SSEEvent) and item.event in _USAGE_EVENTS:
                    _add_usage(self.usage, item.event, item.data)
            position = end


def _complete(decoder: SSEDecoder, usage: StreamUsage) -> bytes:
    """The raw bytes of every item the decoder has complete, joined; usage noted on the way."""
    first = b""
    more: list[bytes] | None = None
    while True:
        item = decoder.next_event()
        if item is NEED_DATA:
            break
        if isinstance(item, SSEEvent) and item.event in _USAGE_EVENTS:
            _add_usage(usage, item.event, item.data)
        if not first:
            first = item.raw
        elif more is None:
            more = [first, item.raw]
        else:
            more.append(item.raw)
    return first if more is None else b"".join(more)


async def relay_anthropic_stream(
    request: Request,
    response: Response,
    *,
    ping_interval: float | None = None,
    headers: dict[str, str] | None = None,
) -> StreamUsage:
    """Relay ``response`` (an open upstream SSE response) to the client.

    Args:
        request: The client exchange.
        response: The open upstream response.
        ping_interval: Seconds of silence towards the client before a ping
            (default :data:`PING_INTERVAL`).
        headers: Extra response headers (the upstream's request id).

    Returns:
        The usage the stream reported; ``completed`` is False when it broke off.
    """
    interval = PING_INTERVAL if ping_interval is None else ping_interval
    usage = StreamUsage()
    await request.start_stream(headers)
    framer = EventFramer(usage)
    if request.server_pings(interval, anthropic_ping()):
        broke, failure = await _pump(response, framer, request.send_event)
    else:
        keepalive = KeepAlive(interval, _pinger(request))

        async def write(out: bytes) -> None:
            await keepalive.write(request.send_event, out)

        async with task_group() as group:
            group.start_soon(keepalive.run, group.cancel_scope)
            broke, failure = await _pump(response, framer, write)
            await keepalive.settle()
            group.cancel_scope.cancel()
        failure = failure or keepalive.failure
    if failure is not None:
        raise failure
    if not usage.completed:
        reason = "the upstream stream broke off" if broke else "the upstream stream ended early"
        await request.send_event(
            error_event(Family.ANTHROPIC, UpstreamError(f"{reason} before message_stop", status=502))
        )
    await request.end_stream()
    return usage


async def _pump(
    response: Response, framer: EventFramer, write: Callable[[bytes], Awaitable[None]]
) -> tuple[bool, Exception | None]:
    """Relay the body through ``framer``; returns (broke off, what else went wrong)."""
    try:
        async for chunk in response.aiter_raw():
            out = framer.feed(chunk)
            if out:
                await write(out)
        out = framer.end()
        if out:
            await write(out)
    except UpstreamUnreachable:
        return True, None
    except Exception as exc:  # re-raised by the caller, outside any task group
        return False, exc
    return False, None


def _pinger(request: Request) -> Callable[[], Awaitable[None]]:
    async def ping() -> None:
        await request.send_event(anthropic_ping())

    return ping
