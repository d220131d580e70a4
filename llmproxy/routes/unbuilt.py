"""The endpoint of routes whose capability is not wired in yet."""

from __future__ import annotations

from ..asgi.request import Request
from ..chain import Handler
from ..errors import NotBuilt

__all__ = ["not_built"]


def not_built(what: str) -> Handler:
    """An endpoint that answers 501 naming the capability, in the route's dialect."""

    async def endpoint(request: Request) -> None:
        raise NotBuilt(
            f"{request.method} {request.path}: {what} is not available in this version of llmproxy yet"
        )

    return endpoint
