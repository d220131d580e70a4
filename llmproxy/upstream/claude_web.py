"""The claude.ai web API, spoken the way the web app speaks it (protocols.md §4).

One request on the web route is, per attempt with one cookie:

1. the account lookups (``/api/bootstrap`` and ``/api/organizations``), cached
   per cookie for :data:`ACCOUNT_TTL` and dropped after any auth failure, so a
   request normally pays for none of them (ClewdR pays for both every time);
2. a new conversation, temporary unless ``preserve_chats``;
3. the thinking switch (``paprika_mode``) when asked for and the account is pro;
4. one upload per image or PDF;
5. the completion, whose event stream the route relays.

Every call carries the cookie, ``Origin`` and ``Referer`` (both from the base
URL, as the same-origin web app sends them) and a current Chrome's headers. The
lookups, conversation, settings and upload calls go over HTTP/2 where the
server offers it, as a browser does; the completion stream goes over HTTP/1.1,
because closing an HTTP/1.1 response is what tells the server to stop (see
:meth:`WebCall.completion`).

Failures: a Cloudflare block (a 302, or a 403 challenge page) becomes a 502
that says the proxy's address was blocked, since another cookie would fare
the same; anything the failure table of :mod:`llmproxy.credentials.failures`
blames on the cookie becomes :class:`~llmproxy.chain.rotate.CredentialRejected`;
the rest goes to the client with the upstream's status.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    import httpx

from ..asgi.families import dumps
from ..chain.rotate import CredentialRejected
from ..claude.web_account import NoAccount, WebAccount, account_from_lookups
from ..claude.web_transcript import Upload
from ..credentials import Reason, Retired
from ..errors import UpstreamError
from .claude_oauth import rejection_or_error
from .client import (
    CALL_TIMEOUT,
    Client,
    ReadResponse,
    Response,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = ["ACCOUNT_TTL", "BROWSER_HEADERS", "WebAccounts", "WebCall", "blocked_error"]

ACCOUNT_TTL = 1800.0
"""Seconds an account lookup is trusted before it is made again."""


CHROME_VERSION = "142"
BROWSER_HEADERS: dict[str, str] = {
    "user-agent": (
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{CHROME_VERSION}.0.0.0 Safari/537.36"
    ),
    "sec-ch-ua": f'"Chromium";v="{CHROME_VERSION}", "Google Chrome";v="{CHROME_VERSION}", "Not_A Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
    "accept-language": "en-US,en;q=0.9",
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-origin",
    "anthropic-client-platform": "web_claude_ai",
}
"""What Chrome sends on the web app's API calls (besides cookie, origin, referer)."""

def _origin(base: str) -> str:
    """The scheme and host of ``base``: the web app's API is same-origin with its pages."""
    parts = base.split("/", 3)
    return "/".join(parts[:3])


def blocked_error(status: int) -> UpstreamError:
    """The 502 for a Cloudflare block: the proxy's address, not the cookie, is the problem."""
    return UpstreamError(
        f"claude.ai blocked the proxy (HTTP {status} Cloudflare challenge): the server's IP "
        "address or the configured `proxy` is blocked; try another proxy or network",
        status=502,
        upstream_type="api_error",
    )


def _is_blocked(response: ReadResponse) -> bool:
    if response.status_code in (301, 302, 303, 307, 308):
        return True
    if response.status_code == 403:
        if response.headers.get("cf-mitigated") == "challenge":
            return True
        return bool(response.headers.get("content-type", "").startswith("text/html"))
    return False


