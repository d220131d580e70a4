"""The one TLS context every upstream connection uses.

``httpx`` would otherwise call ``certifi.where()`` for each client. Run from a
zip, that extracts ``cacert.pem`` to a temporary file (racy under concurrent
first calls, and leaked if the process dies by SIGKILL). Reading the bundle's
text with ``certifi.contents()`` works from inside the zip with no file at all,
and building the context once saves ~10 ms per client.
"""

from __future__ import annotations

import functools
import ssl

__all__ = ["ssl_context"]


@functools.cache
def ssl_context(alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    """A verifying client context trusting certifi's CA bundle, built once per ``alpn``.

    httpx sets ALPN on the context it is given, so the HTTP/1.1 client keeps a
    context of its own rather than sharing (and racing on) httpx's.
    """
    import certifi

    context = ssl.create_default_context(cadata=certifi.contents())
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context
