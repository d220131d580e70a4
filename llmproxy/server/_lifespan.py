"""The ASGI lifespan protocol: startup before the first connection, shutdown after the last.

The app's lifespan call runs as one task for the whole life of the server (the
app may keep background tasks in it, as llmproxy does). The server talks to it
through two events each way rather than channels, because each message is sent
at most once.

Apps that do not implement lifespan are tolerated the way uvicorn tolerates
them: raising on the ``lifespan`` scope, or returning before startup, means
"no lifespan", and the server goes on without it. (hypercorn's trio worker
crashes on the second form, stack.md §7.1.)
"""

from __future__ import annotations

import logging
from typing import Any, Final

import trio

from ._errors import UnexpectedMessage
from ._types import ASGIApp, Message

__all__ = ["Lifespan"]

log = logging.getLogger("llmproxy.server")

_ASGI_LIFESPAN: Final = {"version": "3.0", "spec_version": "2.0"}


class Lifespan:
    """Runs one app's lifespan and reports the outcome.

    Usage: start :meth:`run` in a nursery, ``await`` :meth:`wait_started`, serve,
    then ``await`` :meth:`shutdown`.

    Attributes:
        state: The dict passed as ``scope["state"]``; what the app puts there is
            copied into every request's scope.
        supported: Whether the app completed a lifespan startup.
        failure: The message of ``lifespan.startup.failed``, if the app sent it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.state: dict[str, Any] = {}
        self.supported = False
        self.failure: str | None = None
        self._startup_asked = False
        self._started = trio.Event()
        self._shutdown_asked = trio.Event()
        self._stopped = trio.Event()
        self._finished = False

    async def run(self) -> None:
        """Call the app with the ``lifespan`` scope; returns when the app does.

        Exceptions from the app are logged, never raised: lifespan is optional.
        """
        scope = {"type": "lifespan", "asgi": _ASGI_LIFESPAN, "state": self.state}
        try:
            await self._app(scope, self._receive, self._send)
        except Exception as exc:
            if self._started.is_set():
                log.exception("the app's lifespan task failed")
            else:
                log.info(
                    "the app raised %s on the lifespan scope; continuing without lifespan",
                    type(exc).__name__,
                )
        else:
            if not self._started.is_set():
                log.info("the app returned from the lifespan scope; continuing without lifespan")
        finally:
            self._finished = True
            self._started.set()
            self._stopped.set()

    async def wait_started(self) -> None:
        """Wait until startup completed, failed, or turned out to be unsupported."""
        await self._started.wait()

    async def shutdown(self) -> None:
        """Ask the app to shut down and wait until it has (no-op without lifespan)."""
        if not self.supported or self._finished:
            return
        self._shutdown_asked.set()
        await self._stopped.wait()

    async def _receive(self) -> Message:
        if not self._startup_asked:
            self._startup_asked = True
            return {"type": "lifespan.startup"}
        await self._shutdown_asked.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete" and not self._started.is_set():
            self.supported = True
            self._started.set()
        elif kind == "lifespan.startup.failed" and not self._started.is_set():
            self.failure = str(message.get("message", ""))
            self._started.set()
        elif kind == "lifespan.shutdown.complete" and self._shutdown_asked.is_set():
            self._stopped.set()
        elif kind == "lifespan.shutdown.failed" and self._shutdown_asked.is_set():
            log.error("the app's lifespan shutdown failed: %s", message.get("message", ""))
            self._stopped.set()
        else:
            raise UnexpectedMessage(f"unexpected lifespan message {kind!r}")
        await trio.lowlevel.checkpoint()
