"""Admin API for Gemini keys and Vertex credentials (stub)."""

from __future__ import annotations

from ..asgi.request import Request
from ..errors import NotBuilt

__all__ = ["key", "keys", "vertex_credential", "vertex_credentials"]


async def keys(request: Request) -> None:
    raise NotBuilt("the admin key list is not available yet")


async def key(request: Request) -> None:
    raise NotBuilt("the admin key API is not available yet")


async def vertex_credentials(request: Request) -> None:
    raise NotBuilt("the admin Vertex credential list is not available yet")


async def vertex_credential(request: Request) -> None:
    raise NotBuilt("the admin Vertex credential API is not available yet")
