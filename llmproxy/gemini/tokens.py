"""Access tokens for Vertex AI service accounts: fetched once, shared, refreshed early.

A service account trades a signed JWT (:func:`~.service_account.jwt_assertion`)
for an access token at its ``token_uri`` (protocols.md §3.9). The token is
cached per account until :data:`REFRESH_MARGIN` seconds before it expires (the
margin google-auth uses), so a request never starts with a token about to die.
Concurrent requests on one account share one exchange: the first takes the
account's lock and fetches, the rest wait on the lock and find the new token.

A token endpoint that refuses the account (``invalid_grant``: a revoked key, a
deleted account, a bad signature) retires it from the rotation with the
endpoint's words; any other failure is nobody's fault and another account is
tried.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from ..chain.rotate import CredentialRejected
from ..credentials.outcomes import Retired
from ..errors import UpstreamError
from ..upstream.client import CALL_TIMEOUT, Client, UpstreamUnreachable
from .keys import TextReason
from .rotation import Transient
from .service_account import ServiceAccount, jwt_assertion

__all__ = ["GRANT_TYPE", "REFRESH_MARGIN", "VertexTokens"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_MARGIN = 225.0
"""Seconds before expiry a cached token is replaced (google-auth: 3 min 45 s)."""
_DEFAULT_LIFETIME = 3600.0


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float


class VertexTokens:
    """The access-token cache of every service account.

    Args:
        clock: Epoch seconds; expiry is judged by it.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self.exchanges = 0
        """How many token exchanges were made (for the admin page and tests)."""

    def cached(self, email: str) -> float | None:
        """When the cached token of ``email`` expires, or ``None`` if there is none."""
        token = self._tokens.get(email)
        return None if token is None else token.expires_at

    def _fresh(self, email: str) -> str | None:
        token = self._tokens.get(email)
        if token is not None and token.expires_at - REFRESH_MARGIN > self.clock():
            return token.value
        return None

    async def access_token(self, account: ServiceAccount, client: Client) -> str:
        """A token for ``account``, from the cache or a new exchange.

        Raises:
            CredentialRejected: the token endpoint refused the account.
            Transient: the token endpoint failed for another reason.
        """
        email = account.client_email
        found = self._fresh(email)
        if found is not None:
            return found
        lock = self._locks.setdefault(email, anyio.Lock())
        async with lock:
            found = self._fresh(email)  # another request may have fetched it meanwhile
            if found is not None:
                return found
            token = await self._exchange(account, client)
            self._tokens[email] = token
            return token.value

    def forget(self, email: str) -> None:
        """Drop the cached token (the API refused it, or the account was replaced)."""
        self._tokens.pop(email, None)

    async def _exchange(self, account: ServiceAccount, client: Client) -> _Token:
        now = self.clock()
        form = {"grant_type": GRANT_TYPE, "assertion": jwt_assertion(account, now)}
        self.exchanges += 1
        try:
            response = await client.post(
                account.token_uri,
                data=form,
                headers={"accept": "application/json"},
                timeout=CALL_TIMEOUT,
            )
        except UpstreamUnreachable as exc:
            raise Transient(
                UpstreamError(f"the token endpoint could not be reached: {exc.message}", status=502)
            ) from None
        body = _json(response.content)
        if response.status_code == 200 and isinstance(body, Mapping):
            value = body.get("access_token")
            if isinstance(value, str) and value:
                return _Token(value, now + _lifetime(body.get("expires_in")))
            missing = UpstreamError("the token endpoint answered without a token", status=502)
            raise Transient(missing)
        text = _describe(body, response.status_code)
        if response.status_code in (400, 401, 403):
            message = f"Vertex AI token refused for {account.client_email}: {text}"
            raise CredentialRejected(
                Retired(TextReason.of(f"token refused: {text}")),
                UpstreamError(message, status=401),
            )
        raise Transient(UpstreamError(f"the token endpoint failed: {text}", status=502))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _lifetime(value: Any) -> float:
    # google-auth accepts expires_in as a number or a numeric string.
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return _DEFAULT_LIFETIME
    return seconds if seconds > 0 else _DEFAULT_LIFETIME


def _describe(body: Any, status: int) -> str:
    if isinstance(body, Mapping):
        error, description = body.get("error"), body.get("error_description")
        if isinstance(error, str):
            return f"{error}: {description}" if isinstance(description, str) else error
    return f"HTTP {status}"
