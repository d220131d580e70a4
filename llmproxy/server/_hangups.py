"""Noticing clients that hang up mid-request: one epoll set for the whole server.

An ASGI app learns that its client left by awaiting ``receive()`` until it says
``http.disconnect``; llmproxy's chain did that in a watcher task per request.
A task, its nursery and the coroutine frames of a pending socket read are about
6 KB per open stream and ~30 µs per request, for something that happens to a
few requests in a thousand. So the built-in server offers its apps one more
way, the ``llmproxy.hangup`` scope extension::

    scope["extensions"]["llmproxy.hangup"]["watch"](callback)

``callback()`` (synchronous, called at most once) then runs as soon as the
client shuts its end of the connection or resets it, for as long as the app
runs on this request (also after the response completed, if the app is still
working: it decides whether that still matters). Underneath, every watched
socket is in one epoll set, registered for ``EPOLLRDHUP`` only (plus the errors
and hang-ups epoll always reports): bytes of a pipelined next request do not
wake it, only a hang-up does. One task per server waits for the set to become
readable.

Only Linux (and Android) has epoll; elsewhere :func:`open_hangups` returns
``None``, the extension is not offered, and apps fall back to ``receive()``.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
from collections.abc import Callable

import trio

__all__ = ["Hangups", "open_hangups"]

log = logging.getLogger("llmproxy.server")

_EVENTS = getattr(select, "EPOLLRDHUP", 0) | getattr(select, "EPOLLONESHOT", 0)


class Hangups:
    """The sockets being watched, and the task that waits for their hang-ups."""

    __slots__ = ("_epoll", "_callbacks")

    def __init__(self, epoll: select.epoll) -> None:
        self._epoll = epoll
        self._callbacks: dict[int, Callable[[], None]] = {}

    def watch(self, sock: socket.socket, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once when the peer of ``sock`` hangs up (until :meth:`forget`)."""
        fd = sock.fileno()
        try:
            self._epoll.register(fd, _EVENTS)
        except FileExistsError:  # watched already, or fired and not yet forgotten
            self._epoll.modify(fd, _EVENTS)
        self._callbacks[fd] = callback

    def forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (before it is closed: the number may be reused)."""
        fd = sock.fileno()
        if self._callbacks.pop(fd, None) is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)

    def __len__(self) -> int:
        return len(self._callbacks)

    async def run(self) -> None:
        """Deliver hang-ups until cancelled; then stop watching everything."""
        epoll = self._epoll
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll)
                for fd, _ in epoll.poll(0):
                    callback = self._callbacks.pop(fd, None)
                    if callback is None:
                        continue
                    with contextlib.suppress(OSError):
                        epoll.unregister(fd)
                    try:
                        callback()
                    except Exception:  # the app's bug must not stop the watching of others
                        log.exception("a hang-up callback raised")
        finally:
            self._callbacks.clear()
            epoll.close()


def open_hangups() -> Hangups | None:
    """A new watcher, or ``None`` where the system has no epoll."""
    if not hasattr(select, "epoll") or not _EVENTS:
        return None
    return Hangups(select.epoll())
