"""The socket layer: plain stdlib sockets, driven by trio's public low-level waits.

Why not ``trio.SocketStream``? Each ``send_all`` there enters a conflict
detector, an error-translating context manager and a memoryview, and each
socket call tries the syscall, then yields to the scheduler even when the
syscall succeeded at once. Per SSE chunk that overhead is about as large as the
rest of the write path. Here a call tries the syscall first and only waits
(``trio.lowlevel.wait_readable``/``wait_writable``, which are checkpoints) when
the kernel says it would block. Where a checkpoint is still needed for
fairness, the caller (``_http11``) places it.

Failures of the peer are not exceptions here: :func:`recv` returns ``b""`` on a
reset as on EOF, :func:`send_all` returns ``False``. A proxy sees clients go
away all the time; it is not an error.
"""

from __future__ import annotations

import errno
import socket
from typing import Any, Final

import trio

__all__ = ["accept", "close", "listen", "recv", "send_all", "shutdown_write"]

_IGNORED_ACCEPT_ERRORS: Final = frozenset(
    getattr(errno, name)
    for name in ("ECONNABORTED", "EPROTO", "EPERM", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN",
                 "ENONET", "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH")
    if hasattr(errno, name)
)
"""accept() errors that concern one aborted connection, not the listener (as in trio)."""

NOTSENT_LOWAT: Final = 16 * 1024
"""``TCP_NOTSENT_LOWAT``, as trio sets it: the kernel keeps at most this much unsent
data queued, so a slow client pushes back on the app instead of hiding stale
stream chunks in the send buffer."""


async def listen(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Listening, non-blocking sockets for every address ``host`` resolves to.

    For an address literal that is one socket. IPv6 sockets are ``V6ONLY``, so
    ``::`` does not also take the IPv4 port.
    """
    infos = await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    listeners: list[socket.socket] = []
    try:
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            listeners.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in listeners:
            sock.close()
        raise
    return listeners


async def accept(listener: socket.socket) -> tuple[socket.socket, Any]:
    """The next connection (non-blocking, ``TCP_NODELAY``) and the peer's address.

    Raises:
        trio.ClosedResourceError: :func:`close` was called on ``listener``.
        OSError: The process is out of file descriptors or memory.
    """
    while True:
        try:
            sock, address = listener.accept()
        except BlockingIOError:
            await trio.lowlevel.wait_readable(listener)
            continue
        except OSError as exc:
            if listener.fileno() == -1:
                raise trio.ClosedResourceError("listener closed") from None
            if exc.errno in _IGNORED_ACCEPT_ERRORS:
                continue
            raise
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if hasattr(socket, "TCP_NOTSENT_LOWAT"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
        return sock, address


async def recv(sock: socket.socket, size: int, *, wait_first: bool = False) -> bytes:
    """Up to ``size`` bytes; ``b""`` on EOF, reset or a closed socket.

    A checkpoint only when it has to wait. ``wait_first`` skips the first try when
    the caller has just seen the socket empty (it saves a failing syscall).
    """
    if wait_first:
        await trio.lowlevel.wait_readable(sock)
    while True:
        try:
            return sock.recv(size)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)
        except OSError:
            return b""


async def send_all(sock: socket.socket, data: bytes) -> bool:
    """Write all of ``data``; ``False`` if the peer is gone.

    One ``send`` syscall when the kernel takes it all (the usual case for a
    JSON response or an SSE chunk); a checkpoint only when it has to wait.
    If cancelled while waiting, part of ``data`` may have been written.
    """
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        return False
    if sent == len(data):
        return True
    with memoryview(data) as view:
        while sent < len(view):
            await trio.lowlevel.wait_writable(sock)
            try:
                sent += sock.send(view[sent:])
            except BlockingIOError:
                pass
            except OSError:
                return False
    return True


def shutdown_write(sock: socket.socket) -> None:
    """Send FIN (half-close), ignoring a peer that is already gone."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def close(sock: socket.socket) -> None:
    """Close ``sock`` at once, waking any task waiting on it (with ClosedResourceError)."""
    if sock.fileno() != -1:
        trio.lowlevel.notify_closing(sock)
        sock.close()
