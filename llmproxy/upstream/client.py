"""The upstream HTTP/1.1 client: h11 over anyio streams, one small pool per origin.

Every relayed call (Messages API, Gemini, Vertex, the claude.ai completion
stream) and every OAuth call goes through :class:`Client`. Only claude.ai's
control calls, which must look like a browser speaking HTTP/2, use httpx
(:mod:`.http`).

Why not httpx here: stack.md §3.4 measured httpx 0.28 / httpcore 1.0.9 at
500-5,000 µs of CPU per request, growing with the number of pooled connections
(its pool does quadratic work and polls every idle socket on each request and
each release), against ~100-150 µs for a plain h11 client. The relay path
spends most of its time here, so it gets the lean client; the API mirrors the
part of httpx's the adapters use (``status_code``, ``headers``, ``aiter_raw``,
``aread``, ``aclose``, ``json``), so moving a call between the two is trivial.

h11 writes each request and parses each answer's status line and headers; the
body is read past h11 by :mod:`.framing` (chunked, sized or to EOF), which is
several times cheaper per relayed chunk; each exchange gets a fresh h11 state,
dropped once the head is parsed.

What it keeps right:

- **Pool.** Idle connections wait per origin, newest first (LIFO keeps the few
  warm ones warm), at most :data:`MAX_IDLE_PER_ORIGIN`, dropped after
  :data:`IDLE_EXPIRY` seconds. Checkout and release are O(1).
- **Stale connections.** A pooled connection the server closed meanwhile is
  noticed before use by one non-blocking ``MSG_PEEK`` (an idle HTTP/1.1
  connection must have nothing to read), and if the server closes it in the
  instant between, a request that got *no byte* of answer on a *reused*
  connection is sent once more on a fresh one.
- **Hanging up.** Closing a response before its end closes the socket: that is
  how a stop sequence or a client disconnect stops the upstream generating.
- **Connecting.** Every address of the name, raced when there are several
  (see :mod:`.dial`).
- **Timeouts.** Connecting (TCP, proxy, TLS) has :data:`CONNECT_TIMEOUT`;
  writing the request has :data:`WRITE_TIMEOUT`. A stream has no read timeout,
  because a model may think for minutes between events (the relay pings the
  client meanwhile); short calls pass ``timeout`` for the whole exchange.
- **Proxies.** ``http://`` and ``https://`` proxies (``CONNECT`` tunnel for
  https origins, absolute-form requests for plain http), and ``socks5://`` /
  ``socks5h://`` (see :mod:`.tunnel`), with credentials from the proxy URL.
- **TLS.** certifi's CA bundle, ALPN ``http/1.1``, SNI and hostname checks.
- **Errors.** Every transport failure is an :class:`UpstreamUnreachable` (502)
  or :class:`UpstreamTimeout` (504) naming the host, never the URL (a Gemini
  key can be in the query string).
"""

from __future__ import annotations

import functools
import json
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlencode, urlsplit

import anyio
import anyio.abc
import h11
import sniffio
from anyio.streams.tls import TLSStream

from ..errors import UpstreamError
from .dial import connect_tcp
from .framing import FramingError, UntilClose, body_reader
from .tls import ssl_context
from .tunnel import ProxyURL, open_connect_tunnel, open_socks5

__all__ = [
    "CALL_TIMEOUT",
    "CONNECT_TIMEOUT",
    "Client",
    "Headers",
    "ReadResponse",
    "Response",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]

CONNECT_TIMEOUT = 15.0
CALL_TIMEOUT = 60.0
"""For short JSON calls (OAuth, lookups, token exchanges): the whole exchange."""
WRITE_TIMEOUT = 60.0
IDLE_EXPIRY = 30.0
"""Seconds an idle connection is kept; below the keep-alive of the servers we call."""
MAX_IDLE_PER_ORIGIN = 256
"""Idle connections kept per origin. It must exceed the concurrency a proxy sees:
with 32, 64 concurrent clients made half of all upstream requests open (and then
close) a new connection, which cost 10-15 % of the proxy's CPU per request at
c=64 (``tests/bench``). Idle sockets cost the proxy a few hundred bytes each, and
expire after :data:`IDLE_EXPIRY`."""
_UNBLOCKED_WRITE = 16 * 1024
"""A request this small fits the send buffer of a connection with nothing in
flight, so writing it cannot stall; only bigger ones pay for a timeout scope."""
RECEIVE_SIZE = 65536
_MAX_HEAD = 256 * 1024

