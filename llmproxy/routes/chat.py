"""OpenAI-compatible Claude routes (stub)."""

from __future__ import annotations

from ..asgi.request import Request
from ..errors import NotBuilt

__all__ = ["code_chat", "web_chat"]


async def web_chat(request: Request) -> None:
    raise NotBuilt("the OpenAI-compatible claude.ai web route is not available yet")


async def code_chat(request: Request) -> None:
    raise NotBuilt("the OpenAI-compatible Claude Code route is not available yet")
