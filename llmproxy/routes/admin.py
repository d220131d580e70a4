"""Admin endpoints that need nothing but the settings."""

from __future__ import annotations

import platform

from .._version import __version__
from ..asgi.request import Request
from ..errors import NotBuilt

__all__ = ["auth", "config", "cookie", "cookies", "page", "static", "status", "version"]


async def version(request: Request) -> None:
    """``GET /api/version``: plain text, no password, like ClewdR's."""
    settings = request.app.settings
    text = (
        f"v{__version__}\n"
        f"python: {platform.python_version()}\n"
        f"no_fs: {str(settings.no_fs).lower()}\n"
    )
    await request.send_text(text)


async def auth(request: Request) -> None:
    """``GET /api/auth``: 200 when the admin password checked out (the chain did it)."""
    await request.send_bytes(b"", status=200, content_type=b"text/plain")


async def config(request: Request) -> None:
    raise NotBuilt("the admin config API is not available yet")


async def cookies(request: Request) -> None:
    raise NotBuilt("the admin cookie list is not available yet")


async def cookie(request: Request) -> None:
    raise NotBuilt("the admin cookie API is not available yet")


async def status(request: Request) -> None:
    raise NotBuilt("the admin status API is not available yet")


async def page(request: Request) -> None:
    raise NotBuilt("the admin web page is not available yet")


async def static(request: Request) -> None:
    raise NotBuilt("the admin web page is not available yet")
