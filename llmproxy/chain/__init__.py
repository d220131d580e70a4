"""The per-request chain: small steps that each do one thing, then call the next.

A route's pipeline is built once, when the app is created::

    authenticate -> read body -> parse JSON -> watch for disconnect -> [route steps] -> endpoint

Later steps (format translation, credential rotation, stop sequences) are route
steps: each is an ``async (request, call_next)`` function that may change the
request on the way in and wrap ``send`` on the way out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..asgi.request import Request

__all__ = ["Handler", "Step", "compose"]

Handler = Callable[["Request"], Awaitable[None]]


class Step(Protocol):
    """A chain step; ``call_next`` is passed by keyword (see :func:`compose`)."""

    def __call__(self, request: Request, call_next: Handler) -> Awaitable[None]: ...



def compose(steps: Sequence[Step], endpoint: Handler) -> Handler:
    """Fold ``steps`` around ``endpoint``; the first step runs first.

    Each link is a :func:`functools.partial`, not a wrapper coroutine: calling it
    returns the step's own coroutine, so the chain adds no frame of its own. A
    streaming response resumes its whole coroutine stack once per upstream read,
    so every frame saved here is saved per relayed chunk.
    """
    handler = endpoint
    for step in reversed(steps):
        handler = partial(step, call_next=handler)
    return handler
