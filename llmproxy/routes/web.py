"""The claude.ai web route (stub)."""

from __future__ import annotations

from ..asgi.request import Request
from ..errors import NotBuilt

__all__ = ["count_tokens", "messages"]


async def messages(request: Request) -> None:
    raise NotBuilt("the claude.ai web route is not available yet")


async def count_tokens(request: Request) -> None:
    raise NotBuilt("token counting on the claude.ai web route is not available yet")
