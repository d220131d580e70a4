"""Reaching an upstream through the ``proxy`` setting: HTTP CONNECT and SOCKS5.

Both handshakes are a few bytes each way, so they are written here rather than
pulled in as dependencies. Each takes a connected stream to the proxy and
returns once the proxy relays bytes to the origin; TLS to the origin (if any)
is started on top by :mod:`.client`. Errors name the proxy and what it said,
never its credentials.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import socket
from urllib.parse import unquote, urlsplit

import anyio
import anyio.abc

__all__ = ["ProxyRefused", "ProxyURL", "open_connect_tunnel", "open_socks5"]

_MAX_CONNECT_HEAD = 16 * 1024


class ProxyRefused(OSError):
    """The proxy answered, but would not open the tunnel."""


@dataclasses.dataclass(frozen=True, slots=True)
class ProxyURL:
    """A parsed ``proxy`` setting."""

    scheme: str
    host: str
    port: int
    username: str = dataclasses.field(default="", repr=False)
    password: str = dataclasses.field(default="", repr=False)

    @classmethod
    def parse(cls, url: str) -> ProxyURL:
        """Split ``http(s)://[user:pass@]host[:port]`` or ``socks5(h)://…``.

        Raises:
            ValueError: another scheme, or no host.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        defaults = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
        if scheme not in defaults or not parts.hostname:
            raise ValueError(f"unsupported proxy URL scheme {scheme!r}")
        return cls(
            scheme,
            parts.hostname,
            parts.port or defaults[scheme],
            unquote(parts.username or ""),
            unquote(parts.password or ""),
        )

    @property
    def is_http(self) -> bool:
        return self.scheme in ("http", "https")

    @property
    def authorization(self) -> bytes | None:
        """``Proxy-Authorization`` value for an http(s) proxy with credentials."""
        if not self.username and not self.password:
            return None
        pair = f"{self.username}:{self.password}".encode()
        return b"Basic " + base64.b64encode(pair)


async def open_connect_tunnel(stream: anyio.abc.ByteStream, proxy: ProxyURL, host: str, port: int) -> None:
    """Ask an HTTP proxy for a tunnel to ``host:port`` (RFC 9110 §9.3.6).

    Raises:
        ProxyRefused: the proxy answered with a non-2xx status.
        anyio.EndOfStream: the proxy hung up.
    """
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    head = "\r\n".join(lines).encode() + b"\r\n"
    if proxy.authorization:
        head += b"Proxy-Authorization: " + proxy.authorization + b"\r\n"
    await stream.send(head + b"\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        if len(received) > _MAX_CONNECT_HEAD:
            raise ProxyRefused(f"the proxy {proxy.host} sent an oversized answer to CONNECT")
        received += await stream.receive(4096)
    status_line = received.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise ProxyRefused(f"the proxy {proxy.host} answered CONNECT with {status_line[:80]!r}")
    if not 200 <= int(fields[1]) < 300:
        raise ProxyRefused(f"the proxy {proxy.host} refused the tunnel: {status_line[:80]}")


_SOCKS_REPLIES = {
    1: "general failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


async def open_socks5(stream: anyio.abc.ByteStream, proxy: ProxyURL, host: str, port: int) -> None:
    """Open a SOCKS5 ``CONNECT`` to ``host:port`` (RFC 1928, user/password per RFC 1929).

    ``socks5h://`` lets the proxy resolve the name; ``socks5://`` resolves it here.

    Raises:
        ProxyRefused: the proxy refused the method, the credentials or the connection.
        anyio.EndOfStream: the proxy hung up.
    """
    with_password = bool(proxy.username or proxy.password)
    await stream.send(b"\x05\x02\x00\x02" if with_password else b"\x05\x01\x00")
    version, method = await _exactly(stream, 2)
    if version != 5 or method not in ((0, 2) if with_password else (0,)):
        raise ProxyRefused(f"the SOCKS proxy {proxy.host} accepts none of our login methods")
    if method == 2:
        user, password = proxy.username.encode(), proxy.password.encode()
        await stream.send(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
        if (await _exactly(stream, 2))[1] != 0:
            raise ProxyRefused(f"the SOCKS proxy {proxy.host} rejected the username or password")
    await stream.send(b"\x05\x01\x00" + await _address(host, port, remote_dns=proxy.scheme == "socks5h"))
    _, reply, _, kind = await _exactly(stream, 4)
    if reply != 0:
        reason = _SOCKS_REPLIES.get(reply, f"error {reply}")
        raise ProxyRefused(f"the SOCKS proxy {proxy.host} could not connect: {reason}")
    if kind == 1:
        await _exactly(stream, 4 + 2)
    elif kind == 4:
        await _exactly(stream, 16 + 2)
    else:
        (length,) = await _exactly(stream, 1)
        await _exactly(stream, length + 2)


async def _address(host: str, port: int, *, remote_dns: bool) -> bytes:
    """The SOCKS5 address field for ``host``: an IP literal, or a name (resolved here unless remote)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if remote_dns:
            name = host.encode("idna")
            return b"\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big")
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ip = ipaddress.ip_address(infos[0][4][0])
    kind = b"\x01" if ip.version == 4 else b"\x04"
    return kind + ip.packed + port.to_bytes(2, "big")


async def _exactly(stream: anyio.abc.ByteStream, size: int) -> bytes:
    """Read exactly ``size`` bytes (the proxy speaks only when spoken to, so nothing extra arrives)."""
    data = b""
    while len(data) < size:
        data += await stream.receive(size - len(data))
    return data
