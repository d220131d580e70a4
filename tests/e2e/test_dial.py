"""Opening upstream connections (:mod:`llmproxy.upstream.dial`) against real loopback sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from llmproxy.upstream import dial


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


@pytest.fixture
def refusing_port() -> int:
    """A loopback port nobody listens on (bound, never listening: connects are refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def silent() -> Iterator[tuple[str, int]]:
    """An address whose connects hang: a listener with a full accept queue drops new SYNs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    fillers = []
    address = sock.getsockname()
    for _ in range(4):  # enough to fill a backlog of 0 (Linux accepts backlog + 1)
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(address)
        fillers.append(filler)
    yield address
    for filler in fillers:
        filler.close()
    sock.close()


async def test_an_ip_literal_is_connected_directly(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    sock = await dial.connect_tcp("127.0.0.1", port)
    try:
        peer, _ = listener.accept()
        assert peer.getpeername() == sock.getsockname()
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        peer.close()
    finally:
        sock.close()


async def test_a_refused_connection_says_why(refusing_port: int) -> None:
    with pytest.raises(OSError) as caught:
        await dial.connect_tcp("127.0.0.1", refusing_port)
    assert "refused" in str(caught.value).lower()


async def test_a_name_is_resolved_and_its_families_interleaved(monkeypatch: pytest.MonkeyPatch) -> None:
    v6 = socket.AF_INET6
    v4 = socket.AF_INET
    answers = [
        (v6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 443, 0, 0)),
        (v6, socket.SOCK_STREAM, 6, "", ("2001:db8::2", 443, 0, 0)),
        (v6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 443, 0, 0)),  # a duplicate
        (v4, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 443)),
    ]

    async def getaddrinfo(host: str, port: int, **_: object) -> list[object]:
        assert (host, port) == ("api.example", 443)
        return answers

    monkeypatch.setattr(dial.anyio, "getaddrinfo", getaddrinfo)
    assert await dial.resolve("api.example", 443) == [
        (v6, ("2001:db8::1", 443, 0, 0)),
        (v4, ("192.0.2.1", 443)),
        (v6, ("2001:db8::2", 443, 0, 0)),
    ]


async def test_a_name_without_an_ip_address_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def getaddrinfo(host: str, port: int, **_: object) -> list[object]:
        return []

    monkeypatch.setattr(dial.anyio, "getaddrinfo", getaddrinfo)
    with pytest.raises(OSError, match="no IPv4 or IPv6 address"):
        await dial.connect_tcp("nowhere.example", 443)


async def test_a_silent_address_gives_way_to_the_next_one(
    monkeypatch: pytest.MonkeyPatch,
    silent: tuple[str, int],
    listener: socket.socket,
    autojump_clock: trio.testing.MockClock,
) -> None:
    good = listener.getsockname()

    async def resolve(host: str, port: int) -> list[object]:
        return [(socket.AF_INET, silent), (socket.AF_INET, good)]

    monkeypatch.setattr(dial, "resolve", resolve)
    started = trio.current_time()
    sock = await dial.connect_tcp("api.example", 443)  # the silent connect alone hangs for minutes
    try:
        assert sock.getpeername() == good
        # (the clock is trio's mock clock: it jumps over the happy-eyeballs delay)
        assert trio.current_time() - started >= dial.HAPPY_EYEBALLS_DELAY
    finally:
        sock.close()


async def test_a_failed_address_gives_way_at_once(
    monkeypatch: pytest.MonkeyPatch, refusing_port: int, listener: socket.socket
) -> None:
    good = listener.getsockname()

    async def resolve(host: str, port: int) -> list[object]:
        return [(socket.AF_INET, ("127.0.0.1", refusing_port)), (socket.AF_INET, good)]

    monkeypatch.setattr(dial, "resolve", resolve)
    started = trio.current_time()
    sock = await dial.connect_tcp("api.example", 443)
    try:
        assert sock.getpeername() == good
        assert trio.current_time() - started < dial.HAPPY_EYEBALLS_DELAY
    finally:
        sock.close()


async def test_when_every_address_fails_each_is_named(
    monkeypatch: pytest.MonkeyPatch, refusing_port: int
) -> None:
    async def resolve(host: str, port: int) -> list[object]:
        return [(socket.AF_INET, ("127.0.0.1", refusing_port)), (socket.AF_INET, ("127.0.0.2", refusing_port))]

    monkeypatch.setattr(dial, "resolve", resolve)
    with pytest.raises(OSError) as caught:
        await dial.connect_tcp("api.example", 443)
    text = str(caught.value)
    assert "127.0.0.1: connection refused" in text
    assert "127.0.0.2: connection refused" in text
