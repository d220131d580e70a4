"""llmproxy's upstream HTTP/1.1 client against real loopback servers written here.

The servers are raw trio listeners speaking h11 (or raw bytes), so each test
controls framing, timing and hang-ups exactly: keep-alive reuse, a pooled
connection the server closed, a request lost on a reused connection (retried
once), a fresh connection lost (not retried), early close hanging up, every body
framing, cut bodies, timeouts, HTTP and SOCKS5 proxies, and TLS through a
CONNECT tunnel (certificates from trustme).
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import h11
import pytest
import trio
import trio.testing
import trustme

from llmproxy.upstream.client import (
    IDLE_EXPIRY,
    Client,
    Headers,
    UpstreamTimeout,
    UpstreamUnreachable,
)

JSON = b'{"ok":true}'


class Peer:
    """The server side of one accepted connection, speaking h11."""

    def __init__(self, stream: trio.abc.Stream, index: int) -> None:
        self.stream = stream
        self.index = index
        self.h11 = h11.Connection(h11.SERVER)

    async def request(self) -> tuple[h11.Request, bytes] | None:
        """The next request and its body, or ``None`` when the client hung up."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        head: h11.Request | None = None
        body = b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    data = b""
                self.h11.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return head, body

    async def answer(
        self, status: int = 200, body: bytes = JSON, headers: list[tuple[str, str]] | None = None
    ) -> None:
        fields = headers if headers is not None else [("content-type", "application/json")]
        if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in fields):
            fields = [*fields, ("content-length", str(len(body)))]
        out = self.h11.send(h11.Response(status_code=status, headers=fields))
        out += self.h11.send(h11.Data(data=body)) if body else b""
        out += self.h11.send(h11.EndOfMessage())
        await self.stream.send_all(out)

    async def hang_up(self) -> None:
        await self.stream.aclose()


Handler = Callable[[Peer], Awaitable[None]]


@dataclass
class Server:
    port: int = 0
    connections: int = 0
    requests: list[tuple[h11.Request, bytes]] = field(default_factory=list)
    done: trio.Event = field(default_factory=trio.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Server]:
    """A loopback server calling ``handler`` once per accepted connection."""
    server = Server()

    async def accepted(stream: trio.SocketStream) -> None:
        server.connections += 1
        try:
            await handler(Peer(stream, server.connections))
        finally:
            await stream.aclose()
            server.done.set()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, accepted, 0, host="127.0.0.1"))
        server.port = listeners[0].socket.getsockname()[1]
        yield server
        nursery.cancel_scope.cancel()


def recording(server_ref: list[Server], peer_handler: Callable[[Peer, Server], Awaitable[None]]) -> Handler:
    async def handler(peer: Peer) -> None:
        await peer_handler(peer, server_ref[0])

    return handler


async def raw_requests(peer: Peer) -> AsyncIterator[bytes]:
    """Request heads (of bodiless requests), for servers that answer in raw bytes."""
    buffered = b""
    while True:
        while b"\r\n\r\n" not in buffered:
            data = await peer.stream.receive_some(65536)
            if not data:
                return
            buffered += data
        head, _, buffered = buffered.partition(b"\r\n\r\n")
        yield head


async def answer_all(peer: Peer) -> None:
    while (got := await peer.request()) is not None:
        # Real servers (nginx among them) send names in title case.
        await peer.answer(body=b'{"n":%d}' % peer.index, headers=[("Content-Type", "application/json")])


async def test_keep_alive_reuses_one_connection() -> None:
    async with serving(answer_all) as server:
        client = Client()
        for _ in range(3):
            response = await client.post(f"{server.base}/v1/messages", json={"a": 1})
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "application/json"
            assert response.json() == {"n": 1}
        assert server.connections == 1
        assert client.idle_count() == 1
        await client.aclose()


