"""Gemini AI Studio and Vertex AI routes, native and OpenAI-compatible (stub)."""

from __future__ import annotations

from ..asgi.request import Request
from ..errors import NotBuilt

__all__ = ["chat", "models", "native", "vertex_chat", "vertex_native"]


async def native(request: Request) -> None:
    raise NotBuilt("the Gemini AI Studio route is not available yet")


async def vertex_native(request: Request) -> None:
    raise NotBuilt("the Vertex AI route is not available yet")


async def chat(request: Request) -> None:
    raise NotBuilt("the OpenAI-compatible Gemini route is not available yet")


async def vertex_chat(request: Request) -> None:
    raise NotBuilt("the OpenAI-compatible Vertex AI route is not available yet")


async def models(request: Request) -> None:
    raise NotBuilt("the Gemini model list is not available yet")
