"""Who may call what: the API password, the admin password, or nobody.

Where each password is looked for follows what clients send:

- Claude and OpenAI routes: ``x-api-key`` (the ``anthropic`` SDK), else
  ``Authorization: Bearer`` (``openai``, Claude Code's ``ANTHROPIC_AUTH_TOKEN``).
- Gemini-native routes: ``?key=`` or ``x-goog-api-key`` (``google-genai``).
- ``/api/*``: the admin password as ``Authorization: Bearer``.

The two passwords are separate secrets and are not interchangeable. Comparison
is constant-time (``hmac.compare_digest``), and an empty configured password
never matches anything.

Wrong admin passwords are throttled per client address (see
:mod:`llmproxy.admin.throttle`): after a few, the address gets 429 with
``Retry-After`` on every admin route until its lock runs out. The API password is
not throttled here: API clients retry on their own schedule, and a 429 from the
proxy would read to them as an upstream rate limit.
"""

from __future__ import annotations

import enum
import hmac
from typing import TYPE_CHECKING

from ..admin.throttle import throttle_for
from ..errors import AuthenticationFailed, ClientError

if TYPE_CHECKING:
    from ..asgi.request import Request
    from . import Handler, Step

__all__ = [
    "Auth",
    "TooManyLoginAttempts",
    "authenticate",
    "bearer_token",
    "client_address",
    "matches",
]


class TooManyLoginAttempts(ClientError):
    """Too many wrong admin passwords from this address; wait ``Retry-After`` seconds."""

    kind = "rate_limit"
    default_status = 429

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(
            f"Too many wrong admin passwords from this address; try again in {seconds} s",
            headers={"retry-after": str(seconds)},
        )
        self.retry_after = seconds


class Auth(enum.Enum):
    """Which password a route wants, and where it looks for it."""

    NONE = "none"
    API = "api"
    GEMINI = "gemini"
    ADMIN = "admin"


def matches(given: str | None, expected: str) -> bool:
    """Constant-time password check; nothing matches an unset password."""
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    value = request.header("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _check(kind: Auth, request: Request) -> None:
    settings = request.app.settings
    if kind is Auth.API:
        key, bearer = request.header("x-api-key"), bearer_token(request)
        if matches(key, settings.password) or matches(bearer, settings.password):
            return
        if key is None and bearer is None:
            raise AuthenticationFailed(
                "Missing API key: send the API password as x-api-key or Authorization: Bearer"
            )
        raise AuthenticationFailed("Invalid API key")
    if kind is Auth.GEMINI:
        key, header = request.query.get("key"), request.header("x-goog-api-key")
        if matches(key, settings.password) or matches(header, settings.password):
            return
        if key is None and header is None:
            raise AuthenticationFailed(
                "Missing API key: pass the API password as ?key= or x-goog-api-key"
            )
        raise AuthenticationFailed("API key not valid. Please pass a valid API key.")
    if kind is Auth.ADMIN:
        _check_admin(request)


def client_address(request: Request) -> str:
    """The peer's IP address as the server saw it (``"unknown"`` when not given).

    Deliberately not ``X-Forwarded-For``: any client can write that header, so
    trusting it would let an attacker pick a fresh address for every guess.
    """
    client = request.scope.get("client")
    if client:
        return str(client[0])
    return "unknown"


def _check_admin(request: Request) -> None:
    proxy = request.app
    throttle = throttle_for(proxy)
    address = client_address(request)
    now = proxy.clock()
    wait = throttle.retry_after(address, now)
    if wait > 0:
        raise TooManyLoginAttempts(wait)
    token = bearer_token(request)
    if matches(token, proxy.settings.admin_password):
        return
    if token is None:
        # No password at all is not a guess (a page loading before login); not counted.
        raise AuthenticationFailed("Admin password required as Authorization: Bearer")
    lock = throttle.failed(address, now)
    if lock > 0:
        seconds = max(1, int(lock + 0.999))
        raise AuthenticationFailed(
            f"Invalid admin password; this address must wait {seconds} s before the next try",
            headers={"retry-after": str(seconds)},
        )
    raise AuthenticationFailed("Invalid admin password")


def authenticate(kind: Auth) -> Step:
    """The chain step that lets a request through only with the right password."""

    async def step(request: Request, call_next: Handler) -> None:
        _check(kind, request)
        await call_next(request)

    return step