async def test_the_pool_keeps_as_many_connections_as_were_busy_at_once() -> None:
    """64 concurrent calls leave 64 reusable connections: none is closed for lack of room."""
    release = trio.Event()
    waiting = 0

    async def slow_answers(peer: Peer) -> None:
        nonlocal waiting
        while await peer.request() is not None:
            waiting += 1
            await release.wait()
            await peer.answer()

    async with serving(slow_answers) as server:
        client = Client()
        async with trio.open_nursery() as nursery:
            for _ in range(64):
                nursery.start_soon(client.get, f"{server.base}/")
            while waiting < 64:
                await trio.testing.wait_all_tasks_blocked()
            release.set()
        assert client.idle_count() == 64
        async with trio.open_nursery() as nursery:
            for _ in range(64):
                nursery.start_soon(client.get, f"{server.base}/")
        assert server.connections == 64
        await client.aclose()


async def test_the_request_goes_out_as_given() -> None:
    seen: list[tuple[h11.Request, bytes]] = []

    async def record(peer: Peer) -> None:
        while (got := await peer.request()) is not None:
            seen.append(got)
            await peer.answer()

    async with serving(record) as server:
        client = Client()
        await client.post(
            f"{server.base}/v1/x?alt=sse&key=k",
            content=b"payload",
            headers={"Authorization": "Bearer t", "user-agent": "claude-code/1"},
        )
        await client.get(f"{server.base}/plain")
    head, body = seen[0]
    assert head.method == b"POST" and head.target == b"/v1/x?alt=sse&key=k"
    headers = dict(head.headers)
    assert headers[b"host"] == f"127.0.0.1:{server.port}".encode()
    assert headers[b"authorization"] == b"Bearer t"
    assert headers[b"user-agent"] == b"claude-code/1"
    assert headers[b"content-length"] == b"7" and body == b"payload"
    assert b"accept-encoding" not in headers  # bytes are relayed raw: never ask for gzip
    get_head, _ = seen[1]
    assert b"content-length" not in dict(get_head.headers)


async def test_an_idle_connection_the_server_closed_is_not_used() -> None:
    async def one_then_close(peer: Peer) -> None:
        await peer.request()
        await peer.answer()

    async with serving(one_then_close) as server:
        client = Client()
        await client.get(f"{server.base}/a")
        await server.done.wait()  # the server hung up on the idle connection
        await trio.testing.wait_all_tasks_blocked()
        response = await client.get(f"{server.base}/b")
        assert response.status_code == 200
        assert server.connections == 2


async def test_a_request_lost_on_a_reused_connection_is_sent_again_once() -> None:
    requests: list[bytes] = []

    async def lose_the_second(peer: Peer) -> None:
        while (got := await peer.request()) is not None:
            requests.append(got[0].target)
            if peer.index == 1 and len(requests) == 2:
                return  # read it, then hang up without a byte of answer
            await peer.answer()

    async with serving(lose_the_second) as server:
        client = Client()
        await client.get(f"{server.base}/first")
        response = await client.get(f"{server.base}/second")
        assert response.status_code == 200
    assert requests == [b"/first", b"/second", b"/second"]
    assert server.connections == 2


async def test_a_fresh_connection_lost_without_an_answer_is_an_error_not_a_retry() -> None:
    requests: list[bytes] = []

    async def lose(peer: Peer) -> None:
        got = await peer.request()
        assert got is not None
        requests.append(got[0].target)

    async with serving(lose) as server:
        client = Client()
        with pytest.raises(UpstreamUnreachable) as caught:
            await client.post(f"{server.base}/v1/messages", content=b"{}")
    assert caught.value.status == 502
    assert "127.0.0.1" in caught.value.message
    assert requests == [b"/v1/messages"]


