"""The per-request chain: small steps that each do one thing, then call the next.

A route's pipeline is built once, when the app is created::

    authenticate -> read body -> parse JSON -> watch for disconnect -> [route steps] -> endpoint

Later steps (format translation, credential rotation, stop sequences) are route
steps: each is an ``async (request, call_next)`` function that may change the
request on the way in and wrap ``send`` on the way out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..asgi.request import Request

__all__ = ["Handler", "Step", "compose"]

Handler = Callable[["Request"], Awaitable[None]]
Step = Callable[["Request", Handler], Awaitable[None]]


def compose(steps: Sequence[Step], endpoint: Handler) -> Handler:
    """Fold ``steps`` around ``endpoint``; the first step runs first."""
    handler = endpoint
    for step in reversed(steps):
        handler = _link(step, handler)
    return handler


def _link(step: Step, call_next: Handler) -> Handler:
    async def handler(request: Request) -> None:
        await step(request, call_next)

    return handler