_DONE = h11.DONE
_NEED_DATA = h11.NEED_DATA
_Data = h11.Data
_EndOfMessage = h11.EndOfMessage
_PEEK_FLAGS = socket.MSG_PEEK | socket.MSG_DONTWAIT


class UpstreamUnreachable(UpstreamError):
    """The connection to the upstream failed: connect, proxy, TLS, reset, bad framing."""

    def __init__(self, message: str, *, status: int = 502) -> None:
        super().__init__(message, status=status)


class UpstreamTimeout(UpstreamUnreachable):
    """The upstream did not connect, accept the request or answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=504)


class ReadResponse(Protocol):
    """What error handling needs of an answer whose body was read: ours or httpx's."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class Origin(NamedTuple):
    """Where a connection goes: the pool key."""

    scheme: str
    host: str
    port: int


class _Target(NamedTuple):
    origin: Origin
    path: bytes
    """Origin-form request target (``/v1/messages?x=1``)."""
    absolute: bytes
    """Absolute-form target, for plain-http requests through an http proxy."""
    host_header: bytes


@functools.lru_cache(maxsize=512)
def _target(url: str) -> _Target:
    """Split ``url`` once; the relay calls the same few URLs over and over."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {scheme}://…")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    absolute = f"{scheme}://{host_header}{path}"
    return _Target(Origin(scheme, host, port), path.encode(), absolute.encode(), host_header.encode())


class Headers(Mapping[str, str]):
    """Response headers, read case-insensitively; repeated names are joined with ``, ``."""

    __slots__ = ("raw", "_map")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        """The ``(lowercase name, value)`` pairs as they came."""
        self._map: dict[str, str] | None = None

    def _lookup(self) -> dict[str, str]:
        found = self._map
        if found is None:
            found = {}
            for name, value in self.raw:
                key, text = name.decode("latin-1"), value.decode("latin-1")
                found[key] = f"{found[key]}, {text}" if key in found else text
            self._map = found
        return found

    def __getitem__(self, name: str) -> str:
        return self._lookup()[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._lookup().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in order (``set-cookie``)."""
        wanted = name.lower().encode("latin-1")
        return [value.decode("latin-1") for key, value in self.raw if key == wanted]

    def __repr__(self) -> str:
        return f"Headers({[key.decode('latin-1') for key, _ in self.raw]})"  # names only: values may be secret


class _Connection:
    """One upstream socket (each exchange on it gets a fresh h11 state)."""

    __slots__ = ("stream", "origin", "sock", "plain", "wait_readable", "idle_since")

    def __init__(self, stream: anyio.abc.ByteStream, origin: Origin) -> None:
        self.stream = stream
        self.origin = origin
        try:
            raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        except anyio.TypedAttributeLookupError:
            raw = None
        # asyncio hands out a TransportSocket wrapper, which cannot peek: there a
        # stale connection is caught by the one retry instead (see Client.stream).
        self.sock: socket.socket | None = raw if isinstance(raw, socket.socket) else None
        # Under trio, a plain socket is read directly (see _receive). asyncio's
        # transports own their sockets, so there the stream does the reading.
        direct = not isinstance(stream, TLSStream) and sniffio.current_async_library() == "trio"
        self.plain = self.sock if direct else None
        self.wait_readable: Callable[[socket.socket], Awaitable[None]] | None = None
        if direct:
            import trio  # only ever under trio; anyio's wrapper costs a backend lookup per call

            self.wait_readable = trio.lowlevel.wait_readable
        self.idle_since = 0.0

    def looks_alive(self) -> bool:
        """True unless the server closed (or wrote to) this idle connection."""
        sock = self.sock
        if sock is None:
            return True
        try:
            sock.recv(1, _PEEK_FLAGS)  # EOF, or bytes nobody asked for
        except BlockingIOError:
            return True
        except OSError:
            pass
        return False


