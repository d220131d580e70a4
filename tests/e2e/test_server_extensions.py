"""The built-in server's two extensions: ``llmproxy.hangup`` and ``llmproxy.keepalive``.

Real loopback sockets, trio's mock clock (see ``test_lean_server`` for the harness).
"""

from __future__ import annotations

from typing import Any

import h11
import pytest
import trio
import trio.testing

from llmproxy.asgi.types import Receive, Scope, Send
from llmproxy.server import _hangups, _server
from tests.e2e.test_lean_server import connect, read_body, running

PING = b"event: ping\ndata: {}\n\n"


def _request(path: str = "/") -> list[h11.Event]:
    return [h11.Request(method="GET", target=path, headers=[("host", "t")]), h11.EndOfMessage()]


async def test_a_hangup_mid_response_calls_the_app_back_and_nothing_else_does(autojump_clock: Any) -> None:
    """The app's own cancel scope is cancelled by the callback: no task awaits receive()."""
    called: list[str] = []
    first_sent = trio.Event()
    app_done = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        with trio.CancelScope() as cancel:

            def hung_up() -> None:
                called.append(scope["path"])
                cancel.cancel()

            scope["extensions"]["llmproxy.hangup"]["watch"](hung_up)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"one", "more_body": True})
            first_sent.set()
            await trio.sleep_forever()
        app_done.set()

    async with running(app) as server:
        async with connect(server) as client:
            await client.send(*_request("/gone"))
            await first_sent.wait()
        with trio.fail_after(1):
            await app_done.wait()
    assert called == ["/gone"]


async def test_pipelined_bytes_are_not_a_hangup(autojump_clock: Any) -> None:
    called: list[str] = []
    release = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        scope["extensions"]["llmproxy.hangup"]["watch"](lambda: called.append(scope["path"]))
        if scope["path"] == "/first":
            await release.wait()
        body = scope["path"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    async with running(app) as server, connect(server) as client:
        await client.send(*_request("/first"))
        await client.stream.send_all(b"GET /second HTTP/1.1\r\nhost: t\r\n\r\n")  # pipelined
        await trio.testing.wait_all_tasks_blocked()
        release.set()
        _, body = await client.response()
        assert body == b"/first"
        client.h11.start_next_cycle()
        _, body = await client.response()
        assert body == b"/second"
    assert called == []


async def test_a_hangup_after_the_response_is_not_reported(autojump_clock: Any) -> None:
    called: list[str] = []
    served = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        scope["extensions"]["llmproxy.hangup"]["watch"](lambda: called.append("late"))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        served.set()

    hangups: list[_hangups.Hangups] = []
    real_open = _hangups.open_hangups

    def spy() -> _hangups.Hangups | None:
        made = real_open()
        assert made is not None
        hangups.append(made)
        return made

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_server, "open_hangups", spy)
        async with running(app) as server:
            async with connect(server) as client:
                await client.send(*_request())
                await client.response()
            await trio.testing.wait_all_tasks_blocked()
            assert len(hangups[0]) == 0, "the socket left the epoll set with its cycle"
    assert served.is_set()
    assert called == []


async def test_without_epoll_the_extension_is_not_offered(autojump_clock: Any) -> None:
    offered: list[list[str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        offered.append(sorted(scope["extensions"]))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_server, "open_hangups", lambda: None)
        async with running(app) as server, connect(server) as client:
            await client.send(*_request())
            await client.response()
    assert offered == [["llmproxy.keepalive"]]


async def _stream_with_pings(
    client_reads: int, *, first_event: bool, interval: float = 5.0
) -> tuple[list[bytes], list[float]]:
    """Serve a stream that asks for pings and then stays quiet; return what the client read, and when."""
    silent = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        scope["extensions"]["llmproxy.keepalive"]["start"](interval, PING)
        if first_event:
            await send({"type": "http.response.body", "body": b"event: a\ndata: {}\n\n", "more_body": True})
        silent.set()
        await trio.sleep(interval * (client_reads + 0.5))
        await send({"type": "http.response.body", "body": b"event: z\ndata: {}\n\n", "more_body": False})

    parts: list[bytes] = []
    times: list[float] = []
    async with running(app) as server, connect(server) as client:
        await client.send(*_request())
        event = await client.event()
        assert isinstance(event, h11.Response) and event.status_code == 200
        await silent.wait()
        began = trio.current_time()
        while True:
            event = await client.event()
            if isinstance(event, h11.EndOfMessage):
                break
            assert isinstance(event, h11.Data)
            parts.append(bytes(event.data))
            times.append(trio.current_time() - began)
    return parts, times


async def test_the_server_pings_a_quiet_stream_between_events(autojump_clock: Any) -> None:
    parts, times = await _stream_with_pings(3, first_event=True)
    assert parts[0] == b"event: a\ndata: {}\n\n"
    assert parts[-1] == b"event: z\ndata: {}\n\n"
    pings = parts[1:-1]
    assert pings == [PING] * len(pings) and len(pings) >= 2
    gaps = [b - a for a, b in zip(times[:-1], times[1:-1])]
    # never early; late by at most one sweep
    assert all(5.0 <= gap <= 5.0 + _server.REAP_INTERVAL for gap in gaps), gaps


async def test_a_ping_sends_a_held_back_head_first(autojump_clock: Any) -> None:
    parts, _ = await _stream_with_pings(2, first_event=False)
    assert parts[0] == PING
    assert parts[-1] == b"event: z\ndata: {}\n\n"


async def test_pings_never_cut_into_a_slow_write(autojump_clock: Any) -> None:
    """While the client reads nothing, the server's write is stuck: no ping lands inside it."""
    big = b"event: big\ndata: " + b"x" * 4_000_000 + b"\n\n"
    wrote = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        scope["extensions"]["llmproxy.keepalive"]["start"](1.0, PING)
        await send({"type": "http.response.body", "body": big, "more_body": True})
        wrote.set()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async with running(app) as server, connect(server) as client:
        await client.send(*_request())
        await trio.sleep(30)  # the write is stuck on the full socket buffers meanwhile
        assert not wrote.is_set()
        _, body = await client.response()
    assert body == big
