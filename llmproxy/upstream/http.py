"""The upstream clients, one per outbound proxy setting, created on first use.

- :meth:`HttpClients.get` gives llmproxy's own HTTP/1.1 client
  (:mod:`.client`): every relayed call and every OAuth or token call.
- :meth:`HttpClients.browser` gives an ``httpx.AsyncClient`` that negotiates
  HTTP/2 over TLS, for claude.ai's control calls (account lookups, conversation
  set-up, uploads), where looking like a browser matters more than CPU.

The httpx client's defaults are chosen for this use rather than httpx's
(stack.md §7.2): ``trust_env=False`` (only the ``proxy`` setting decides the
route out), no ``Accept-Encoding``/``User-Agent`` of its own (each adapter sets
the identity the upstream expects), a small keep-alive pool, and per-call
timeouts passed by the caller.

Clients are created lazily inside the running event loop (the robust choice
when embedded) and closed when the app stops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .client import Client
from .tls import ssl_context

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpClients"]


class HttpClients:
    """The clients for each outbound proxy URL (``None`` = direct)."""

    def __init__(self) -> None:
        self._clients: dict[str | None, Client] = {}
        self._browsers: dict[str | None, httpx.AsyncClient] = {}

    def get(self, proxy: str | None) -> Client:
        """The HTTP/1.1 client for ``proxy``."""
        client = self._clients.get(proxy)
        if client is None:
            client = self._clients[proxy] = Client(proxy)
        return client

    def browser(self, proxy: str | None) -> httpx.AsyncClient:
        """The HTTP/2-capable httpx client for ``proxy`` (imported on first use)."""
        client = self._browsers.get(proxy)
        if client is None:
            import httpx

            client = httpx.AsyncClient(
                http2=True,
                verify=ssl_context(),
                timeout=httpx.Timeout(connect=15.0, read=None, write=60.0, pool=60.0),
                limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=30.0),
                proxy=proxy,
                trust_env=False,
                follow_redirects=False,
            )
            # httpx adds these when the caller does not; each call sets its own.
            client.headers.pop("accept-encoding", None)
            client.headers.pop("user-agent", None)
            self._browsers[proxy] = client
        return client

    async def aclose(self) -> None:
        """Close every client (called on shutdown)."""
        clients, self._clients = list(self._clients.values()), {}
        browsers, self._browsers = list(self._browsers.values()), {}
        for client in clients:
            await client.aclose()
        for browser in browsers:
            await browser.aclose()
