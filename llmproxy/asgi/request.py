"""One HTTP exchange: what the client sent, and the helpers that answer it.

A :class:`Request` wraps the ASGI ``scope``/``receive``/``send`` triple. It reads
the body under a size limit, parses JSON with errors that name the problem, and
answers with JSON, plain text or a server-sent event stream that is flushed one
event per ASGI message. It also remembers what a log line and a retry decision
need: the status sent, whether any byte reached the client, the model and the
(masked) credential that served the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..errors import BadRequest, PayloadTooLarge
from .families import Family, dumps, error_body, error_event
from .types import Receive, Scope, Send

if TYPE_CHECKING:
    from ..errors import ProxyError
    from ..proxy import Proxy
    from .routing import Route

__all__ = ["ClientDisconnected", "Request"]

SSE_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)


class ClientDisconnected(Exception):
    """The client went away before we finished reading its request."""


class Request:
    """The state of one request/response exchange.

    Attributes:
        method: Upper-case HTTP method.
        path: The path relative to the app's mount point.
        family: The wire dialect errors are rendered in.
        route: The matched route, once routing is done.
        body: The raw body, once read.
        status: The status sent, or ``None`` before the response started.
        model: The model the client asked for, for the log line.
        credential: The masked credential that served the request, for the log line.
        app: The running proxy (settings, clients, pools).
        json_body: The body parsed as a JSON object, on routes that take JSON.
        disconnected: Whether the client went away mid-request.
    """

    __slots__ = (
        "scope",
        "receive",
        "_send",
        "method",
        "path",
        "family",
        "route",
        "body",
        "status",
        "streaming",
        "finished",
        "model",
        "credential",
        "app",
        "json_body",
        "disconnected",
        "started_at",
        "error_kind",
        "_headers",
        "_query",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        self.scope = scope
        self.receive = receive
        self._send = send
        self.method: str = scope["method"]
        self.path = path
        self.family = Family.ANTHROPIC
        self.route: Route | None = None
        self.body = b""
        self.status: int | None = None
        self.streaming = False
        self.finished = False
        self.model: str | None = None
        self.credential: str | None = None
        self.app: Proxy = None  # type: ignore[assignment]  # set by the App
        self.json_body: dict[str, Any] = {}
        self.disconnected = False
        self.started_at = 0.0
        self.error_kind: str | None = None
        """The kind of the error this request was answered with, for the counters."""
        self._headers: dict[str, str] | None = None
        self._query: dict[str, str] | None = None

    # -- what the client sent -------------------------------------------------

    @property
    def headers(self) -> Mapping[str, str]:
        """Request headers, lower-cased names, repeated headers joined by ``, ``."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self.scope["headers"]:
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self._headers = headers
        return self._headers

    def header(self, name: str) -> str | None:
        """One request header by lower-case name."""
        return self.headers.get(name)

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters; the last one wins when a name repeats."""
        if self._query is None:
            raw = self.scope.get("query_string", b"").decode("latin-1")
            self._query = dict(parse_qsl(raw, keep_blank_values=True))
        return self._query

    async def read_body(self, limit: int) -> bytes:
        """Read the whole body, refusing more than ``limit`` bytes.

        A declared ``Content-Length`` over the limit is refused before reading
        anything, so a client cannot make us buffer 32 MiB just to be told no.

        Raises:
            PayloadTooLarge: the body is, or claims to be, larger than ``limit``.
            ClientDisconnected: the client left while sending.
        """
        declared = self.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(_too_large(limit))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(_too_large(limit))
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.body

    def json(self) -> dict[str, Any]:
        """The body parsed as a JSON object.

        Raises:
            BadRequest: the body is empty, is not JSON, or is JSON but not an object.
        """
        if not self.body.strip():
            raise BadRequest("Request body is empty; expected a JSON object")
        try:
            # RFC 8259: JSON between systems is UTF-8; json.loads would guess UTF-16/32.
            value = json.loads(self.body.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise BadRequest(f"Request body is not UTF-8 (invalid byte at offset {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise BadRequest(
                f"Malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        if not isinstance(value, dict):
            raise BadRequest(
                f"Request body must be a JSON object, got {_json_type_name(value)}"
            )
        return value

    # -- answering ----------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the response status line has gone out (no retry after this)."""
        return self.status is not None

    async def start(
        self, status: int, headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> None:
        """Send the status line and headers."""
        self.status = status
        raw = list(headers)
        raw.append((b"access-control-allow-origin", b"*"))
        await self._send({"type": "http.response.start", "status": status, "headers": raw})

    async def send_bytes(
        self,
        body: bytes,
        *,
        status: int = 200,
        content_type: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a whole response in one body message."""
        raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if headers:
            raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        await self.start(status, raw)
        self.finished = True  # before the send: a disconnect after it is not a hang-up
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def send_json(
        self, obj: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``obj`` as a JSON response."""
        await self.send_bytes(
            dumps(obj), status=status, content_type=b"application/json", headers=headers
        )

    async def send_text(
        self, text: str, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send a plain-text response."""
        await self.send_bytes(
            text.encode(), status=status, content_type=b"text/plain; charset=utf-8", headers=headers
        )

    async def start_stream(self, headers: Mapping[str, str] | None = None) -> None:
        """Start a ``text/event-stream`` response; events follow via :meth:`send_event`."""
        raw = list(SSE_HEADERS)
        if headers:
            raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        self.streaming = True
        await self.start(200, raw)

    def server_pings(self, interval: float, ping: bytes) -> bool:
        """Have the server write ``ping`` into the stream after ``interval`` quiet seconds.

        Only llmproxy's own server offers this (the ``llmproxy.keepalive``
        extension); it saves a task per stream. Returns False elsewhere: the
        caller then pings by itself (:class:`~llmproxy.upstream.relay.KeepAlive`).
        """
        extensions = self.scope.get("extensions")
        keepalive = extensions.get("llmproxy.keepalive") if extensions else None
        if keepalive is None:
            return False
        keepalive["start"](interval, ping)
        return True

    async def send_event(self, data: bytes) -> None:
        """Send one already-encoded event (or several) and flush it to the client."""
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end_stream(self) -> None:
        """Close the response body."""
        if not self.finished:
            self.finished = True
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def send_error(self, exc: ProxyError) -> None:
        """Answer with ``exc`` in this route family's dialect.

        Before the headers went out this is an ordinary error response with the
        error's status (never 200). After a stream started it is an error event,
        then the end of the stream, so the client never sees a silent cut.
        """
        if not self.started:
            await self.send_bytes(
                error_body(self.family, exc),
                status=exc.status,
                content_type=b"application/json",
                headers=exc.headers,
            )
        elif self.streaming and not self.finished:
            await self.send_event(error_event(self.family, exc))
            await self.end_stream()


def _too_large(limit: int) -> str:
    return f"Request body is larger than the {limit // (1024 * 1024)} MiB limit"


def _json_type_name(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