@dataclass(slots=True)
class WebCall:
    """The calls of one attempt with one cookie."""

    client: httpx.AsyncClient
    base: str
    cookie: str = field(repr=False)  # a secret: never in a repr, a log line or a traceback
    clock: Callable[[], float] = field(repr=False)
    stream_client: Client | None = None
    """llmproxy's HTTP/1.1 client, for the completion stream (see :meth:`completion`)."""

    def headers(self, referer: str = "/new", *, accept: str = "*/*") -> dict[str, str]:
        return {
            **BROWSER_HEADERS,
            "cookie": f"sessionKey={self.cookie}",
            "origin": _origin(self.base),
            "referer": f"{self.base}{referer}",
            "accept": accept,
        }

    def failure(self, response: ReadResponse, what: str) -> Exception:
        """The exception for a non-2xx answer to ``what``."""
        if _is_blocked(response):
            return blocked_error(response.status_code)
        return rejection_or_error(response, self.clock(), what)

    async def _call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One control call over the HTTP/2 client; a transport failure is a 502/504 naming claude.ai's host."""
        import httpx

        try:
            return await self.client.request(method, url, timeout=CALL_TIMEOUT, **kw)
        except httpx.TimeoutException:
            raise UpstreamTimeout(f"{httpx.URL(url).host} did not answer within {CALL_TIMEOUT:g} s") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise UpstreamUnreachable(f"cannot reach {httpx.URL(url).host}: {reason}") from None

    async def _get_json(self, path: str, what: str) -> Any:
        response = await self._call("GET", f"{self.base}{path}", headers=self.headers())
        if response.status_code != 200:
            raise self.failure(response, what)
        try:
            return json.loads(response.content)
        except ValueError:
            raise UpstreamError(f"{what} answered something that is not JSON", status=502) from None

    async def lookup_account(self) -> WebAccount:
        """Bootstrap and organisations, made into a :class:`WebAccount`."""
        bootstrap = await self._get_json("/api/bootstrap", "claude.ai bootstrap")
        if not isinstance(bootstrap, dict) or not isinstance(bootstrap.get("account"), dict):
            raise CredentialRejected(
                Retired(Reason.NULL),
                UpstreamError("The cookie has no claude.ai account (expired or signed out)",
                              status=401, upstream_type="authentication_error"),
            )
        organizations = await self._get_json("/api/organizations", "claude.ai organizations")
        try:
            return account_from_lookups(bootstrap, organizations)
        except NoAccount as exc:
            raise CredentialRejected(
                Retired(Reason.NULL), UpstreamError(f"claude.ai: {exc}", status=401)
            ) from None

    async def create_conversation(self, org: str, *, preserve: bool) -> str:
        """A new conversation; temporary (incognito) unless ``preserve``."""
        conversation = str(uuid.uuid4())
        name = ""
        if preserve:
            name = "llmproxy " + datetime.fromtimestamp(self.clock(), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        body = {"uuid": conversation, "name": name, "is_temporary": not preserve}
        response = await self._call(
            "POST",
            f"{self.base}/api/organizations/{org}/chat_conversations",
            content=dumps(body),
            headers={
                **self.headers("/new" if preserve else "/new?incognito"),
                "content-type": "application/json",
            },
        )
        if response.status_code not in (200, 201):
            raise self.failure(response, "claude.ai conversation")
        return conversation

    async def set_thinking(self, org: str, conversation: str, *, extended: bool) -> None:
        """Switch extended thinking on or off for the conversation; failures only cost thinking."""
        body = {"settings": {"paprika_mode": "extended" if extended else None}}
        await self._call(
            "PUT",
            f"{self.base}/api/organizations/{org}/chat_conversations/{conversation}",
            content=dumps(body),
            headers={**self.headers(f"/chat/{conversation}"), "content-type": "application/json"},
        )

    async def upload(self, org: str, conversation: str, item: Upload) -> str:
        """Upload one file; its ``file_uuid`` goes into the completion's ``files``."""
        response = await self._call(
            "POST",
            f"{self.base}/api/{org}/upload",
            files={"file": (item.filename, item.data, item.media_type)},
            headers=self.headers(f"/chat/{conversation}"),
        )
        if response.status_code != 200:
            raise self.failure(response, f"claude.ai upload of {item.filename}")
        try:
            file_uuid = json.loads(response.content).get("file_uuid")
        except (ValueError, AttributeError):
            file_uuid = None
        if not isinstance(file_uuid, str):
            raise UpstreamError(f"claude.ai upload of {item.filename} gave no file_uuid", status=502)
        return file_uuid

    async def completion(self, org: str, conversation: str, body: dict[str, Any]) -> Response:
        """Open the completion stream; the caller must close the response.

        It goes through :attr:`stream_client`, llmproxy's HTTP/1.1 client:
        httpcore 1.0 never resets an HTTP/2 stream that is closed early
        (encode/httpcore#943), so over h2 a stop sequence or a client disconnect
        would neither stop claude.ai's generation nor free the stream, whereas
        closing an HTTP/1.1 response closes its connection, which the server sees.
        """
        if self.stream_client is None:
            raise RuntimeError("WebCall.completion needs a stream_client")
        response = await self.stream_client.stream(
            "POST",
            f"{self.base}/api/organizations/{org}/chat_conversations/{conversation}/completion",
            content=dumps(body),
            headers={
                **self.headers(f"/chat/{conversation}", accept="text/event-stream"),
                "content-type": "application/json",
            },
        )
        if response.status_code != 200:
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise self.failure(response, "claude.ai completion")
        return response


class WebAccounts:
    """The account lookup of each cookie, cached.

    Concurrent first requests on one cookie share one lookup. An entry expires
    after :data:`ACCOUNT_TTL` and is dropped by :meth:`forget` after an auth
    failure, so a changed plan or new flags are seen soon.
    """

    def __init__(self, clock: Callable[[], float], ttl: float = ACCOUNT_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._cache: dict[str, tuple[float, WebAccount]] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self.lookups = 0
        """How many lookups were made (the tests check the cache with it)."""

    def cached(self, cookie: str) -> WebAccount | None:
        entry = self._cache.get(cookie)
        if entry is None or self.clock() - entry[0] >= self.ttl:
            return None
        return entry[1]

    async def get(self, call: WebCall) -> WebAccount:
        """The cookie's account, looked up if not cached."""
        account = self.cached(call.cookie)
        if account is not None:
            return account
        lock = self._locks.setdefault(call.cookie, anyio.Lock())
        async with lock:
            account = self.cached(call.cookie)
            if account is None:
                self.lookups += 1
                account = await call.lookup_account()
                self._cache[call.cookie] = (self.clock(), account)
            return account

    def forget(self, cookie: str) -> None:
        """Drop what is known about ``cookie`` (auth failure, or the cookie was removed)."""
        self._cache.pop(cookie, None)
        self._locks.pop(cookie, None)