class Response:
    """An upstream answer whose body may still be arriving.

    Iterate :meth:`aiter_raw` or call :meth:`aread`; always :meth:`aclose` (it
    returns the connection to the pool when the body was read to its end, and
    hangs up otherwise).
    """

    __slots__ = (
        "status_code", "reason", "headers", "_client", "_conn", "_content", "_host", "_reader",
        "_early", "_keep_alive",
    )

    def __init__(
        self,
        client: Client,
        conn: _Connection,
        head: h11.Response,
        method: str,
        headers: Headers,
        keep_alive: bool,
        early: bytes,
    ) -> None:
        self.status_code = head.status_code
        self.reason = head.reason.decode("latin-1")
        self.headers = headers
        self._client = client
        self._conn: _Connection | None = conn
        self._content: bytes | None = None
        self._host = conn.origin.host
        self._reader = reader = body_reader(method, head.status_code, headers.raw)
        # A body without framing ends only when the server closes the connection.
        self._keep_alive = (
            keep_alive and head.http_version == b"1.1" and not isinstance(reader, UntilClose)
        )
        # Body bytes that came in the same read as the head; after a body that
        # is already complete they can only be junk that rules the connection out.
        self._early = early
        if self._early and self._reader.done:
            self._keep_alive = False

    def aiter_raw(self) -> _Body:
        """The body as the socket delivers it (no re-chunking, no decoding)."""
        return _Body(self)

    async def aread(self) -> bytes:
        """The whole body (kept: later calls and :attr:`content` return it)."""
        if self._content is None:
            parts = [chunk async for chunk in self.aiter_raw()]
            self._content = parts[0] if len(parts) == 1 else b"".join(parts)
        return self._content

    @property
    def content(self) -> bytes:
        """The body read by :meth:`aread` (or by :meth:`Client.request`)."""
        if self._content is None:
            raise RuntimeError("the response body has not been read")
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    async def aclose(self) -> None:
        """Release the connection: back to the pool if the body ended, else closed."""
        conn, self._conn = self._conn, None
        if conn is not None:
            reader = self._reader
            await self._client._release(
                conn, reusable=reader.done and self._keep_alive and not reader.leftover
            )

    def __repr__(self) -> str:
        return f"<Response {self.status_code} from {self._host}>"


class _Body:
    """Async iterator over a response body; a class, not a generator, so an
    unfinished one needs no finalizer and each chunk costs one ``__anext__``."""

    __slots__ = ("response",)

    def __init__(self, response: Response) -> None:
        self.response = response

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        response = self.response
        conn = response._conn
        reader = response._reader
        if conn is None or reader.done:
            raise StopAsyncIteration
        while True:
            data = response._early
            if data:
                response._early = b""
            else:
                data = await _receive(conn, response._host)
            try:
                out = reader.feed(data)
            except FramingError as exc:
                raise UpstreamUnreachable(f"{response._host} sent a malformed body: {exc}") from None
            if out:
                return out
            if reader.done:
                raise StopAsyncIteration


async def _receive(conn: _Connection, host: str) -> bytes:
    """The next bytes from the upstream (``b""`` at EOF).

    On a plain socket this waits for readability *first* and then reads once:
    trio's socket read tries the read first, which on a stream whose next event
    is not there yet (the usual case) costs a failed syscall per chunk.
    """
    sock = conn.plain
    if sock is not None:
        wait_readable = conn.wait_readable
        assert wait_readable is not None
        while True:
            try:
                await wait_readable(sock)
                return sock.recv(RECEIVE_SIZE)
            except BlockingIOError:
                continue  # woken without data after all
            except OSError as exc:
                raise UpstreamUnreachable(f"reading from {host} failed: {_why(exc)}") from None
    try:
        return await conn.stream.receive(RECEIVE_SIZE)
    except anyio.EndOfStream:
        return b""
    except (OSError, anyio.BrokenResourceError, ssl.SSLError) as exc:
        raise UpstreamUnreachable(f"reading from {host} failed: {_why(exc)}") from None


async def _open_tcp(host: str, port: int) -> anyio.abc.SocketStream:
    sock = await connect_tcp(host, port)
    try:
        return await anyio.abc.SocketStream.from_socket(sock)
    except BaseException:  # cancelled by the connect timeout, say
        sock.close()
        raise


