"""Shared ``httpx.AsyncClient`` objects, one per outbound proxy setting.

Defaults chosen for LLM traffic rather than httpx's (stack.md §7.2):

- no read timeout: a read timeout applies to the gap between stream chunks, and
  a model thinking for minutes is not a dead connection (the stream relay keeps
  its own idle watchdog and pings the client instead);
- connect/write/pool timeouts stay, so a dead upstream still fails fast;
- a small keep-alive pool, because httpcore's pool does work quadratic in the
  number of pooled connections;
- ``trust_env=False``: only the ``proxy`` setting decides the route out;
- no ``Accept-Encoding``/``User-Agent`` defaults: bytes are relayed raw, so we
  must never ask for an encoding the client did not, and each adapter sets the
  identity the upstream expects.

Clients are created lazily inside the running event loop (which is the robust
choice when embedded) and closed when the app stops.
"""

from __future__ import annotations

import httpx

from .tls import ssl_context

__all__ = ["HttpClients", "TIMEOUT"]

TIMEOUT = httpx.Timeout(connect=15.0, read=None, write=60.0, pool=60.0)
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=20, keepalive_expiry=30.0)


class HttpClients:
    """A client per outbound proxy URL (``None`` = direct) and HTTP version."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str | None, bool], httpx.AsyncClient] = {}

    def get(self, proxy: str | None, *, http2: bool = False) -> httpx.AsyncClient:
        """The client for ``proxy``, created on first use.

        ``http2`` asks for a client that negotiates HTTP/2 over TLS (ALPN), as a
        browser does toward claude.ai; plain-HTTP upstreams still get HTTP/1.1.
        """
        key = (proxy, http2)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                http2=http2,
                verify=ssl_context(),
                timeout=TIMEOUT,
                limits=LIMITS,
                proxy=proxy,
                trust_env=False,
                follow_redirects=False,
            )
            # httpx adds these when the caller does not; we relay raw bytes, so no.
            client.headers.pop("accept-encoding", None)
            client.headers.pop("user-agent", None)
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        """Close every client (called on shutdown)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
