"""``llmproxy.server.serve``, the lean HTTP/1.1 server, over real loopback sockets.

Each test serves a small ASGI app written here on 127.0.0.1 port 0 and talks to it
with raw ``trio`` sockets, usually through an h11 client connection (which also
checks that every response is well-formed HTTP/1.1).

Time: every test runs on ``MockClock(autojump_threshold=0)`` (the ``autojump_clock``
fixture). Timeouts (keep-alive, grace, head) are observed by letting the clock jump,
never by sleeping, and a test that deadlocks ends at the ``GUARD`` deadline instead of
hanging. Loopback sockets deliver data within the ``send`` syscall, so the clock never
jumps while bytes are in flight.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import h11
import pytest
import trio
import trio.testing

from llmproxy.asgi.types import Message, Receive, Scope, Send
from llmproxy.server import LifespanFailure, serve
from llmproxy.server._http11 import REAP_INTERVAL

HOST = "127.0.0.1"
GUARD = 1000.0
"""Mock seconds after which a stuck test fails (longer than every server timeout)."""

App = Callable[[Scope, Receive, Send], Awaitable[None]]


# -- harness ---------------------------------------------------------------------------


@dataclass
class Running:
    """A server started by :func:`running`."""

    url: str
    host: str
    port: int
    shutdown: trio.Event
    stopped: trio.Event


@asynccontextmanager
async def running(
    app: App, *, grace: float = 5.0, keep_alive: float = 75.0, host: str = HOST
) -> AsyncIterator[Running]:
    """Serve ``app`` for the block; shut down (gracefully) at its end."""
    shutdown = trio.Event()
    stopped = trio.Event()

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        try:
            await serve(
                app,
                host=host,
                port=0,
                grace=grace,
                shutdown_trigger=shutdown.wait,
                keep_alive=keep_alive,
                task_status=task_status,
            )
        finally:
            stopped.set()

    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            urls: list[str] = await nursery.start(run)
            port = int(urls[0].rsplit(":", 1)[1])
            yield Running(urls[0], host, port, shutdown, stopped)
            shutdown.set()


class Client:
    """One client connection, speaking h11."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    async def send(self, *events: h11.Event) -> None:
        for event in events:
            data = self.h11.send(event)
            if data:
                await self.stream.send_all(data)

    async def event(self) -> h11.Event:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.receive_some(65536))
                continue
            assert isinstance(event, h11.Event), event
            return event

    async def response(self) -> tuple[h11.Response, bytes]:
        """The next final response and its whole body."""
        event = await self.event()
        while isinstance(event, h11.InformationalResponse):
            event = await self.event()
        assert isinstance(event, h11.Response), event
        body = b""
        while True:
            part = await self.event()
            if isinstance(part, h11.Data):
                body += part.data
            else:
                assert isinstance(part, h11.EndOfMessage), part
                return event, body

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> tuple[h11.Response, bytes]:
        """Send one request and read its response; ready for the next one after."""
        if self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        all_headers = [("host", "test"), *(headers or [])]
        if body is not None:
            all_headers.append(("content-length", str(len(body))))
        await self.send(h11.Request(method=method, target=target, headers=all_headers))
        if body:
            await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())
        return await self.response()


@asynccontextmanager
async def connect(server: Running) -> AsyncIterator[Client]:
    stream = await trio.open_tcp_stream(server.host, server.port)
    async with stream:
        yield Client(stream)


