"""Chain steps that read the request body and watch the client while we work.

The body is read before the endpoint runs, so an endpoint never touches
``receive``; after that, ``receive`` belongs to the disconnect watcher. Hypercorn
speaks ASGI 2.1, where a ``send`` to a client that has gone does not fail, so
the only way to learn that the client left is to see ``http.disconnect`` on
``receive``. When it arrives, the endpoint (and the upstream call inside it) is
cancelled, which closes the upstream connection and returns the credential.

Awaiting ``receive`` takes a task beside the endpoint. The built-in server
offers a cheaper way, the ``llmproxy.hangup`` extension (see
``llmproxy.server._hangups``): it calls us back when the client hangs up, so
there the endpoint runs in a plain cancel scope, with no task at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import DEFAULT_BODY_LIMIT as DEFAULT_BODY_LIMIT
from ..tasks import task_group

if TYPE_CHECKING:
    from ..asgi.request import Request
    from . import Handler, Step

__all__ = ["parse_json", "read_body", "watch_disconnect"]


def read_body(limit: int = DEFAULT_BODY_LIMIT) -> Step:
    """Read the whole body under ``limit`` bytes (413 above it)."""

    async def step(request: Request, call_next: Handler) -> None:
        await request.read_body(limit)
        await call_next(request)

    return step


async def parse_json(request: Request, call_next: Handler) -> None:
    """Require the body to be a JSON object (400 naming the problem otherwise)."""
    request.json_body = request.json()
    await call_next(request)


async def watch_disconnect(request: Request, call_next: Handler) -> None:
    """Run the rest of the chain, cancelling it if the client disconnects."""
    extensions = request.scope.get("extensions")
    hangup = extensions.get("llmproxy.hangup") if extensions else None
    if hangup is not None:
        await _with_hangup_callback(request, call_next, hangup["watch"])
    else:
        await _with_watcher_task(request, call_next)


async def _with_hangup_callback(
    request: Request, call_next: Handler, watch: Callable[[Callable[[], None]], None]
) -> None:
    import trio  # the extension is the built-in server's, which runs on trio

    with trio.CancelScope() as scope:

        def hung_up() -> None:
            if not request.finished:
                request.disconnected = True
                scope.cancel()

        watch(hung_up)
        await call_next(request)


async def _with_watcher_task(request: Request, call_next: Handler) -> None:
    error: BaseException | None = None
    async with task_group() as group:

        async def watch() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    # Hypercorn also reports a disconnect after a finished response.
                    if not request.finished:
                        request.disconnected = True
                        group.cancel_scope.cancel()
                    return

        group.start_soon(watch)
        try:
            await call_next(request)
        except Exception as exc:  # re-raised below, outside the task group
            error = exc
        finally:
            group.cancel_scope.cancel()
    if error is not None:
        raise error
