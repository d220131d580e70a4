"""The scaffold every fake upstream is built on: a real HTTP server on 127.0.0.1.

A fake is an ASGI app served by hypercorn's trio worker on a free loopback port,
so the proxy under test talks to it over real TCP with real HTTP/1.1 framing,
exactly as it will talk to the real service. Each fake:

- registers handlers per (method, path) or path prefix with :meth:`FakeUpstream.route`;
- records every request it receives (:attr:`FakeUpstream.requests`), so tests can
  assert on headers and bodies the way the real service would check them;
- answers with the helpers below: a JSON body, a server-sent event stream sent
  one event per write (optionally gated on a ``trio.Event`` so tests control
  timing without sleeping), a stream that breaks off halfway, or a redirect;
- notices when the proxy hangs up mid-response (:attr:`Recorded.cancelled`), which
  is how tests prove a client disconnect cancels the upstream call.

Later fakes (Anthropic, claude.ai, Gemini, Vertex) subclass :class:`FakeUpstream`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

__all__ = ["FakeUpstream", "Recorded", "Reply", "serve", "sse_event"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclasses.dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    cancelled: bool = False
    """True when the client hung up before the fake finished answering."""
    finished: trio.Event = dataclasses.field(default_factory=trio.Event)
    """Set when the fake is done with this request, answered or cancelled."""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class Reply:
    """What a handler gives back; the fake turns it into ASGI messages."""

    def __init__(
        self,
        status: int = 200,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        chunks: AsyncIterator[bytes] | None = None,
        break_after: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.chunks = chunks
        self.break_after = break_after

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        """A JSON response."""
        merged = {"content-type": "application/json", **(headers or {})}
        return cls(status, body=json.dumps(obj).encode(), headers=merged)

    @classmethod
    def sse(
        cls,
        events: Iterable[bytes] | AsyncIterator[bytes],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        break_after: bool = False,
    ) -> Reply:
        """A ``text/event-stream`` response written one event per chunk.

        ``events`` may be an async iterator, so a test can hold an event back
        until it says so. With ``break_after`` the connection is cut after the
        last event instead of being closed cleanly (a stream that dies halfway).
        """
        merged = {"content-type": "text/event-stream", "cache-control": "no-cache", **(headers or {})}
        if isinstance(events, AsyncIterator):
            chunks = events
        else:
            chunks = _aiter(list(events))
        return cls(status, headers=merged, chunks=chunks, break_after=break_after)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        """A redirect, as Cloudflare answers a blocked region."""
        return cls(status, headers={"location": location, "content-type": "text/html"}, body=b"")


async def _aiter(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


def sse_event(data: Any, event: str | None = None) -> bytes:
    """One SSE event as bytes: an optional ``event:`` line and one ``data:`` line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


Handler = Callable[[Recorded], Awaitable[Reply]]


class _BreakConnection(Exception):
    """Raised inside the ASGI app to make hypercorn drop the connection mid-body."""


class FakeUpstream:
    """An ASGI app that plays an upstream service; see the module docstring."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._exact: dict[tuple[str, str], Handler] = {}
        self._prefixes: list[tuple[str, str, Handler]] = []

    def route(self, method: str, path: str, *, prefix: bool = False) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``method`` on ``path`` (or every path under it)."""

        def register(handler: Handler) -> Handler:
            if prefix:
                self._prefixes.append((method, path, handler))
            else:
                self._exact[(method, path)] = handler
            return handler

        return register

    def _find(self, method: str, path: str) -> Handler | None:
        handler = self._exact.get((method, path))
        if handler is not None:
            return handler
        for m, p, h in self._prefixes:
            if m == method and path.startswith(p):
                return h
        return None

    async def not_found(self, request: Recorded) -> Reply:
        """The answer for a path nothing handles; fakes override it with their dialect."""
        return Reply.json({"error": f"fake has no route for {request.method} {request.path}"}, 404)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        recorded = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
            headers=headers,
            body=body,
        )
        self.requests.append(recorded)
        try:
            handler = self._find(recorded.method, recorded.path) or self.not_found
            reply = await handler(recorded)
            await self._answer(reply, receive, send, recorded)
        finally:
            recorded.finished.set()

    async def _answer(self, reply: Reply, receive: Receive, send: Send, recorded: Recorded) -> None:
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        if reply.chunks is None:
            await send({"type": "http.response.body", "body": reply.body, "more_body": False})
            return
        body_complete = False  # hypercorn reports a disconnect during the final send, too
        async with trio.open_nursery() as nursery:

            async def watch_disconnect() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        if not body_complete:
                            recorded.cancelled = True
                            nursery.cancel_scope.cancel()
                        return

            nursery.start_soon(watch_disconnect)
            async for chunk in reply.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if reply.break_after:
                raise _BreakConnection("stream cut off on purpose")
            body_complete = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            nursery.cancel_scope.cancel()


def _quiet_config(host: str) -> Config:
    config = Config()
    config.bind = [f"{host}:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("tests.fake")
    config.graceful_timeout = 0.5
    return config


@asynccontextmanager
async def serve(app: Callable[[Scope, Receive, Send], Awaitable[None]], host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port for the duration of the block.

    The proxy under test (llmproxy's ``App``) runs on the server the program
    itself uses, :mod:`llmproxy.server`; fakes run on hypercorn, an independent
    HTTP implementation, so neither side's quirks can hide the other's.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:41234``.
    """
    from llmproxy.asgi.app import App
    from llmproxy.server import serve as llmproxy_serve

    async with trio.open_nursery() as nursery:
        shutdown = trio.Event()
        if isinstance(app, App):
            start = partial(
                llmproxy_serve, app, host=host, port=0, grace=0.5, shutdown_trigger=shutdown.wait
            )
        else:
            start = partial(hypercorn_serve, app, _quiet_config(host), shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
        binds: list[str] = await nursery.start(start)
        try:
            yield binds[0]
        finally:
            shutdown.set()
