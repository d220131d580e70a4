"""From a claude.ai session cookie to a Claude Code OAuth token, with no browser.

The flow (clewdr-behaviour.md §6.1–§6.3), every call under the Anthropic base
(``rproxy`` moves all of them):

1. ``GET /api/bootstrap`` with the cookie: the organisation and its capabilities.
   No account → the cookie is dead (``Null``). A free account cannot use Claude
   Code: it is marked unable to use this route, and stays in rotation for the
   claude.ai web route (ClewdR retires it for good; we do not).
2. ``POST /v1/oauth/{org}/authorize`` with the cookie and a PKCE challenge: the
   answer's ``redirect_uri`` carries the authorization code.
3. ``POST /v1/oauth/token`` (form) exchanges code + verifier for a token pair.

The token is stored on the cookie (so a restart does not log in again) and
refreshed five minutes before it expires. A refresh rejected with
``invalid_grant`` clears the token and runs the whole flow once more, which also
re-checks that the account may still use Claude Code. Concurrent requests on one
cookie share one refresh: the first takes a per-cookie lock, the rest wait on it
and then find the fresh token.

Failures that belong to the cookie (401, 429, disabled, OAuth not allowed) are
raised as :class:`~llmproxy.chain.rotate.CredentialRejected`, so the rotation loop
moves on to the next cookie.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio

from ..chain.rotate import CredentialRejected
from ..credentials import (
    AccountKind,
    Incapable,
    Lease,
    Retired,
    account_kind_from_capabilities,
    classify_failure,
    token_stored,
)
from ..credentials.reasons import Reason
from ..credentials.records import CookieRecord, OAuthToken
from ..errors import UpstreamError
from .client import CALL_TIMEOUT, Client, ReadResponse

__all__ = ["OAuthError", "TokenKeeper", "pkce_pair"]

REDIRECT_URI = "https://console.anthropic.com/oauth/code/callback"
SCOPE = "user:profile user:inference"
USER_AGENT = "claude-code/2.1.76"
ROUTE = "code"


class OAuthError(UpstreamError):
    """The OAuth flow failed for a reason that is not the cookie's (a 5xx, a bad answer)."""


class _InvalidGrant(Exception):
    """The refresh token was refused; the whole flow must run again."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """A PKCE (verifier, S256 challenge) pair: 32 random bytes, base64url without padding."""
    verifier = _b64url(secrets.token_bytes(32))
    challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge


def _json(response: ReadResponse) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def rejection_or_error(
    response: ReadResponse, now: float, what: str
) -> CredentialRejected | UpstreamError:
    """Turn a non-2xx upstream answer into the cookie's fault or the client's error."""
    body = _json(response)
    message = None
    upstream_type = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        message = body["error"].get("message")
        upstream_type = body["error"].get("type")
    if response.status_code == 302:
        message = "Blocked by the upstream (redirect); check the server's IP address or region"
    text = message if isinstance(message, str) else f"{what} failed with HTTP {response.status_code}"
    error = UpstreamError(
        text,
        status=response.status_code,
        upstream_type=upstream_type if isinstance(upstream_type, str) else None,
        body=body,
    )
    outcome = classify_failure(response.status_code, body, response.headers, now=now)
    if outcome is None:
        return error
    return CredentialRejected(outcome, error)


class TokenKeeper:
    """Gets and keeps a valid access token for each cookie.

    Args:
        clock: Epoch seconds (token expiry is judged by it).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._locks: dict[str, anyio.Lock] = {}

    async def access_token(
        self, lease: Lease[CookieRecord], client: Client, base: str, client_id: str
    ) -> str:
        """A usable access token for the leased cookie, logging in or refreshing as needed.

        Raises:
            CredentialRejected: the cookie cannot be used here (dead, free, limited).
            UpstreamError: the upstream failed in a way that is not the cookie's fault.
        """
        token = lease.record.token
        if token is not None and not token.is_expired(self.clock()):
            return token.access_token
        lock = self._locks.setdefault(lease.key, anyio.Lock())
        async with lock:
            token = lease.record.token  # another request may have refreshed it meanwhile
            if token is not None and not token.is_expired(self.clock()):
                return token.access_token
            flow = _Flow(client, base, client_id, lease.key, self.clock)
            if token is not None and token.refresh_token:
                try:
                    fresh = await flow.refresh(token)
                except _InvalidGrant:
                    lease.report(token_stored(None))
                    fresh = await flow.login()
            else:
                fresh = await flow.login()
            lease.report(token_stored(fresh))
            return fresh.access_token

    def forget(self, key: str) -> None:
        """Drop the lock of a removed cookie."""
        self._locks.pop(key, None)