async def test_closing_a_response_early_hangs_up_the_connection() -> None:
    hung_up = trio.Event()

    async def stream_until_gone(peer: Peer) -> None:
        await peer.request()
        head = h11.Response(status_code=200, headers=[("content-type", "text/event-stream")])
        await peer.stream.send_all(peer.h11.send(head) + peer.h11.send(h11.Data(data=b"event: a\n\n")))
        # The client has what it wants; it must now hang up rather than wait for the end.
        assert await peer.stream.receive_some(100) == b""
        hung_up.set()

    async with serving(stream_until_gone) as server:
        client = Client()
        response = await client.stream("POST", f"{server.base}/v1/messages", content=b"{}")
        chunks = response.aiter_raw()
        assert await chunks.__anext__() == b"event: a\n\n"
        await response.aclose()
        await hung_up.wait()
        assert client.idle_count() == 0


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
async def test_every_body_framing_is_read_whole(framing: str) -> None:
    pieces = [b"one,", b"two,", b"three"]

    async def answer(peer: Peer) -> None:
        await peer.request()
        if framing == "content-length":
            headers = [("content-length", str(sum(map(len, pieces))))]
        elif framing == "chunked":
            headers = [("transfer-encoding", "chunked")]
        else:
            headers = [("connection", "close")]
        await peer.stream.send_all(peer.h11.send(h11.Response(status_code=200, headers=headers)))
        for piece in pieces:
            await peer.stream.send_all(peer.h11.send(h11.Data(data=piece)))
            await trio.testing.wait_all_tasks_blocked()
        await peer.stream.send_all(peer.h11.send(h11.EndOfMessage()))

    async with serving(answer) as server:
        client = Client()
        response = await client.stream("GET", f"{server.base}/")
        received = [chunk async for chunk in response.aiter_raw()]
        await response.aclose()
    assert b"".join(received) == b"one,two,three"
    assert client.idle_count() == (0 if framing == "close" else 1)


async def test_chunk_extensions_and_trailers_are_skipped_and_the_connection_is_reused() -> None:
    async def answer(peer: Peer) -> None:
        async for _ in raw_requests(peer):
            head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            await peer.stream.send_all(head + b"4;name=x\r\nabcd\r\n")
            await trio.testing.wait_all_tasks_blocked()
            await peer.stream.send_all(b"2\r\nef\r\n0\r\nx-checksum: 1\r\n\r\n")

    async with serving(answer) as server:
        client = Client()
        for _ in range(2):
            response = await client.stream("GET", f"{server.base}/")
            received = [chunk async for chunk in response.aiter_raw()]
            await response.aclose()
            assert received == [b"abcd", b"ef"]
        assert server.connections == 1


@pytest.mark.parametrize(
    "answer_bytes",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok", id="close"),
        pytest.param(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", id="http/1.0"),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200", id="bytes after"),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nok", id="unframed"),
    ],
)
async def test_a_connection_the_answer_rules_out_is_not_pooled(answer_bytes: bytes) -> None:
    async def answer(peer: Peer) -> None:
        async for _ in raw_requests(peer):
            await peer.stream.send_all(answer_bytes)
            if b"content-length" not in answer_bytes:
                return  # the body ends where the connection does

    async with serving(answer) as server:
        client = Client()
        for _ in range(2):
            response = await client.get(f"{server.base}/")
            assert response.content == b"ok"
            assert client.idle_count() == 0
        assert server.connections == 2


