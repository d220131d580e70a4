"""Building the ASGI ``http`` scope from an h11 request.

This runs once per request, so the constant parts are shared objects and the
common methods and versions are looked up rather than decoded.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import unquote

import h11

from ._types import Scope

__all__ = ["ASGI_HTTP", "http_scope", "split_target"]

ASGI_HTTP: Final[dict[str, str]] = {"version": "3.0", "spec_version": "2.3"}
"""Shared by every scope (apps read it, they do not write it).

Spec 2.3, not 2.4: ``send()`` after a disconnect does not raise (see ``_http11``), so
apps must watch ``receive()`` for ``http.disconnect``, which the llmproxy app does.
"""

_METHODS: Final = {
    m.encode("ascii"): m for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
}
_VERSIONS: Final = {b"1.1": "1.1", b"1.0": "1.0"}


def split_target(target: bytes) -> tuple[str, bytes, bytes]:
    """Split a request target into ``(path, raw_path, query_string)``.

    ``path`` is percent-decoded as UTF-8 (invalid sequences become U+FFFD), as
    ASGI asks; ``raw_path`` keeps the bytes as sent. h11 has already checked that
    the target is visible ASCII (RFC 9112 §3.2), so decoding it cannot fail.
    An absolute-form target (``http://host/p``, which a client sends to a proxy)
    is reduced to its path; ``*`` (``OPTIONS *``) stays ``*``.
    """
    raw_path, _, query = target.partition(b"?")
    if raw_path[:1] != b"/" and raw_path != b"*":
        scheme_end = raw_path.find(b"://")
        if scheme_end >= 0:
            slash = raw_path.find(b"/", scheme_end + 3)
            raw_path = raw_path[slash:] if slash >= 0 else b"/"
    text = raw_path.decode("ascii")
    path = unquote(text) if "%" in text else text
    return path, raw_path, query


def http_scope(
    request: h11.Request,
    client: tuple[str, int] | None,
    server: tuple[str, int] | None,
    state: dict[str, Any] | None,
) -> Scope:
    """The ``http`` scope for ``request``.

    Args:
        request: The parsed request head.
        client: The peer's ``(host, port)``.
        server: Our ``(host, port)`` for this connection.
        state: The lifespan state, if the app set one; each request gets a
            shallow copy, as the ASGI lifespan-state extension requires.
    """
    path, raw_path, query = split_target(request.target)
    method = request.method
    scope: Scope = {
        "type": "http",
        "asgi": ASGI_HTTP,
        "http_version": _VERSIONS.get(request.http_version) or request.http_version.decode("ascii"),
        "method": _METHODS.get(method) or method.decode("ascii"),
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": list(request.headers),
        "client": client,
        "server": server,
    }
    if state:
        scope["state"] = state.copy()
    return scope
