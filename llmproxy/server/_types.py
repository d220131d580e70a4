"""ASGI type aliases for the server side, kept as loose as the app's own.

The server is a separate layer from the app (it can serve any ASGI 3 app), so it
does not import :mod:`llmproxy.asgi`; the aliases are the same shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