class _Flow:
    """One run of the OAuth calls for one cookie."""

    def __init__(
        self, client: Client, base: str, client_id: str, cookie: str, clock: Callable[[], float]
    ) -> None:
        self.client = client
        self.base = base
        self.client_id = client_id
        self.cookie = cookie
        self.clock = clock

    def _cookie_headers(self) -> dict[str, str]:
        return {
            "cookie": f"sessionKey={self.cookie}",
            "origin": "https://api.anthropic.com",
            "referer": "https://api.anthropic.com/new",
            "user-agent": USER_AGENT,
            "accept": "application/json",
        }

    async def login(self) -> OAuthToken:
        org = await self.bootstrap()
        code, state, verifier = await self.authorize(org)
        return await self.exchange(org, code, state, verifier)

    async def bootstrap(self) -> str:
        response = await self.client.get(
            f"{self.base}/api/bootstrap", headers=self._cookie_headers(), timeout=CALL_TIMEOUT
        )
        if response.status_code != 200:
            raise rejection_or_error(response, self.clock(), "claude.ai bootstrap")
        body = _json(response)
        account = body.get("account") if isinstance(body, Mapping) else None
        if not isinstance(account, Mapping):
            raise CredentialRejected(
                Retired(Reason.NULL), UpstreamError("The cookie has no account", status=401)
            )
        for membership in account.get("memberships") or []:
            org = membership.get("organization") if isinstance(membership, Mapping) else None
            capabilities = org.get("capabilities") if isinstance(org, Mapping) else None
            if isinstance(capabilities, list) and "chat" in capabilities:
                kind = account_kind_from_capabilities(str(c) for c in capabilities)
                if kind is AccountKind.FREE:
                    raise CredentialRejected(
                        Incapable(ROUTE, AccountKind.FREE),
                        UpstreamError("A free account cannot use Claude Code", status=403,
                                      upstream_type="permission_error"),
                    )
                uuid = org.get("uuid") if isinstance(org, Mapping) else None
                if isinstance(uuid, str) and uuid:
                    return uuid
        raise CredentialRejected(
            Retired(Reason.NULL), UpstreamError("The account has no chat organisation", status=401)
        )

    async def authorize(self, org: str) -> tuple[str, str, str]:
        verifier, challenge = pkce_pair()
        state = _b64url(secrets.token_bytes(32))
        payload = {
            "response_type": "code",
            "client_id": self.client_id,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "organization_uuid": org,
        }
        response = await self.client.post(
            f"{self.base}/v1/oauth/{org}/authorize", json=payload,
            headers=self._cookie_headers(),
            timeout=CALL_TIMEOUT,
        )
        if response.status_code != 200:
            raise rejection_or_error(response, self.clock(), "OAuth authorize")
        body = _json(response)
        redirect = body.get("redirect_uri") if isinstance(body, Mapping) else None
        query = parse_qs(urlsplit(redirect).query) if isinstance(redirect, str) else {}
        if "code" not in query:
            raise OAuthError("OAuth authorize answered without a code", status=502)
        returned_state = query.get("state", [state])[0]
        return query["code"][0], returned_state, verifier

    async def exchange(self, org: str, code: str, state: str, verifier: str) -> OAuthToken:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "state": state,
        }
        return await self._token_call(form, org)

    async def refresh(self, token: OAuthToken) -> OAuthToken:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": token.refresh_token,
            "client_id": self.client_id,
        }
        return await self._token_call(form, token.organization_uuid)

    async def _token_call(self, form: dict[str, str], org: str) -> OAuthToken:
        response = await self.client.post(
            f"{self.base}/v1/oauth/token",
            data=form,
            headers={
                "accept": "application/json",
                "anthropic-version": "2023-06-01",
                "anthropic-beta": "oauth-2025-04-20",
                "user-agent": USER_AGENT,
            },
            timeout=CALL_TIMEOUT,
        )
        body = _json(response)
        if response.status_code == 200 and isinstance(body, Mapping):
            try:
                return OAuthToken.from_token_response(body, org, self.clock())
            except ValueError as exc:
                raise OAuthError(f"OAuth token answer unusable: {exc}", status=502) from None
        if form["grant_type"] == "refresh_token" and _is_invalid_grant(body):
            raise _InvalidGrant()
        failure = rejection_or_error(response, self.clock(), "OAuth token")
        if isinstance(failure, CredentialRejected):
            raise failure
        raise OAuthError(
            f"OAuth token endpoint answered HTTP {response.status_code}"
            + (f": {body.get('error')}" if isinstance(body, Mapping) and body.get("error") else ""),
            status=502,
        )


def _is_invalid_grant(body: Any) -> bool:
    if not isinstance(body, Mapping):
        return False
    code = str(body.get("error", "")).lower()
    description = str(body.get("error_description", "")).lower()
    return "invalid_grant" in code or "refresh token" in description and (
        "not found" in description or "invalid" in description
    )