async def test_an_answer_without_a_body_ends_at_its_head() -> None:
    async def answer(peer: Peer) -> None:
        async for head in raw_requests(peer):
            if head.startswith(b"HEAD "):
                await peer.stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n")
            else:
                await peer.stream.send_all(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with serving(answer) as server:
        client = Client()
        head = await client.request("HEAD", f"{server.base}/")
        assert head.status_code == 200 and head.content == b""
        empty = await client.get(f"{server.base}/")
        assert empty.status_code == 204 and empty.content == b""
        assert server.connections == 1


async def test_a_malformed_chunk_is_a_502_naming_the_host() -> None:
    async def answer(peer: Peer) -> None:
        await peer.request()
        await peer.stream.send_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0x5\r\nhello\r\n")

    async with serving(answer) as server:
        client = Client()
        response = await client.stream("GET", f"{server.base}/")
        with pytest.raises(UpstreamUnreachable, match="127.0.0.1 sent a malformed body") as caught:
            await response.aread()
        await response.aclose()
        assert caught.value.status == 502
        assert client.idle_count() == 0


async def test_a_body_cut_short_is_an_upstream_error() -> None:
    async def cut(peer: Peer) -> None:
        await peer.request()
        head = h11.Response(status_code=200, headers=[("content-length", "100")])
        await peer.stream.send_all(peer.h11.send(head) + peer.h11.send(h11.Data(data=b"x" * 10)))

    async with serving(cut) as server:
        client = Client()
        response = await client.stream("GET", f"{server.base}/")
        with pytest.raises(UpstreamUnreachable, match="127.0.0.1"):
            await response.aread()
        await response.aclose()


async def test_an_unreachable_upstream_is_named_by_host_never_by_url() -> None:
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Client()
    with pytest.raises(UpstreamUnreachable) as caught:
        await client.get(f"http://127.0.0.1:{port}/v1beta/models?key=SECRET-KEY")
    assert caught.value.status == 502
    assert f"cannot connect to 127.0.0.1:{port}" in caught.value.message
    assert "SECRET" not in caught.value.message and "v1beta" not in caught.value.message


async def test_a_short_call_that_gets_no_answer_times_out(autojump_clock: trio.abc.Clock) -> None:
    async def silent(peer: Peer) -> None:
        await peer.request()
        await trio.sleep_forever()

    async with serving(silent) as server:
        client = Client()
        with pytest.raises(UpstreamTimeout) as caught:
            await client.get(f"{server.base}/api/bootstrap", timeout=60)
    assert caught.value.status == 504
    assert "did not answer within 60 s" in caught.value.message


async def test_idle_connections_expire() -> None:
    now = [1000.0]
    async with serving(answer_all) as server:
        client = Client(clock=lambda: now[0])
        await client.get(f"{server.base}/")
        now[0] += IDLE_EXPIRY - 1
        await client.get(f"{server.base}/")
        assert server.connections == 1
        now[0] += IDLE_EXPIRY + 1
        await client.get(f"{server.base}/")
        assert server.connections == 2


def test_headers_are_case_insensitive_and_keep_repeats() -> None:
    headers = Headers([(b"set-cookie", b"a=1"), (b"content-type", b"text/plain"), (b"set-cookie", b"b=2")])
    assert headers["Content-Type"] == "text/plain"
    assert headers.get("CONTENT-TYPE") == "text/plain"
    assert headers.get("missing", "x") == "x"
    assert "Set-Cookie" in headers and "nope" not in headers
    assert headers["set-cookie"] == "a=1, b=2"
    assert headers.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert "a=1" not in repr(headers)  # values can be secrets


# -- proxies -------------------------------------------------------------------------


async def _pipe(a: trio.abc.Stream, b: trio.abc.Stream) -> None:
    async with trio.open_nursery() as nursery:

        async def one_way(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
            try:
                while data := await source.receive_some(65536):
                    await sink.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            nursery.cancel_scope.cancel()

        nursery.start_soon(one_way, a, b)
        nursery.start_soon(one_way, b, a)


async def _read_head(stream: trio.abc.Stream) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        head += await stream.receive_some(1)  # byte by byte: leave the tunnel's bytes alone
    return head


async def test_plain_http_through_an_http_proxy_uses_absolute_form_and_credentials() -> None:
    seen: list[h11.Request] = []

    async def proxy(peer: Peer) -> None:
        while (got := await peer.request()) is not None:
            seen.append(got[0])
            await peer.answer(body=b'{"via":"proxy"}')

    async with serving(proxy) as server:
        client = Client(f"http://us%40r:p%3Ass@127.0.0.1:{server.port}")
        response = await client.get("http://upstream.example:8080/v1/models")
        assert response.json() == {"via": "proxy"}
    head = seen[0]
    assert head.target == b"http://upstream.example:8080/v1/models"
    headers = dict(head.headers)
    assert headers[b"host"] == b"upstream.example:8080"
    assert headers[b"proxy-authorization"] == b"Basic " + base64.b64encode(b"us@r:p:ss")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_https_through_a_connect_tunnel(ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    connects: list[bytes] = []

    async def origin(peer: Peer) -> None:
        tls = trio.SSLStream(peer.stream, server_context, server_side=True)
        peer.stream = tls
        while (got := await peer.request()) is not None:
            await peer.answer(body=b'{"tls":true}')

    async with serving(origin) as upstream:

        async def tunnel(peer: Peer) -> None:
            head = await _read_head(peer.stream)
            connects.append(head)
            onward = await trio.open_tcp_stream("127.0.0.1", upstream.port)
            await peer.stream.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await _pipe(peer.stream, onward)

        async with serving(tunnel) as proxy:
            client = Client(f"http://user:pw@127.0.0.1:{proxy.port}", context=client_context)
            for _ in range(2):
                response = await client.get(f"https://127.0.0.1:{upstream.port}/v1/messages")
                assert response.json() == {"tls": True}
            assert upstream.connections == 1  # the tunnel is pooled like any connection
    first_line, rest = connects[0].split(b"\r\n", 1)
    assert first_line == f"CONNECT 127.0.0.1:{upstream.port} HTTP/1.1".encode()
    assert b"Proxy-Authorization: Basic " + base64.b64encode(b"user:pw") in rest


async def test_a_certificate_nobody_vouches_for_is_refused(ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def origin(peer: Peer) -> None:
        tls = trio.SSLStream(peer.stream, server_context, server_side=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError:
            pass

    async with serving(origin) as upstream:
        client = Client()  # certifi's bundle does not know the test CA
        with pytest.raises(UpstreamUnreachable, match=r"cannot connect to 127.0.0.1:\d+ \(TLS\)"):
            await client.get(f"https://127.0.0.1:{upstream.port}/")


async def test_a_proxy_that_refuses_the_tunnel_is_a_502_naming_it() -> None:
    async def refuse(peer: Peer) -> None:
        await _read_head(peer.stream)
        await peer.stream.send_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")

    async with serving(refuse) as proxy:
        client = Client(f"http://user:hunter2@127.0.0.1:{proxy.port}")
        with pytest.raises(UpstreamUnreachable) as caught:
            await client.get("https://api.anthropic.com/v1/models")
    message = caught.value.message
    assert f"the proxy 127.0.0.1:{proxy.port}" in message and "407" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_socks5_with_a_password(scheme: str) -> None:
    asked: list[bytes] = []

    async with serving(answer_all) as upstream:

        async def socks(peer: Peer) -> None:
            stream = peer.stream

            async def exactly(size: int) -> bytes:
                data = b""
                while len(data) < size:
                    data += await stream.receive_some(size - len(data))
                return data

            assert await exactly(2) == b"\x05\x02" and set(await exactly(2)) == {0, 2}
            await stream.send_all(b"\x05\x02")
            version, user_length = await exactly(2)
            user = await exactly(user_length)
            password = await exactly((await exactly(1))[0])
            ok = (version, user, password) == (1, b"me", b"secret")
            await stream.send_all(b"\x01\x00" if ok else b"\x01\x01")
            header = await exactly(4)
            assert header[:3] == b"\x05\x01\x00"
            if header[3] == 3:
                asked.append(await exactly((await exactly(1))[0]))
            else:
                asked.append(trio.socket.inet_ntoa(await exactly(4)).encode())
            assert int.from_bytes(await exactly(2), "big") == upstream.port
            await stream.send_all(b"\x05\x00\x00\x01" + bytes(4) + bytes(2))
            onward = await trio.open_tcp_stream("127.0.0.1", upstream.port)
            await _pipe(stream, onward)

        async with serving(socks) as proxy:
            client = Client(f"{scheme}://me:secret@127.0.0.1:{proxy.port}")
            host = "localhost" if scheme == "socks5h" else "127.0.0.1"
            response = await client.get(f"http://{host}:{upstream.port}/")
            assert response.status_code == 200
    assert asked == [b"localhost" if scheme == "socks5h" else b"127.0.0.1"]


def test_the_client_works_under_asyncio_too() -> None:
    """Embedded in an asyncio ASGI server, the same client (and its socket waits) must work."""
    import http.server
    import threading

    import anyio

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:

        async def calls() -> list[bytes]:
            client = Client()
            url = f"http://127.0.0.1:{server.server_address[1]}/echo"
            answers = [(await client.post(url, content=b"%d" % n)).content for n in range(3)]
            assert client.idle_count() == 1
            await client.aclose()
            return answers

        assert anyio.run(calls, backend="asyncio") == [b"0", b"1", b"2"]
    finally:
        server.shutdown()
        server.server_close()
