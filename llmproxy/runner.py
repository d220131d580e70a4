"""The standalone server: hypercorn's trio worker, started in-process.

``hypercorn.trio.serve`` installs no signal handlers, so SIGTERM would kill the
process on the spot (exit 143, no final save). Here SIGINT and SIGTERM trigger
hypercorn's graceful shutdown instead: stop accepting, give running streams
``GRACE_SECONDS`` to finish, cancel the rest, run the app's lifespan shutdown
(which saves state), and exit 0. A second signal skips the grace period.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
from collections.abc import Callable
from typing import Any, cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from .asgi.app import App

__all__ = ["GRACE_SECONDS", "hypercorn_config", "run"]

log = logging.getLogger("llmproxy")

GRACE_SECONDS = 10.0
"""How long in-flight responses may run on after a shutdown signal."""


def hypercorn_config(ip: str, port: int) -> Config:
    """Hypercorn settings chosen for a streaming proxy (stack.md §7.1)."""
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


def run(app: App, announce: Callable[[str], None]) -> int:
    """Serve ``app`` until a signal; ``announce`` gets the bound base URL once listening."""
    settings = app.proxy.settings
    config = hypercorn_config(settings.ip, settings.port)
    trio.run(_serve, app, config, announce)
    return 0


async def _serve(app: App, config: Config, announce: Callable[[str], None]) -> None:
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
                await serve(cast(Any, app), config, shutdown_trigger=shutdown.wait, task_status=task_status)
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_signals)
            binds: list[str] = await nursery.start(serve_then_stop)
            announce(binds[0])
    # After a forced stop the lifespan shutdown may not have run: save anyway.
    with trio.CancelScope(shield=True):
        await app.proxy.stop()
    log.info("stopped")