async def read_to_eof(stream: trio.SocketStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


def header(response: h11.Response, name: bytes) -> bytes | None:
    values = [v for k, v in response.headers if k == name]
    assert len(values) <= 1, f"{name!r} sent {len(values)} times"
    return values[0] if values else None


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(send: Send, body: bytes, status: int = 200, **extra: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    headers += [(k.replace("_", "-").encode(), v) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers ``<method> <path> <body>``; raises on lifespan (= no lifespan support)."""
    if scope["type"] != "http":
        raise RuntimeError("http only")
    body = await read_body(receive)
    await respond(send, f"{scope['method']} {scope['path']} ".encode() + body)


# -- connections and keep-alive -----------------------------------------------------------


async def test_keep_alive_serves_several_requests_on_one_connection(autojump_clock: Any) -> None:
    clients: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        clients.append(scope["client"])
        await respond(send, scope["path"].encode())

    async with running(app) as server, connect(server) as client:
        for n in range(3):
            response, body = await client.request("GET", f"/{n}")
            assert response.status_code == 200
            assert body == f"/{n}".encode()
            assert header(response, b"connection") is None
        assert len(clients) == 3
        assert len(set(clients)) == 1, "all three on one connection"


async def test_pipelined_requests_are_answered_in_order_without_losing_bytes(
    autojump_clock: Any,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        body = await read_body(receive)
        if scope["path"] == "/1":
            await trio.sleep(1)  # the others are queued behind it
        await respond(send, scope["path"].encode() + b":" + body)

    wire = (
        b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /3 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"GET /4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    async with running(app) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(wire)
            data = await read_to_eof(stream)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 4
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in data.split(b"HTTP/1.1 200 OK\r\n")[1:]]
    assert bodies == [b"/1:", b"/2:hello", b"/3:abc", b"/4:"]


async def test_pipelined_request_read_while_waiting_for_disconnect_is_kept(
    autojump_clock: Any,
) -> None:
    """A watcher blocked in receive() reads the next request's bytes: they must survive."""
    second_sent = trio.Event()
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        if scope["path"] != "/first":
            await respond(send, b"second")
            return
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                seen.append((await receive())["type"])

            nursery.start_soon(watch)
            await second_sent.wait()
            await trio.testing.wait_all_tasks_blocked()  # the watcher has read the bytes
            assert seen == [], "the client is still there: no disconnect yet"
            await respond(send, b"first")
        seen.append("app done")

    async with running(app) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n")
            await trio.testing.wait_all_tasks_blocked()
            await stream.send_all(b"GET /second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            second_sent.set()
            data = await read_to_eof(stream)
    assert seen == ["http.disconnect", "app done"], "the watcher is woken by the response end"
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.endswith(b"second")


async def test_client_connection_close_and_http10_close_after_the_response(
    autojump_clock: Any,
) -> None:
    async with running(echo) as server:
        async with connect(server) as client:
            response, body = await client.request("GET", "/a", [("connection", "close")])
            assert header(response, b"connection") == b"close"
            assert await client.stream.receive_some(100) == b""
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(b"GET /b HTTP/1.0\r\n\r\n")
            data = await read_to_eof(stream)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nGET /b ")


async def test_unread_request_body_is_drained_and_the_connection_kept(autojump_clock: Any) -> None:
    peers: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        peers.append(scope["client"])
        await respond(send, b"no", status=401)  # answered before reading the body

    async with running(app) as server, connect(server) as client:
        response, _ = await client.request("POST", "/", body=b"x" * 5000)
        assert response.status_code == 401
        response, _ = await client.request("POST", "/", body=b"y" * 10)
        assert response.status_code == 401
    assert len(peers) == 2
    assert peers[0] == peers[1]


# -- request bodies -----------------------------------------------------------------------


async def test_chunked_request_body_arrives_as_it_is_sent(autojump_clock: Any) -> None:
    messages: list[tuple[bytes, bool]] = []
    got_first = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        while True:
            message = await receive()
            messages.append((message["body"], message["more_body"]))
            got_first.set()
            if not message["more_body"]:
                break
        await respond(send, b"".join(body for body, _ in messages))

    async with running(app) as server, connect(server) as client:
        await client.send(
            h11.Request(
                method="POST", target="/", headers=[("host", "t"), ("transfer-encoding", "chunked")]
            ),
            h11.Data(data=b"first "),
        )
        await got_first.wait()
        assert messages == [(b"first ", True)], "delivered before the body is complete"
        await client.send(h11.Data(data=b"second"), h11.EndOfMessage())
        response, body = await client.response()
    assert response.status_code == 200
    assert body == b"first second"
    assert messages[-1][1] is False


async def test_expect_100_continue_is_answered_on_the_first_receive(autojump_clock: Any) -> None:
    async with running(echo) as server, connect(server) as client:
        await client.send(
            h11.Request(
                method="POST",
                target="/up",
                headers=[("host", "t"), ("content-length", "5"), ("expect", "100-continue")],
            )
        )
        informational = await client.event()
        assert isinstance(informational, h11.InformationalResponse)
        assert informational.status_code == 100
        await client.send(h11.Data(data=b"hello"), h11.EndOfMessage())
        response, body = await client.response()
    assert response.status_code == 200
    assert body == b"POST /up hello"


# -- responses ------------------------------------------------------------------------------


async def test_content_length_or_chunked_and_the_date_header(autojump_clock: Any) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        if scope["path"] == "/sized":
            await respond(send, b"12345")
        elif scope["path"] == "/dated":
            await respond(send, b"x", date=b"Thu, 01 Jan 1970 00:00:00 GMT")
        else:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"a", b"bb", b""):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b"ccc"})

    async with running(app) as server, connect(server) as client:
        sized, body = await client.request("GET", "/sized")
        assert body == b"12345"
        assert header(sized, b"content-length") == b"5"
        assert header(sized, b"transfer-encoding") is None
        assert header(sized, b"date") is not None
        assert header(sized, b"server") is None

        streamed, body = await client.request("GET", "/streamed")
        assert body == b"abbccc"
        assert header(streamed, b"transfer-encoding") == b"chunked"
        assert header(streamed, b"content-length") is None

        dated, _ = await client.request("GET", "/dated")
        assert header(dated, b"date") == b"Thu, 01 Jan 1970 00:00:00 GMT"


async def test_a_streamed_body_is_framed_for_the_client_it_goes_to(autojump_clock: Any) -> None:
    """Chunks for HTTP/1.1, raw bytes to EOF for HTTP/1.0, as sized when the app gives a length."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        headers = [(b"content-length", b"6")] if scope["path"] == "/sized" else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for part in (b"a", b"bb", b""):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"ccc"})

    async def raw(request: bytes) -> bytes:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(request)
            data = await read_to_eof(stream)
        return data.partition(b"\r\n\r\n")[2]

    async with running(app) as server:
        chunked = b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        assert await raw(chunked) == b"1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n0\r\n\r\n"
        assert await raw(b"GET / HTTP/1.0\r\n\r\n") == b"abbccc"
        sized = b"GET /sized HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        assert await raw(sized) == b"abbccc"


async def test_stream_chunks_are_written_as_they_are_sent(autojump_clock: Any) -> None:
    release = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: 2\n\n"})

    async with running(app) as server, connect(server) as client:
        await client.send(h11.Request(method="GET", target="/", headers=[("host", "t")]))
        await client.send(h11.EndOfMessage())
        assert isinstance(await client.event(), h11.Response)
        first = await client.event()
        assert isinstance(first, h11.Data)
        assert first.data == b"data: 1\n\n"
        release.set()
        second = await client.event()
        assert isinstance(second, h11.Data)
        assert second.data == b"data: 2\n\n"
        assert isinstance(await client.event(), h11.EndOfMessage)


async def test_a_tight_send_loop_does_not_starve_other_tasks(autojump_clock: Any) -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(100):  # nothing else awaited: only send() can yield
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            events.append("send")
        await send({"type": "http.response.body", "body": b""})

    async with running(app) as server, connect(server) as client, trio.open_nursery() as nursery:

        async def ticker() -> None:
            while True:
                events.append("tick")
                await trio.lowlevel.checkpoint()

        nursery.start_soon(ticker)
        _, body = await client.request("GET", "/")
        nursery.cancel_scope.cancel()
    assert body == b"x" * 100
    first, last = events.index("send"), len(events) - 1 - events[::-1].index("send")
    assert "tick" in events[first:last], "other tasks ran while the app streamed"


async def test_head_response_has_headers_but_no_body(autojump_clock: Any) -> None:
    async with running(echo) as server, connect(server) as client:
        response, body = await client.request("HEAD", "/x")
        assert response.status_code == 200
        assert header(response, b"content-length") == b"8"  # as for "HEAD /x "
        assert body == b""
        # No stray body bytes on the wire: the next response parses cleanly.
        response, body = await client.request("GET", "/y")
        assert body == b"GET /y "


# -- errors -----------------------------------------------------------------------------


async def test_malformed_request_gets_400_and_close(autojump_clock: Any) -> None:
    async with running(echo) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
            data = await read_to_eof(stream)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close\r\n" in data.lower()
    assert data.endswith(b"\r\n\r\nBad Request\n")


async def test_oversized_head_gets_431(autojump_clock: Any) -> None:
    # h11 refuses a head once more than 64 KiB of it sit in the buffer incomplete, so
    # what is refused for sure is a head longer than that plus one 64 KiB read.
    async with running(echo) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(
                b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (130 * 1024) + b"\r\n\r\n"
            )
            data = await read_to_eof(stream)
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


async def test_head_just_under_the_limit_is_accepted(autojump_clock: Any) -> None:
    async with running(echo) as server, connect(server) as client:
        response, _ = await client.request("GET", "/", [("x-big", "a" * (60 * 1024))])
    assert response.status_code == 200


@pytest.mark.parametrize("when", ["before start", "after start, before the body"])
async def test_app_error_before_anything_was_written_gives_500(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        if when != "before start":
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise ValueError("boom")

    caplog.set_level(logging.ERROR, "llmproxy.server")
    async with running(app) as server, connect(server) as client:
        response, body = await client.request("GET", "/p?secret=1", [("x-api-key", "sekrit")])
        assert response.status_code == 500
        assert body == b"Internal Server Error\n"
        assert header(response, b"connection") == b"close"
        assert await client.stream.receive_some(100) == b""
    records = [r for r in caplog.records if r.name == "llmproxy.server"]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert "GET /p" in records[0].getMessage()
    assert "sekrit" not in caplog.text
    assert "secret=1" not in caplog.text


async def test_app_error_mid_stream_closes_with_an_incomplete_body(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("boom")

    caplog.set_level(logging.ERROR, "llmproxy.server")
    async with running(app) as server, connect(server) as client:
        await client.send(h11.Request(method="GET", target="/", headers=[("host", "t")]))
        await client.send(h11.EndOfMessage())
        response = await client.event()
        assert isinstance(response, h11.Response)
        assert response.status_code == 200
        data = await client.event()
        assert isinstance(data, h11.Data)
        assert data.data == b"partial"
        with pytest.raises(h11.RemoteProtocolError):
            await client.event()  # EOF before the last chunk: never a fake success
    assert any(r.exc_info for r in caplog.records if r.name == "llmproxy.server")


async def test_app_that_returns_without_a_response_gives_500(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")

    caplog.set_level(logging.ERROR, "llmproxy.server")
    async with running(app) as server, connect(server) as client:
        response, _ = await client.request("GET", "/")
    assert response.status_code == 500
    assert "without a response" in caplog.text


async def test_app_that_returns_mid_stream_closes_with_an_incomplete_body(
    autojump_clock: Any,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})

    async with running(app) as server, connect(server) as client:
        await client.send(h11.Request(method="GET", target="/", headers=[("host", "t")]))
        await client.send(h11.EndOfMessage())
        assert isinstance(await client.event(), h11.Response)
        assert isinstance(await client.event(), h11.Data)
        with pytest.raises(h11.RemoteProtocolError):
            await client.event()


# -- disconnects --------------------------------------------------------------------------


async def test_client_disconnect_mid_stream_is_seen_by_receive(autojump_clock: Any) -> None:
    first_sent = trio.Event()
    app_done = trio.Event()
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        first_sent.set()
        seen["message"] = await receive()
        try:  # too late: dropped without an error (ASGI spec 2.3)
            for _ in range(3):
                await send({"type": "http.response.body", "body": b"two", "more_body": True})
        except BaseException as exc:
            seen["send error"] = exc
            raise
        finally:
            app_done.set()

    async with running(app, grace=30) as server:
        async with connect(server) as client:
            await client.send(h11.Request(method="GET", target="/", headers=[("host", "t")]))
            await client.send(h11.EndOfMessage())
            await first_sent.wait()
        await app_done.wait()
        assert seen == {"message": {"type": "http.disconnect"}}
        started = trio.current_time()
        server.shutdown.set()
        await server.stopped.wait()
        assert trio.current_time() - started < 1, "no connection left behind to wait for"


async def test_receive_gives_disconnect_once_the_response_is_complete(autojump_clock: Any) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        async with trio.open_nursery() as nursery:

            async def watch() -> None:  # like llmproxy's disconnect watcher
                seen.append((await receive())["type"])

            nursery.start_soon(watch)
            await trio.testing.wait_all_tasks_blocked()
            await respond(send, b"done")
        seen.append((await receive())["type"])  # and again, at once

    async with running(app) as server, connect(server) as client:
        response, body = await client.request("GET", "/")
        assert body == b"done"
        # The connection is still good: that disconnect was about the finished response.
        response, body = await client.request("GET", "/")
        assert body == b"done"
    assert seen == ["http.disconnect"] * 4


# -- lifespan -------------------------------------------------------------------------------


async def test_lifespan_startup_shutdown_and_state(autojump_clock: Any) -> None:
    events: list[str] = []
    release = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            scope["state"]["db"] = "connected"
            events.append("startup")
            await send({"type": "lifespan.startup.complete"})
            assert (await receive())["type"] == "lifespan.shutdown"
            events.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
        await read_body(receive)
        state = scope["state"]
        body = state["db"].encode() + b" " + str(state.get("mine", "-")).encode()
        state["mine"] = "set by request"  # a copy: the next request does not see it
        if scope["path"] == "/slow":
            await release.wait()
            events.append("slow request done")
        await respond(send, body)

    async with running(app) as server:
        assert events == ["startup"], "startup completes before serving"
        async with connect(server) as client:
            for _ in range(2):
                _, body = await client.request("GET", "/")
                assert body == b"connected -"
        async with connect(server) as client:
            await client.send(h11.Request(method="GET", target="/slow", headers=[("host", "t")]))
            await client.send(h11.EndOfMessage())
            await trio.testing.wait_all_tasks_blocked()
            server.shutdown.set()
            await trio.testing.wait_all_tasks_blocked()
            assert events == ["startup"], "lifespan shutdown waits for open responses"
            release.set()
            await client.response()
            await server.stopped.wait()
    assert events == ["startup", "slow request done", "shutdown"]


async def test_lifespan_startup_failure_raises(autojump_clock: Any) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with trio.fail_after(GUARD), pytest.raises(LifespanFailure, match="no database"):
        await serve(app, host=HOST, port=0, grace=1, shutdown_trigger=trio.sleep_forever)


async def test_app_without_lifespan_support_is_served(autojump_clock: Any) -> None:
    async def returns(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # returns on lifespan: hypercorn's trio worker crashes here
            await respond(send, b"ok")

    for app in (returns, echo):  # echo raises on lifespan
        async with running(app) as server, connect(server) as client:
            response, _ = await client.request("GET", "/")
            assert response.status_code == 200


# -- shutdown and timeouts ------------------------------------------------------------------


def sse_app(release: trio.Event, cancelled: trio.Event) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        try:
            await release.wait()
        except trio.Cancelled:
            cancelled.set()
            raise
        await send({"type": "http.response.body", "body": b"two"})

    return app


async def start_stream(client: Client) -> None:
    await client.send(h11.Request(method="GET", target="/", headers=[("host", "t")]))
    await client.send(h11.EndOfMessage())
    assert isinstance(await client.event(), h11.Response)
    assert isinstance(await client.event(), h11.Data)


async def test_shutdown_lets_a_stream_finish_within_grace_and_refuses_new_connections(
    autojump_clock: Any,
) -> None:
    release, cancelled = trio.Event(), trio.Event()
    async with running(sse_app(release, cancelled), grace=10) as server, connect(server) as client:
        await start_stream(client)
        started = trio.current_time()
        server.shutdown.set()
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(OSError, match="(?i)refused|connect"):
            await trio.open_tcp_stream(server.host, server.port)
        await trio.sleep(9)
        assert not server.stopped.is_set()
        release.set()
        data = await client.event()
        assert isinstance(data, h11.Data)
        assert data.data == b"two"
        assert isinstance(await client.event(), h11.EndOfMessage)
        assert await client.stream.receive_some(100) == b"", "closed after the response"
        await server.stopped.wait()
        assert trio.current_time() - started == pytest.approx(9)
    assert not cancelled.is_set()


async def test_response_started_during_shutdown_says_connection_close(autojump_clock: Any) -> None:
    release = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await release.wait()
        await respond(send, b"late")

    async with running(app) as server, connect(server) as client:
        await client.send(h11.Request(method="GET", target="/", headers=[("host", "t")]))
        await client.send(h11.EndOfMessage())
        await trio.testing.wait_all_tasks_blocked()
        server.shutdown.set()
        await trio.testing.wait_all_tasks_blocked()
        release.set()
        response, body = await client.response()
        assert body == b"late"
        assert header(response, b"connection") == b"close"
        assert await client.stream.receive_some(100) == b""


async def test_grace_expiry_cancels_the_stream(autojump_clock: Any) -> None:
    release, cancelled = trio.Event(), trio.Event()
    async with running(sse_app(release, cancelled), grace=10) as server, connect(server) as client:
        await start_stream(client)
        started = trio.current_time()
        server.shutdown.set()
        await server.stopped.wait()
        assert trio.current_time() - started == pytest.approx(10)
        assert cancelled.is_set()
        with pytest.raises(h11.RemoteProtocolError):
            await client.event()  # cut off mid-body


async def test_idle_connection_is_closed_at_once_on_shutdown(autojump_clock: Any) -> None:
    async with running(echo, grace=10) as server, connect(server) as client:
        await client.request("GET", "/")
        started = trio.current_time()
        server.shutdown.set()
        assert await client.stream.receive_some(100) == b""
        await server.stopped.wait()
        assert trio.current_time() - started == 0


async def test_idle_connection_is_closed_after_the_keep_alive_timeout(autojump_clock: Any) -> None:
    async with running(echo, keep_alive=5) as server, connect(server) as client:
        await client.request("GET", "/")
        await trio.sleep(4)
        response, _ = await client.request("GET", "/")  # still open; the timer starts again
        assert response.status_code == 200
        idle_since = trio.current_time()
        assert await client.stream.receive_some(100) == b""
        assert 5 <= trio.current_time() - idle_since <= 5 + REAP_INTERVAL


async def test_keep_alive_timeout_does_not_apply_while_the_app_runs(autojump_clock: Any) -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await trio.sleep(100)
        await respond(send, b"eventually")

    async with running(slow, keep_alive=5) as server, connect(server) as client:
        _, body = await client.request("GET", "/")
    assert body == b"eventually"


async def test_a_started_head_must_complete_within_60_s(autojump_clock: Any) -> None:
    async with running(echo, keep_alive=5) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
            started = trio.current_time()
            assert await stream.receive_some(100) == b""
            assert 60 <= trio.current_time() - started <= 60 + REAP_INTERVAL


# -- the scope --------------------------------------------------------------------------------


async def test_scope_fields(autojump_clock: Any) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        scopes.append(scope)
        await respond(send, b"")

    async with running(app) as server, connect(server) as client:
        await client.request("POST", "/a%20b/%E2%82%AC/c%2Fd?x=1&y=%20", [("X-Custom", "V")], b"")
        client_address = client.stream.socket.getsockname()
        scope = scopes[0]
        assert scope["type"] == "http"
        assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
        assert scope["http_version"] == "1.1"
        assert scope["method"] == "POST"
        assert scope["scheme"] == "http"
        assert scope["path"] == "/a b/€/c/d"
        assert scope["raw_path"] == b"/a%20b/%E2%82%AC/c%2Fd"
        assert scope["query_string"] == b"x=1&y=%20"
        assert scope["root_path"] == ""
        assert (b"x-custom", b"V") in scope["headers"]
        assert (b"host", b"test") in scope["headers"]
        assert scope["client"] == (HOST, client_address[1])
        assert scope["server"] == (HOST, server.port)
        assert "state" not in scope, "no lifespan state was set"

        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(b"GET /old HTTP/1.0\r\n\r\n")
            await read_to_eof(stream)
        assert scopes[1]["http_version"] == "1.0"
        assert scopes[1]["query_string"] == b""


async def test_websocket_upgrade_is_served_as_plain_http(autojump_clock: Any) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        scopes.append(scope)
        await respond(send, b"not a websocket", status=426, upgrade=b"websocket")

    async with running(app) as server, connect(server) as client:
        upgrade = [("connection", "Upgrade"), ("upgrade", "websocket")]
        response, body = await client.request("GET", "/ws", upgrade)
        assert response.status_code == 426
        assert body == b"not a websocket"
    assert [s["type"] for s in scopes] == ["http"]


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")
async def test_ipv6(autojump_clock: Any) -> None:
    clients: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        clients.append((scope["client"][0], scope["server"][0]))
        await respond(send, b"v6")

    async with running(app, host="::1") as server, connect(server) as client:
        assert server.url == f"http://[::1]:{server.port}"
        _, body = await client.request("GET", "/")
    assert body == b"v6"
    assert clients == [("::1", "::1")]


# -- misuse by the app ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.response.body", "body": b"x"}],
        [{"type": "http.response.start", "status": 200}] * 2,
        [{"type": "http.response.trailers"}],
    ],
    ids=["body before start", "start twice", "unknown type"],
)
async def test_messages_out_of_order_are_refused(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture, messages: list[Message]
) -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        try:
            for message in messages:
                await send(message)
        except RuntimeError as exc:
            errors.append(exc)
            raise

    caplog.set_level(logging.CRITICAL, "llmproxy.server")
    async with running(app) as server, connect(server) as client:
        response, _ = await client.request("GET", "/")
    assert response.status_code == 500
    assert len(errors) == 1


def test_serve_is_the_public_entry_point() -> None:
    import llmproxy.server as server_package

    assert server_package.serve is serve
    assert sorted(server_package.__all__) == server_package.__all__
    for name in server_package.__all__:
        assert getattr(server_package, name) is not None
