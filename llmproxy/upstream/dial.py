"""Opening a TCP connection to an upstream (or a proxy): every address its name has.

``anyio.connect_tcp`` does this job, but it opens an anyio task group with an
event, a cancel scope and a task per attempt even when there is only one
address to try: about 9 KB per connection being opened. A thousand streams
opened at once all sit in that phase together, and it set the proxy's peak
memory (``tests/bench``). Here:

- a name with one address (an IP literal, or a host with one record) is a
  non-blocking ``connect`` in the calling task, nothing more;
- a name with several is raced the RFC 8305 way: the two families alternate,
  starting with the one the resolver put first, the next attempt starts when
  the previous one failed or has not connected within
  :data:`HAPPY_EYEBALLS_DELAY`, and the first connection wins; the others are
  closed.

The result is a connected, non-blocking socket with ``TCP_NODELAY`` set; the
caller wraps it in a stream and owns it. Timeouts are the caller's cancel scope.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket

import anyio

from ..tasks import task_group

__all__ = ["HAPPY_EYEBALLS_DELAY", "connect_tcp", "resolve"]

HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds an attempt gets before the next address is tried beside it."""

_Address = tuple[socket.AddressFamily, tuple[str, int] | tuple[str, int, int, int]]


async def connect_tcp(host: str, port: int) -> socket.socket:
    """A socket connected to ``host:port``.

    Raises:
        OSError: the name does not resolve, or no address accepted the
            connection (the message names each address and why).
    """
    addresses = await resolve(host, port)
    if len(addresses) == 1:
        return await _attempt(*addresses[0])
    return await _race(addresses)


async def resolve(host: str, port: int) -> list[_Address]:
    """The addresses to try for ``host``, families interleaved (RFC 8305, section 4)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        if literal.version == 6:
            return [(socket.AF_INET6, (str(literal), port, 0, 0))]
        return [(socket.AF_INET, (str(literal), port))]
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    by_family: dict[socket.AddressFamily, list[_Address]] = {}
    seen: set[object] = set()
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6) or sockaddr in seen:
            continue
        seen.add(sockaddr)
        by_family.setdefault(family, []).append((family, sockaddr))
    if not by_family:
        raise OSError(errno.EADDRNOTAVAIL, f"{host} has no IPv4 or IPv6 address")
    queues = list(by_family.values())
    ordered: list[_Address] = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered


async def _attempt(family: socket.AddressFamily, address: tuple[object, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(address)
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            await anyio.wait_writable(sock)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
    except BaseException:
        sock.close()
        raise
    return sock


async def _race(addresses: list[_Address]) -> socket.socket:
    winner: socket.socket | None = None
    failures: list[str] = []

    try:
        async with task_group() as group:

            async def attempt(
                family: socket.AddressFamily, address: tuple[object, ...], failed: anyio.Event
            ) -> None:
                nonlocal winner
                try:
                    sock = await _attempt(family, address)
                except OSError as exc:
                    failures.append(f"{address[0]}: {(exc.strerror or str(exc)).lower()}")
                    failed.set()
                    return
                if winner is None:
                    winner = sock
                    group.cancel_scope.cancel()
                else:  # pragma: no cover - two connects finished in the same scheduler tick
                    sock.close()

            for family, address in addresses:
                failed = anyio.Event()
                group.start_soon(attempt, family, address, failed)
                with anyio.move_on_after(HAPPY_EYEBALLS_DELAY):
                    await failed.wait()
    except BaseException:
        # cancelled from outside (the caller's connect timeout) just as one won
        if winner is not None:
            winner.close()
        raise
    if winner is None:
        raise OSError(errno.ECONNREFUSED, "; ".join(failures) or "no address could be reached")
    return winner
