"""``serve()``: listen, run the lifespan, accept connections, shut down gracefully.

The order of events, and why:

1. **Bind and listen** first, so a port already in use fails at once, before the
   app starts anything. Connections that arrive during startup wait in the
   kernel's backlog; none is accepted before startup has completed.
2. **Lifespan startup.** If the app reports failure, :class:`LifespanFailure`
   is raised and nothing is served.
3. **Accept** until the shutdown trigger returns, one task per connection
   (see ``_http11`` for why not one per request).
4. **Shutdown:** close the listening socket at once (new connections are
   refused), close the connections that sit idle between requests, and let the
   others finish their current response, each then closing (``Connection:
   close`` on responses that start from now on). After ``grace`` seconds the
   rest are cancelled.
5. **Lifespan shutdown** (llmproxy saves its state there), then return.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final

import trio

from ._errors import LifespanFailure
from ._hangups import open_hangups
from ._http11 import REAP_INTERVAL, HTTP11Connection, ServerContext
from ._lifespan import Lifespan
from ._sockets import accept, close, listen
from ._types import ASGIApp

__all__ = ["BACKLOG", "serve"]

log = logging.getLogger("llmproxy.server")

BACKLOG: Final = 1024
"""Listen backlog: room for a burst of new connections while the loop is busy."""

_RESOURCE_ERRORS: Final = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_RESOURCE_PAUSE: Final = 0.1


async def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    grace: float,
    shutdown_trigger: Callable[[], Awaitable[object]],
    keep_alive: float = 75.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` over HTTP/1.1 until ``shutdown_trigger`` returns.

    Args:
        app: An ASGI 3 application (``http`` and, optionally, ``lifespan`` scopes).
        host: An IPv4 or IPv6 address literal to listen on, e.g. ``"127.0.0.1"``.
        port: The TCP port; 0 picks a free one (the real one is reported).
        grace: Seconds that in-flight responses may run on after shutdown starts.
        shutdown_trigger: Awaited once serving; when it returns, shutdown begins.
        keep_alive: Seconds an idle connection waits for its next request.
        task_status: Receives the base URLs, e.g. ``["http://127.0.0.1:8484"]``
            or ``["http://[::1]:8484"]``, once startup completed and connections
            are accepted (use with ``nursery.start``).

    Raises:
        LifespanFailure: The app's lifespan startup failed.
        OSError: The address cannot be bound.
    """
    lifespan = Lifespan(app)
    listeners = await listen(host, port, BACKLOG)
    try:
        async with trio.open_nursery() as lifespan_nursery:
            lifespan_nursery.start_soon(lifespan.run)
            await lifespan.wait_started()
            if lifespan.failure is None:
                try:
                    ctx = ServerContext(app, keep_alive, state=lifespan.state or None)
                    await _serve_connections(ctx, listeners, grace, shutdown_trigger, task_status)
                finally:
                    await lifespan.shutdown()
            # The app's lifespan task has nothing left to do; do not wait for it.
            lifespan_nursery.cancel_scope.cancel()
    finally:
        for listener in listeners:
            close(listener)
    if lifespan.failure is not None:
        raise LifespanFailure(lifespan.failure or "lifespan startup failed")


async def _serve_connections(
    ctx: ServerContext,
    listeners: list[socket.socket],
    grace: float,
    shutdown_trigger: Callable[[], Awaitable[object]],
    task_status: trio.TaskStatus[list[str]],
) -> None:
    async with trio.open_nursery() as sweeper:
        sweeper.start_soon(_sweep, ctx)
        ctx.hangups = open_hangups()
        if ctx.hangups is not None:
            sweeper.start_soon(ctx.hangups.run)
        async with trio.open_nursery() as connections:
            accepting = trio.CancelScope()
            for listener in listeners:
                connections.start_soon(_accept, listener, ctx, connections, accepting)
            task_status.started([_base_url(listener) for listener in listeners])
            await shutdown_trigger()
            accepting.cancel()
            for listener in listeners:
                close(listener)  # now, not when the accept task next runs
            ctx.close_idle()
            connections.cancel_scope.deadline = trio.current_time() + grace
        sweeper.cancel_scope.cancel()


async def _sweep(ctx: ServerContext) -> None:
    """Close timed-out idle connections and stalled heads (see ``REAP_INTERVAL``),
    and ping quiet streams (sooner, when a stream asked for a shorter interval)."""
    ctx.next_sweep = trio.current_time() + REAP_INTERVAL
    while True:
        with trio.CancelScope(deadline=ctx.next_sweep) as scope:
            ctx.sweep_scope = scope
            await trio.sleep_forever()
        ctx.sweep_scope = None
        ctx.next_sweep = ctx.sweep(trio.current_time())


async def _accept(
    listener: socket.socket,
    ctx: ServerContext,
    connections: trio.Nursery,
    accepting: trio.CancelScope,
) -> None:
    with accepting:
        while True:
            try:
                sock, client = await accept(listener)
            except trio.ClosedResourceError:
                return
            except OSError as exc:
                # Out of file descriptors or memory: keep the server up and retry,
                # as trio.serve_listeners does.
                if exc.errno not in _RESOURCE_ERRORS:
                    raise
                log.error("accept failed (%s); retrying in %.1f s", exc.strerror, _RESOURCE_PAUSE)
                await trio.sleep(_RESOURCE_PAUSE)
                continue
            connections.start_soon(_handle, sock, client, ctx)


async def _handle(sock: socket.socket, client: Any, ctx: ServerContext) -> None:
    connection = HTTP11Connection(sock, client, ctx)
    ctx.connections.add(connection)
    try:
        await connection.run()
    except Exception:
        # A bug in the server itself: lose this connection, keep the server.
        log.exception("internal error while serving a connection")
    finally:
        ctx.connections.discard(connection)


def _base_url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    if listener.family == socket.AF_INET6:
        return f"http://[{host}]:{port}"
    return f"http://{host}:{port}"