def _why(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, anyio.BrokenResourceError) and cause is not None:
        exc = cause
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class _Stale(Exception):
    """A reused connection was closed before any byte of the answer came: try anew."""


class Client:
    """Pooled HTTP/1.1 requests to upstreams, optionally through one proxy.

    Args:
        proxy: ``http://``, ``https://``, ``socks5://`` or ``socks5h://`` URL, or
            ``None`` for direct connections.
        context: TLS settings for https origins (default: certifi's bundle).
        clock: Monotonic seconds, for idle expiry.
    """

    def __init__(
        self,
        proxy: str | None = None,
        *,
        context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._proxy = ProxyURL.parse(proxy) if proxy else None
        self._context = context
        self._clock = clock
        self._idle: dict[Origin, list[_Connection]] = {}
        self._closed = False

    # -- requests ----------------------------------------------------------------

    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
    ) -> Response:
        """Send a request; return once the status line and headers arrived.

        The body is still on the wire: iterate it with ``aiter_raw()``, then
        ``aclose()`` the response (in a ``finally``).

        Raises:
            UpstreamUnreachable: connecting, sending or reading the head failed.
            UpstreamTimeout: connecting or sending took too long.
        """
        target = _target(url)
        head = self._head(method, target, headers, len(content) if content or method != "GET" else None)
        for attempt in (0, 1):
            conn, reused = await self._checkout(target.origin)
            try:
                return await self._exchange(conn, head, content, reused and attempt == 0)
            except _Stale:
                await _close(conn)
            except BaseException:
                await _close(conn)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """A whole exchange: the response comes back with its body read.

        ``json`` or ``data`` (form fields) encode the body and set its type;
        ``timeout`` bounds the whole exchange (short calls only).
        """
        all_headers = dict(headers or {})
        if json is not None:
            content = _json_bytes(json)
            all_headers.setdefault("content-type", "application/json")
        elif data is not None:
            content = urlencode(data).encode()
            all_headers.setdefault("content-type", "application/x-www-form-urlencoded")
        host = _target(url).origin.host
        with anyio.move_on_after(timeout if timeout is not None else float("inf")):
            response = await self.stream(method, url, headers=all_headers, content=content or b"")
            try:
                await response.aread()
            finally:
                await response.aclose()
            return response
        raise UpstreamTimeout(f"{host} did not answer within {timeout:g} s")

    async def get(self, url: str, **kw: Any) -> Response:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> Response:
        return await self.request("POST", url, **kw)

    async def put(self, url: str, **kw: Any) -> Response:
        return await self.request("PUT", url, **kw)

    # -- the exchange ------------------------------------------------------------

    def _head(
        self, method: str, target: _Target, headers: Mapping[str, str] | None, length: int | None
    ) -> h11.Request:
        absolute = self._proxy is not None and self._proxy.is_http and target.origin.scheme == "http"
        fields = [(b"host", target.host_header)]
        if headers:
            fields.extend((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())
        if length is not None:
            fields.append((b"content-length", str(length).encode()))
        if absolute:
            assert self._proxy is not None
            if self._proxy.authorization:
                fields.append((b"proxy-authorization", self._proxy.authorization))
        return h11.Request(
            method=method, target=target.absolute if absolute else target.path, headers=fields
        )

    async def _exchange(
        self, conn: _Connection, head: h11.Request, content: bytes, retry_if_stale: bool
    ) -> Response:
        # h11 only writes the request and parses the answer's head; it is not
        # kept, so an open stream does not hold its buffers and state.
        machine = _new_machine()
        host = conn.origin.host
        out = machine.send(head)
        if content:
            out += machine.send(_Data(data=content))
        out += machine.send(_EndOfMessage())
        try:
            if len(out) <= _UNBLOCKED_WRITE:
                await conn.stream.send(out)
            else:
                with anyio.fail_after(WRITE_TIMEOUT):
                    await conn.stream.send(out)
        except TimeoutError:
            raise UpstreamTimeout(f"sending the request to {host} timed out") from None
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError) as exc:
            if retry_if_stale:
                raise _Stale from None
            raise UpstreamUnreachable(f"sending the request to {host} failed: {_why(exc)}") from None
        got_bytes = False
        while True:
            try:
                event = machine.next_event()
            except h11.RemoteProtocolError as exc:
                if retry_if_stale and not got_bytes:
                    raise _Stale from None
                raise UpstreamUnreachable(f"{host} sent a malformed answer: {exc}") from None
            if event is _NEED_DATA:
                try:
                    data = await _receive(conn, host)
                except UpstreamUnreachable:
                    if retry_if_stale and not got_bytes:
                        raise _Stale from None
                    raise
                got_bytes = got_bytes or bool(data)
                machine.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                raw = list(event.headers)
                keep_alive = machine.our_state is _DONE and not _says_close(raw)
                early, _ = machine.trailing_data
                return Response(
                    self, conn, event, head.method.decode(), Headers(raw), keep_alive, early
                )
            if isinstance(event, h11.InformationalResponse):
                continue
            raise UpstreamUnreachable(f"{host} closed the connection without answering")

    # -- the pool ----------------------------------------------------------------

    async def _checkout(self, origin: Origin) -> tuple[_Connection, bool]:
        if self._closed:
            raise RuntimeError("the upstream client is closed")
        idle = self._idle.get(origin)
        if idle:
            oldest_allowed = self._clock() - IDLE_EXPIRY
            while idle:
                conn = idle.pop()
                if conn.idle_since >= oldest_allowed and conn.looks_alive():
                    return conn, True
                await _close(conn)
        return _Connection(await self._connect(origin), origin), False

    async def _release(self, conn: _Connection, *, reusable: bool) -> None:
        """A response is closed: pool its connection if the exchange ended cleanly.

        Closed before its end, the connection is hung up: that is what stops an
        upstream generating for a client that left or a stop sequence that matched.
        """
        if not reusable or self._closed:
            await _close(conn)
            return
        idle = self._idle.setdefault(conn.origin, [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            await _close(idle.pop(0))
        conn.idle_since = self._clock()
        idle.append(conn)

    async def _connect(self, origin: Origin) -> anyio.abc.ByteStream:
        proxy = self._proxy
        where = f"{origin.host}:{origin.port}" if proxy is None else f"the proxy {proxy.host}:{proxy.port}"
        try:
            with anyio.fail_after(CONNECT_TIMEOUT):
                if proxy is None:
                    stream: anyio.abc.ByteStream = await _open_tcp(origin.host, origin.port)
                elif proxy.is_http:
                    stream = await _open_tcp(proxy.host, proxy.port)
                    if proxy.scheme == "https":
                        stream = await _tls(stream, proxy.host, self._tls_context())
                    if origin.scheme == "https":
                        await open_connect_tunnel(stream, proxy, origin.host, origin.port)
                else:
                    stream = await _open_tcp(proxy.host, proxy.port)
                    await open_socks5(stream, proxy, origin.host, origin.port)
                if origin.scheme == "https":
                    where = f"{origin.host}:{origin.port} (TLS)"
                    stream = await _tls(stream, origin.host, self._tls_context())
                return stream
        except TimeoutError:
            raise UpstreamTimeout(f"connecting to {where} timed out") from None
        except (OSError, anyio.BrokenResourceError, anyio.EndOfStream, ssl.SSLError) as exc:
            raise UpstreamUnreachable(f"cannot connect to {where}: {_why(exc)}") from None

    def _tls_context(self) -> ssl.SSLContext:
        return self._context or ssl_context(("http/1.1",))

    async def aclose(self) -> None:
        """Close every idle connection; the client cannot be used afterwards."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await _close(conn)

    def idle_count(self) -> int:
        """How many connections wait in the pool (for tests and the admin status)."""
        return sum(len(conns) for conns in self._idle.values())


def _says_close(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a ``Connection`` header asks to close after this exchange."""
    for name, value in headers:
        if name == b"connection" and b"close" in (token.strip() for token in value.lower().split(b",")):
            return True
    return False


def _new_machine() -> h11.Connection:
    return h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)


async def _tls(stream: anyio.abc.ByteStream, host: str, context: ssl.SSLContext) -> anyio.abc.ByteStream:
    return await TLSStream.wrap(stream, hostname=host, ssl_context=context, standard_compatible=False)


async def _close(conn: _Connection) -> None:
    with anyio.CancelScope(shield=True):
        await anyio.aclose_forcefully(conn.stream)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
