"""Relaying an upstream Anthropic event stream to the client, event by event.

The upstream body is read in one task and handed over a small channel to the
task that writes to the client, so that:

- each complete event is written (and flushed) the moment it arrives, as the
  exact bytes the upstream sent (signatures and other opaque strings are never
  re-encoded); a partial event waits only for the rest of itself;
- while the upstream is silent (a model thinking for minutes), a ``ping`` event
  goes out every ``ping_interval`` seconds so no client or middlebox times out;
  pings are only ever inserted between events;
- a stream that breaks off (connection error, or EOF before ``message_stop``)
  ends with an ``error`` event, never a silent cut;
- token usage is read from ``message_start`` and ``message_delta`` on the way.

A client disconnect cancels the surrounding scope, which closes the upstream
response (the caller's ``finally``) and so the upstream connection.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx

from ..asgi.families import Family, error_event
from ..asgi.request import Request
from ..errors import UpstreamError
from ..wire.sse import NEED_DATA, SSEDecoder, SSEEvent, anthropic_ping

__all__ = ["PING_INTERVAL", "StreamUsage", "relay_anthropic_stream"]

PING_INTERVAL = 15.0


@dataclasses.dataclass(slots=True)
class StreamUsage:
    """What the stream said about itself, for usage accounting and the log."""

    input_tokens: int = 0
    output_tokens: int = 0
    completed: bool = False


def _add_usage(usage: StreamUsage, name: str | None, data: str) -> None:
    if name not in ("message_start", "message_delta", "message_stop", "error"):
        return
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


async def _events(chunks: AsyncIterator[bytes], usage: StreamUsage) -> AsyncIterator[bytes]:
    decoder = SSEDecoder()
    async for chunk in chunks:
        decoder.feed(chunk)
        while True:
            event = decoder.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, SSEEvent):
                _add_usage(usage, event.event, event.data)
            yield event.raw
    decoder.end()


async def relay_anthropic_stream(
    request: Request,
    response: httpx.Response,
    *,
    ping_interval: float | None = None,
    headers: dict[str, str] | None = None,
) -> StreamUsage:
    """Relay ``response`` (an open upstream SSE response) to the client.

    Args:
        request: The client exchange.
        response: The open upstream response.
        ping_interval: Seconds of upstream silence before a ping (default
            :data:`PING_INTERVAL`).
        headers: Extra response headers (the upstream's request id).

    Returns:
        The usage the stream reported; ``completed`` is False when it broke off.
    """
    interval = PING_INTERVAL if ping_interval is None else ping_interval
    usage = StreamUsage()
    send, receive = anyio.create_memory_object_stream[bytes | BaseException | None](16)
    await request.start_stream(headers)

    async def pump() -> None:
        async with send:
            try:
                async for raw in _events(response.aiter_raw(), usage):
                    await send.send(raw)
            except (httpx.HTTPError, anyio.EndOfStream) as exc:
                await send.send(exc)
                return
            await send.send(None)

    async with anyio.create_task_group() as group:
        group.start_soon(pump)
        async with receive:
            while True:
                item: Any = None
                with anyio.move_on_after(interval) as waited:
                    item = await receive.receive()
                if waited.cancelled_caught:
                    await request.send_event(anthropic_ping())
                    continue
                if isinstance(item, bytes):
                    await request.send_event(item)
                    continue
                break
    if not usage.completed:
        reason = "the upstream stream broke off" if item is not None else "the upstream stream ended early"
        await request.send_event(
            error_event(Family.ANTHROPIC, UpstreamError(f"{reason} before message_stop", status=502))
        )
    await request.end_stream()
    return usage
