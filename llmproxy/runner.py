"""The standalone server: ``llmproxy.server`` by default, hypercorn's trio worker on request.

Two servers, one shutdown story. ``llmproxy.server`` is a lean HTTP/1.1 server
written for this program's CPU budget (issue 8: hypercorn's trio worker alone
costs ~400 µs per request, see ``llmproxy/server/__init__.py``). hypercorn stays
selectable for what the lean server does not do (HTTP/2, TLS, once configured).

Neither installs signal handlers, so SIGTERM would kill the process on the spot
(exit 143, no final save). Here SIGINT and SIGTERM trigger a graceful shutdown
instead: stop accepting, give running streams ``GRACE_SECONDS`` to finish,
cancel the rest, run the app's lifespan shutdown (which saves state), and exit 0.
A second signal skips the grace period. Either way ``app.proxy.stop()`` runs
last, shielded from cancellation, so a forced stop still saves.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import signal
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import trio

from .asgi.app import App

if TYPE_CHECKING:
    from hypercorn.config import Config

__all__ = ["GRACE_SECONDS", "KEEP_ALIVE_SECONDS", "ServerName", "hypercorn_config", "run"]

log = logging.getLogger("llmproxy")

GRACE_SECONDS = 10.0
"""How long in-flight responses may run on after a shutdown signal."""

KEEP_ALIVE_SECONDS = 75.0
"""How long an idle client connection is kept open: clients reuse connections between turns."""

ServerName = Literal["llmproxy", "hypercorn"]
"""Which HTTP server runs the app: the lean built-in one, or hypercorn's trio worker."""


class _Serve(Protocol):
    """A server entry point with the shutdown and start-up hooks bound later."""

    def __call__(
        self,
        *,
        shutdown_trigger: Callable[[], Awaitable[Any]],
        task_status: trio.TaskStatus[list[str]],
    ) -> Awaitable[None]: ...


def hypercorn_config(ip: str, port: int) -> Config:
    """Hypercorn settings chosen for a streaming proxy (stack.md §7.1)."""
    from hypercorn.config import Config  # only when hypercorn is the chosen server

    config = Config()
    host = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
    config.bind = [f"{host}:{port}"]
    config.accesslog = None  # one line per request comes from the app, without secrets
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = GRACE_SECONDS
    config.keep_alive_timeout = 75  # clients reuse connections between turns
    config.backlog = 1024
    config.include_server_header = False
    return config


def run(app: App, announce: Callable[[str], None], server: ServerName = "llmproxy") -> int:
    """Serve ``app`` until a signal; ``announce`` gets the bound base URL once listening.

    Args:
        app: The llmproxy app.
        announce: Called once with the first base URL, e.g. ``http://127.0.0.1:8484``.
        server: ``"llmproxy"`` (the default, ``llmproxy.server``) or ``"hypercorn"``.

    Returns:
        The process exit status (0).
    """
    settings = app.proxy.settings
    start: _Serve
    if server == "llmproxy":
        from .server import serve as lean_serve

        start = partial(
            lean_serve,
            app,
            host=settings.ip,
            port=settings.port,
            grace=GRACE_SECONDS,
            keep_alive=KEEP_ALIVE_SECONDS,
        )
    elif server == "hypercorn":
        from hypercorn.trio import serve as hypercorn_serve

        # hypercorn's ASGIFramework type is narrower than a plain ASGI 3 callable.
        config = hypercorn_config(settings.ip, settings.port)
        start = partial(hypercorn_serve, cast(Any, app), config)
    else:
        raise ValueError(f"unknown server {server!r}; expected 'llmproxy' or 'hypercorn'")
    # Everything made so far (modules, the app, its settings and pools) lives as long
    # as the process. Frozen, the collector stops walking it on every full collection:
    # those drop from ~19 ms (a pause for every open request) to ~2 ms under load.
    gc.freeze()
    trio.run(_serve, app, start, announce)
    return 0


async def _serve(app: App, start: _Serve, announce: Callable[[str], None]) -> None:
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def watch_signals() -> None:
                async for signum in signals:
                    if shutdown.is_set():
                        log.warning("second signal: stopping now")
                        nursery.cancel_scope.cancel()
                        return
                    log.info(
                        "%s received: finishing open responses (up to %.0f s), then exiting",
                        signal.Signals(signum).name,
                        GRACE_SECONDS,
                    )
                    shutdown.set()

            async def serve_then_stop(task_status: trio.TaskStatus[list[str]]) -> None:
                await start(shutdown_trigger=shutdown.wait, task_status=task_status)
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_signals)
            binds: list[str] = await nursery.start(serve_then_stop)
            announce(binds[0])
    # After a forced stop the lifespan shutdown may not have run: save anyway.
    with trio.CancelScope(shield=True):
        await app.proxy.stop()
    log.info("stopped")
