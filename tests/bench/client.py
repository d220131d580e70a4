"""A small HTTP/1.1 client on trio and h11 for what wrk cannot do.

wrk gives throughput and latency; this client covers the rest:

- one request with the whole response kept, to check it before anything is timed;
- first-byte and last-byte times of streams, one at a time on a kept-alive
  connection (how long the proxy holds the first event back);
- many concurrent slow streams, each on its own connection, each checked to the
  last event.

It uses raw trio sockets and h11 (a runtime dependency of llmproxy) rather than
httpx, whose connection pool does work quadratic in its size (stack.md §3.4) and
would make a 1,000-connection client the bottleneck.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import h11
import trio

__all__ = [
    "Connection",
    "Response",
    "StreamsResult",
    "concurrent_streams",
    "fetch",
    "first_byte_series",
]

_READ = 65536


@dataclass(slots=True)
class Response:
    """One response, with times relative to the moment the request was sent (seconds)."""

    status: int
    headers: dict[str, str]
    body: bytes
    first_byte: float
    complete: float
    sent_at: float
    """``time.perf_counter()`` when the request was sent."""


class Connection:
    """One kept-alive HTTP/1.1 connection to ``127.0.0.1:port``."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def _next(self) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            self.h11.receive_data(await self.stream.receive_some(_READ))

    async def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        on_headers: Callable[[], None] | None = None,
    ) -> Response:
        """Send one request and read its whole response.

        Args:
            on_headers: Called when the response head arrives.
        """
        if self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        fields = [("host", "127.0.0.1"), *headers.items()]
        if body or method == "POST":
            fields.append(("content-length", str(len(body))))
        data = self.h11.send(h11.Request(method=method, target=path, headers=fields)) or b""
        if body:
            data += self.h11.send(h11.Data(data=body)) or b""
        data += self.h11.send(h11.EndOfMessage()) or b""
        sent = time.perf_counter()
        await self.stream.send_all(data)
        head = await self._next()
        while isinstance(head, h11.InformationalResponse):
            head = await self._next()
        if not isinstance(head, h11.Response):
            raise h11.RemoteProtocolError(f"unexpected {head!r}")
        if on_headers is not None:
            on_headers()
        parts: list[bytes] = []
        first = math.nan
        while True:
            event = await self._next()
            if isinstance(event, h11.Data):
                if math.isnan(first):
                    first = time.perf_counter() - sent
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("connection closed before the end of the response")
        complete = time.perf_counter() - sent
        headers_out = {k.decode().lower(): v.decode() for k, v in head.headers}
        return Response(head.status_code, headers_out, b"".join(parts), first, complete, sent)


async def fetch(
    port: int, method: str, path: str, headers: Mapping[str, str], body: bytes = b""
) -> Response:
    """One request on a fresh connection."""
    connection = await Connection.open(port)
    try:
        return await connection.request(method, path, headers, body)
    finally:
        await connection.aclose()


async def first_byte_series(
    port: int,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    count: int,
    check: Callable[[bytes], object],
) -> list[tuple[float, float]]:
    """``count`` requests one after another on one connection; (first byte, last byte) each.

    The first request only opens the connection and is not counted.
    """
    connection = await Connection.open(port)
    times: list[tuple[float, float]] = []
    try:
        for index in range(count + 1):
            response = await connection.request("POST", path, headers, body)
            if response.status != 200:
                raise RuntimeError(f"status {response.status}: {response.body[:200]!r}")
            check(response.body)
            if index:
                times.append((response.first_byte, response.complete))
    finally:
        await connection.aclose()
    return times


@dataclass(slots=True)
class StreamsResult:
    """What happened to a batch of concurrent streams."""

    requested: int
    completed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    max_open: int = 0
    """The most streams that had their response head and had not ended, at one moment."""
    all_open_at_once: bool = False
    seconds: float = 0.0
    first_byte: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)


async def concurrent_streams(
    port: int,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    count: int,
    check: Callable[[bytes], object],
    *,
    limit_seconds: float,
    sample: Callable[[], None] | None = None,
) -> StreamsResult:
    """Start ``count`` streams at once, each on its own connection, and check every one.

    Args:
        check: Raises if a body is not the complete, correct stream.
        limit_seconds: Streams not finished after this many seconds count as failed.
        sample: Called every 50 ms while streams run (to sample the proxy's memory).
    """
    result = StreamsResult(requested=count)
    open_now = 0
    begun = time.perf_counter()

    def opened() -> None:
        nonlocal open_now
        open_now += 1
        result.max_open = max(result.max_open, open_now)

    async def one() -> None:
        nonlocal open_now
        got_head = False

        def head() -> None:
            nonlocal got_head
            got_head = True
            opened()

        try:
            connection = await Connection.open(port)
            try:
                response = await connection.request("POST", path, headers, body, on_headers=head)
            finally:
                await connection.aclose()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}: {response.body[:200]!r}")
            check(response.body)
            result.completed += 1
            result.first_byte.append(response.first_byte)
            result.complete.append(response.complete)
        except (
            OSError,
            trio.BrokenResourceError,
            h11.ProtocolError,
            RuntimeError,
            ValueError,
        ) as exc:
            result.failed += 1
            if len(result.errors) < 10:
                result.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            if got_head:
                open_now -= 1

    async def sampler() -> None:
        while sample is not None:
            sample()
            await trio.sleep(0.05)

    with trio.move_on_after(limit_seconds) as scope:
        async with trio.open_nursery() as nursery:
            if sample is not None:
                nursery.start_soon(sampler)
            async with trio.open_nursery() as streams:
                for _ in range(count):
                    streams.start_soon(one)
            nursery.cancel_scope.cancel()
    if scope.cancelled_caught:
        missing = count - result.completed - result.failed
        result.failed += missing
        result.errors.append(f"{missing} streams unfinished after {limit_seconds} s")
    result.seconds = time.perf_counter() - begun
    result.all_open_at_once = result.max_open == count
    return result
