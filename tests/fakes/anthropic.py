"""A fake of everything Anthropic-side that llmproxy's Claude Code route talks to.

All endpoints live on one base URL, because llmproxy's ``rproxy`` setting moves every
Anthropic call to one base:

============================================  =========================================
``GET  /api/bootstrap``                        claude.ai web bootstrap, ``Cookie: sessionKey=…``
``POST /v1/oauth/{org_uuid}/authorize``        PKCE authorisation with the cookie (JSON body)
``POST /v1/oauth/token``                       code exchange and refresh (form or JSON body)
``POST /v1/messages``                          Messages API, JSON or SSE, Bearer + oauth beta
``POST /v1/messages/count_tokens``             ``{"input_tokens": N}``
``GET  /api/oauth/usage``                      five-hour / seven-day usage windows (Bearer)
============================================  =========================================

It checks what the real service checks (references: protocols.md §1, §4.6, §4.7;
clewdr-behaviour.md §4.6, §6.1–§6.6; clove-behaviour.md §4) and answers in the real
formats. Every error, except on the token endpoint (which speaks OAuth:
``{"error": "invalid_grant", "error_description": …}``), has Anthropic's shape
``{"type": "error", "error": {"type", "message"}, "request_id"}`` and a ``request-id``
header; no error is ever sent with status 200.

Accounts
--------
::

    clock = ManualClock(1_700_000_000)
    fake = FakeAnthropic(clock=clock, expires_in=3600)
    pro = fake.add_account(cookie, tier="pro")      # "free" | "pro" | "max"
    async with serve(fake) as base: ...

``free`` has capabilities ``["chat"]`` (authorize answers 403 "OAuth authentication is
currently not allowed for this organization."), ``pro`` ``["chat", "claude_pro"]``,
``max`` ``["chat", "claude_max"]``. ``fake.account(cookie)`` finds an account again.
An unknown cookie on ``/api/bootstrap`` gets 401 (``FakeAnthropic(unknown_cookie="null")``
answers 200 ``{"account": null}`` instead; clewdr treats both as a dead cookie).

Tokens expire by the injected ``clock`` (``clock.advance(s)``; never the wall clock);
``fake.expires_in`` is what the next issued token gets. A refresh *rotates*: the old
refresh token becomes ``invalid_grant`` and, with ``revoke_on_refresh=True`` (the
default), the old access token is rejected with 401. ``account.revoke()`` kills every
token of an account (its refresh token then answers ``invalid_grant``).

Counters: ``account.authorizations``, ``account.exchanges``, ``account.refreshes`` and
the totals ``fake.authorizations`` / ``fake.exchanges`` / ``fake.refreshes``.
``account.requests`` lists the ``/v1/messages`` requests that reached that account
(passed the auth, header and body checks), scripted failures included.

Scripting the next answers
--------------------------
Each account has a queue per endpoint; the next request *that passes the fake's own
checks* for that account takes the next item, and an empty queue means the normal
answer. ::

    pro.next_messages(
        Failure.rate_limited(resets_at=1_700_003_600),   # 429, resetsAt in error.message
        Answer([Thinking("hmm", signature="sig"), Text("Hi"), ToolUse("f", {"a": 1})]),
    )
    pro.next_count_tokens(Failure.forbidden())
    pro.next("authorize", Failure.cloudflare())          # any endpoint by name

Endpoint names: ``bootstrap``, ``authorize``, ``token``, ``messages``, ``count_tokens``,
``usage``. Ready-made failures: :meth:`Failure.rate_limited` (``resets_at`` in the JSON
string of ``error.message`` and/or ``unified_reset`` in the
``anthropic-ratelimit-unified-reset`` header), :meth:`Failure.unauthorized` (401),
:meth:`Failure.oauth_not_allowed` (403, or ``status=401`` as clove saw it),
:meth:`Failure.disabled` (400 "This organization has been disabled."),
:meth:`Failure.overloaded` (529), :meth:`Failure.server_error` (500),
:meth:`Failure.forbidden` (403), :meth:`Failure.cloudflare` (302),
:meth:`Failure.oauth_error` (the token endpoint's own shape).

:class:`Answer` scripts the content (``Text``, ``Thinking`` with a signature,
``ToolUse`` with an input; in order) and, for ``"stream": true``, the stream's fate:

- ``cut_after=N``: send the first N events, then drop the connection (no clean end);
- ``hold_after=N, gate=trio.Event()``: send N events, set ``answer.reached``, wait for
  ``gate``, then send the rest. A test can hang up while it waits and then assert
  ``recorded.cancelled``. (A non-stream answer with a ``gate`` waits before answering.)
- ``error_after=N, error=Failure.overloaded()``: after N events an ``event: error``.

Stream shape (protocols.md §1.8): ``message_start`` (usage with input counts), then per
block ``content_block_start``, its deltas (text and thinking in up to 3 pieces, then one
``signature_delta``; tool input JSON as ``""`` plus up to 3 pieces), ``content_block_stop``;
one ``ping`` right after the first ``content_block_start``; ``message_delta`` (stop
reason, cumulative ``output_tokens``); ``message_stop``; every event with an ``event:``
line. ``fake.stream_events(answer, request_body)`` builds such a list (fresh ids), and
``fake.sent(recorded)`` returns the bytes the fake actually wrote for a request, so a
test can assert byte-exact relaying.

Caution: the scaffold (server.py, as of this writing) also marks a stream that
*completed* as ``recorded.cancelled``; to prove a hang-up cut the upstream short, check
``fake.sent(recorded)`` stopped early as well. Token counts are deterministic:
:func:`count_input_tokens` (JSON length of system + messages + tools, divided by 4) and
:func:`count_output_tokens`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import trio

from tests.fakes.server import FakeUpstream, Recorded, Reply, sse_event

__all__ = [
    "CLIENT_ID",
    "OAUTH_BETA",
    "REDIRECT_URI",
    "Account",
    "Answer",
    "Failure",
    "FakeAnthropic",
    "ManualClock",
    "Text",
    "Thinking",
    "ToolUse",
    "Window",
    "count_input_tokens",
    "count_output_tokens",
]

CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
"""Claude Code's public OAuth client id (clove §4.1; llmproxy's DEFAULT_CLIENT_ID)."""
REDIRECT_URI = "https://console.anthropic.com/oauth/code/callback"
OAUTH_BETA = "oauth-2025-04-20"
KNOWN_SCOPES = frozenset(
    {"user:profile", "user:inference", "org:create_api_key", "user:sessions:claude_code"}
)
OAUTH_NOT_ALLOWED = "OAuth authentication is currently not allowed for this organization."
TOKEN_EXPIRED = "OAuth token has expired. Please obtain a new token or refresh your existing token."
OAUTH_NOT_SUPPORTED = "OAuth authentication is currently not supported."
CODE_LIFETIME = 600.0
ENDPOINTS = ("bootstrap", "authorize", "token", "messages", "count_tokens", "usage")
Tier = Literal["free", "pro", "max"]
CAPABILITIES: dict[str, list[str]] = {
    "free": ["chat"],
    "pro": ["chat", "claude_pro"],
    "max": ["chat", "claude_max"],
}


class ManualClock:
    """A clock that moves only when told: ``clock()`` reads it, ``advance`` moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --------------------------------------------------------------------------- scripts


@dataclasses.dataclass
class Text:
    """A text block."""

    text: str


@dataclasses.dataclass
class Thinking:
    """A thinking block; its signature arrives as one ``signature_delta``."""

    thinking: str
    signature: str


@dataclasses.dataclass
class ToolUse:
    """A tool call; in a stream its input JSON is split across several deltas."""

    name: str
    input: dict[str, Any]
    id: str | None = None


Block = Text | Thinking | ToolUse


@dataclasses.dataclass
class Failure:
    """An error answer: status, Anthropic error type and message, extra headers.

    ``body`` replaces the Anthropic-shaped body entirely (the token endpoint's OAuth
    errors); ``location`` makes it a redirect (Cloudflare).
    """

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: dict[str, Any] | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        if 200 <= self.status < 300:
            raise ValueError("a Failure never has a 2xx status")

    @classmethod
    def rate_limited(
        cls,
        resets_at: int | None = None,
        *,
        unified_reset: int | None = None,
        claim: str = "five_hour",
        retry_after: int | None = None,
    ) -> Failure:
        """429 ``rate_limit_error``.

        With ``resets_at`` the message is claude's JSON string
        ``{"type":"exceeded_limit","resetsAt":…}``; without it a plain sentence (so a
        client must fall back to the header or its default). ``unified_reset`` sets
        the ``anthropic-ratelimit-unified-reset`` header (epoch seconds).
        """
        if resets_at is not None:
            message = json.dumps(
                {
                    "type": "exceeded_limit",
                    "resetsAt": resets_at,
                    "representativeClaim": claim,
                    "perModelLimit": False,
                },
                separators=(",", ":"),
            )
        else:
            message = "This request would exceed your account's rate limit. Please try again later."
        headers: dict[str, str] = {}
        if unified_reset is not None:
            headers["anthropic-ratelimit-unified-reset"] = str(unified_reset)
            headers["anthropic-ratelimit-unified-status"] = "rejected"
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        return cls(429, "rate_limit_error", message, headers)

    @classmethod
    def unauthorized(cls, message: str = "Invalid bearer token") -> Failure:
        return cls(401, "authentication_error", message)

    @classmethod
    def oauth_not_allowed(cls, status: int = 403) -> Failure:
        error_type = "permission_error" if status == 403 else "authentication_error"
        return cls(status, error_type, OAUTH_NOT_ALLOWED)

    @classmethod
    def disabled(cls) -> Failure:
        return cls(400, "invalid_request_error", "This organization has been disabled.")

    @classmethod
    def overloaded(cls) -> Failure:
        return cls(529, "overloaded_error", "Overloaded")

    @classmethod
    def server_error(cls) -> Failure:
        return cls(500, "api_error", "Internal server error")

    @classmethod
    def forbidden(
        cls, message: str = "You do not have permission to use this endpoint."
    ) -> Failure:
        return cls(403, "permission_error", message)

    @classmethod
    def cloudflare(cls) -> Failure:
        """A Cloudflare block: 302 to a challenge page."""
        return cls(302, "", "", location="https://claude.ai/login?cf_challenge=1")

    @classmethod
    def oauth_error(
        cls, error: str = "invalid_grant", description: str = "", status: int = 400
    ) -> Failure:
        """The token endpoint's own error shape ``{"error", "error_description"}``."""
        return cls(
            status, error, description, body={"error": error, "error_description": description}
        )


@dataclasses.dataclass
class Answer:
    """A successful ``/v1/messages`` answer; see the module docstring."""

    content: list[Block] = dataclasses.field(
        default_factory=lambda: [Text("Hello from the fake Anthropic API.")]
    )
    stop_reason: str | None = None
    """Default: ``tool_use`` when a ToolUse is present, else ``end_turn``."""
    stop_sequence: str | None = None
    input_tokens: int | None = None
    """Default: :func:`count_input_tokens` of the request."""
    output_tokens: int | None = None
    """Default: :func:`count_output_tokens` of the content."""
    cut_after: int | None = None
    hold_after: int | None = None
    gate: trio.Event | None = None
    error_after: int | None = None
    error: Failure | None = None
    reached: trio.Event = dataclasses.field(default_factory=trio.Event)
    """Set when a held answer reaches its gate."""


Script = Answer | Failure | int
"""What a queue holds: an Answer (messages), a Failure (any endpoint), an int (count_tokens)."""


@dataclasses.dataclass
class Window:
    """One usage window of ``/api/oauth/usage``: utilization in percent, reset epoch."""

    utilization: float
    resets_at: float | None


# -------------------------------------------------------------------------- accounts


@dataclasses.dataclass(eq=False)
class Account:
    """One claude.ai account: cookie, organization, tier, scripts, counters."""

    cookie: str
    email: str
    org_uuid: str
    account_uuid: str
    tier: Tier
    capabilities: list[str] | None = None
    """Overrides the tier's capabilities in bootstrap (the tier still decides OAuth)."""
    active_flags: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    usage: dict[str, Window | None] = dataclasses.field(default_factory=dict)
    """``/api/oauth/usage`` windows; empty means defaults computed from the clock."""
    unified_reset: int | None = None
    """When set, sent as ``anthropic-ratelimit-unified-reset`` on every messages answer."""
    authorizations: int = 0
    exchanges: int = 0
    refreshes: int = 0
    requests: list[Recorded] = dataclasses.field(default_factory=list)
    _queues: dict[str, deque[Script]] = dataclasses.field(
        default_factory=lambda: {name: deque() for name in ENDPOINTS}
    )
    _generation: int = 0
    """Bumped by :meth:`revoke`; tokens of an older generation are dead."""

    def next(self, endpoint: str, *scripts: Script) -> Account:
        """Queue answers for this account's next requests to ``endpoint``."""
        if endpoint not in self._queues:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {ENDPOINTS}")
        self._queues[endpoint].extend(scripts)
        return self

    def next_messages(self, *scripts: Answer | Failure) -> Account:
        return self.next("messages", *scripts)

    def next_count_tokens(self, *scripts: Failure | int) -> Account:
        return self.next("count_tokens", *scripts)

    def pending(self, endpoint: str = "messages") -> int:
        """How many scripted answers are still queued."""
        return len(self._queues[endpoint])

    def revoke(self) -> None:
        """Invalidate every access and refresh token issued so far (later ones work)."""
        self._generation += 1

    def _take(self, endpoint: str) -> Script | None:
        queue = self._queues[endpoint]
        return queue.popleft() if queue else None


@dataclasses.dataclass
class _Token:
    account: Account
    expires_at: float
    revoked: bool = False
    generation: int = 0


@dataclasses.dataclass
class _Code:
    account: Account
    challenge: str
    state: str
    redirect_uri: str
    client_id: str
    issued_at: float
    used: bool = False


# ---------------------------------------------------------------------- token counts


def count_input_tokens(body: Mapping[str, Any]) -> int:
    """The fake's deterministic input count: compact JSON of system+messages+tools / 4."""
    relevant = {k: body[k] for k in ("system", "messages", "tools") if k in body}
    return max(1, math.ceil(len(json.dumps(relevant, separators=(",", ":"))) / 4))


def count_output_tokens(content: list[Block]) -> int:
    """The fake's deterministic output count: characters of the content / 4, at least 1."""
    chars = 0
    for block in content:
        if isinstance(block, Text):
            chars += len(block.text)
        elif isinstance(block, Thinking):
            chars += len(block.thinking)
        else:
            chars += len(block.name) + len(json.dumps(block.input))
    return max(1, math.ceil(chars / 4))


def _split(text: str, parts: int) -> list[str]:
    """``text`` in ``parts`` nearly equal pieces (fewer when it is short; never empty)."""
    if not text:
        return [""]
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


# ----------------------------------------------------------------------------- fake


class FakeAnthropic(FakeUpstream):
    """Anthropic's OAuth + Messages API and claude.ai's bootstrap; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        client_id: str = CLIENT_ID,
        expires_in: int = 28800,
        revoke_on_refresh: bool = True,
        unknown_cookie: Literal["401", "null"] = "401",
    ) -> None:
        super().__init__()
        self.clock = clock
        self.client_id = client_id
        self.expires_in = expires_in
        self.revoke_on_refresh = revoke_on_refresh
        self.unknown_cookie = unknown_cookie
        self.accounts: dict[str, Account] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._codes: dict[str, _Code] = {}
        self._sent: dict[int, bytearray] = {}
        self._serial = 0

        self.route("GET", "/api/bootstrap")(self._bootstrap)
        self.route("POST", "/v1/oauth/token")(self._token)
        self.route("POST", "/v1/oauth/", prefix=True)(self._authorize)
        self.route("POST", "/v1/messages")(self._messages)
        self.route("POST", "/v1/messages/count_tokens")(self._count_tokens)
        self.route("GET", "/api/oauth/usage")(self._usage)

    # ------------------------------------------------------------------ public API

    def add_account(
        self,
        cookie: str,
        tier: Tier = "pro",
        *,
        email: str | None = None,
        org_uuid: str | None = None,
        capabilities: list[str] | None = None,
    ) -> Account:
        """Register a claude.ai account reachable with ``Cookie: sessionKey=<cookie>``."""
        n = len(self.accounts) + 1
        account = Account(
            cookie=cookie,
            email=email or f"user{n}@example.com",
            org_uuid=org_uuid or f"00000000-0000-4000-8000-{n:012d}",
            account_uuid=f"11111111-1111-4111-8111-{n:012d}",
            tier=tier,
            capabilities=capabilities,
        )
        self.accounts[cookie] = account
        return account

    def account(self, cookie: str) -> Account:
        return self.accounts[cookie]

    @property
    def authorizations(self) -> int:
        return sum(a.authorizations for a in self.accounts.values())

    @property
    def exchanges(self) -> int:
        return sum(a.exchanges for a in self.accounts.values())

    @property
    def refreshes(self) -> int:
        return sum(a.refreshes for a in self.accounts.values())

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def sent(self, recorded: Recorded) -> bytes:
        """The body bytes the fake wrote for ``recorded`` (for a stream: what it yielded)."""
        return bytes(self._sent.get(id(recorded), b""))

    def access_token_valid(self, token: str) -> bool:
        entry = self._access.get(token)
        return entry is not None and self._live(entry) and self.clock() < entry.expires_at

    async def not_found(self, request: Recorded) -> Reply:
        return self._error(Failure(404, "not_found_error", "Not found"))

    # ------------------------------------------------------------------ helpers

    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:020d}"

    def _request_id(self) -> str:
        return self._next_id("req_011CFake")

    def _error(self, failure: Failure) -> Reply:
        request_id = self._request_id()
        if failure.location is not None:
            return Reply(
                failure.status, headers={"location": failure.location, "content-type": "text/html"}
            )
        headers = {"request-id": request_id, **failure.headers}
        if failure.body is not None:
            return Reply.json(failure.body, failure.status, headers)
        body = {
            "type": "error",
            "error": {"type": failure.error_type, "message": failure.message},
            "request_id": request_id,
        }
        return Reply.json(body, failure.status, headers)

    def _invalid(self, message: str) -> Reply:
        return self._error(Failure(400, "invalid_request_error", message))

    def _ok(self, obj: Any, recorded: Recorded, headers: Mapping[str, str] | None = None) -> Reply:
        reply = Reply.json(obj, 200, {"request-id": self._request_id(), **(headers or {})})
        self._sent[id(recorded)] = bytearray(reply.body)
        return reply

    @staticmethod
    def _live(token: _Token) -> bool:
        return not token.revoked and token.generation == token.account._generation

    def _cookie_account(self, request: Recorded) -> Account | None:
        raw = request.headers.get("cookie", "")
        for part in raw.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "sessionKey":
                return self.accounts.get(value)
        return None

    def _bearer(self, request: Recorded) -> tuple[Account | None, Reply | None]:
        """The account behind the Bearer token, or the 401 the real API would give."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            if "x-api-key" in request.headers:
                return None, self._error(Failure.unauthorized("invalid x-api-key"))
            return None, self._error(Failure.unauthorized("x-api-key header is required"))
        entry = self._access.get(auth.removeprefix("Bearer ").strip())
        if entry is None or not self._live(entry):
            return None, self._error(Failure.unauthorized("Invalid bearer token"))
        if self.clock() >= entry.expires_at:
            return None, self._error(Failure.unauthorized(TOKEN_EXPIRED))
        return entry.account, None

    def _api_checks(self, request: Recorded) -> tuple[Account | None, Reply | None]:
        account, problem = self._bearer(request)
        if problem is not None:
            return None, problem
        betas = {b.strip() for b in request.headers.get("anthropic-beta", "").split(",")}
        if OAUTH_BETA not in betas:
            return None, self._error(Failure.unauthorized(OAUTH_NOT_SUPPORTED))
        if not request.headers.get("anthropic-version"):
            return None, self._invalid("anthropic-version: header is required")
        return account, None

    def _issue(self, account: Account) -> dict[str, Any]:
        access = self._next_id("sk-ant-oat01-fake")
        refresh = self._next_id("sk-ant-ort01-fake")
        entry = _Token(account, self.clock() + self.expires_in, generation=account._generation)
        self._access[access] = entry
        self._refresh[refresh] = entry
        return {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self.expires_in,
            "refresh_token": refresh,
            "scope": "user:inference user:profile",
            "organization": {"uuid": account.org_uuid, "name": f"{account.email}'s Organization"},
            "account": {"uuid": account.account_uuid, "email_address": account.email},
        }

    @staticmethod
    def _json_body(request: Recorded) -> tuple[dict[str, Any] | None, str | None]:
        try:
            body = json.loads(request.body)
        except ValueError:
            return None, "There was an error parsing the body of your request: not valid JSON"
        if not isinstance(body, dict):
            return None, "Request body must be a JSON object"
        return body, None

    # ------------------------------------------------------------------ bootstrap

    async def _bootstrap(self, request: Recorded) -> Reply:
        account = self._cookie_account(request)
        if account is None:
            if self.unknown_cookie == "null":
                return self._ok({"account": None}, request)
            return self._error(Failure(401, "authentication_error", "Invalid authorization"))
        scripted = account._take("bootstrap")
        if isinstance(scripted, Failure):
            return self._error(scripted)
        capabilities = (
            account.capabilities if account.capabilities is not None else CAPABILITIES[account.tier]
        )
        return self._ok(
            {
                "account": {
                    "uuid": account.account_uuid,
                    "email_address": account.email,
                    "memberships": [
                        {
                            "organization": {
                                "uuid": account.org_uuid,
                                "name": f"{account.email}'s Organization",
                                "capabilities": list(capabilities),
                                "active_flags": list(account.active_flags),
                            }
                        }
                    ],
                }
            },
            request,
        )

    # ------------------------------------------------------------------ authorize

    async def _authorize(self, request: Recorded) -> Reply:
        parts = request.path.split("/")  # ["", "v1", "oauth", org, "authorize"]
        if len(parts) != 5 or parts[4] != "authorize":
            return await self.not_found(request)
        account = self._cookie_account(request)
        if account is None:
            return self._error(Failure(401, "authentication_error", "Invalid authorization"))
        org = parts[3]
        body, problem = self._json_body(request)
        if body is None:
            return self._invalid(problem or "")
        if org != account.org_uuid or body.get("organization_uuid") != account.org_uuid:
            return self._error(Failure.forbidden("Invalid authorization for organization"))
        checks: list[tuple[bool, str]] = [
            (body.get("response_type") == "code", "response_type: must be 'code'"),
            (body.get("client_id") == self.client_id, "client_id: unknown client"),
            (
                body.get("redirect_uri") == REDIRECT_URI,
                "redirect_uri: not registered for this client",
            ),
            (
                isinstance(body.get("scope"), str)
                and "user:inference" in body["scope"].split()
                and set(body["scope"].split()) <= KNOWN_SCOPES,
                "scope: invalid scope",
            ),
            (body.get("code_challenge_method") == "S256", "code_challenge_method: must be 'S256'"),
            (
                isinstance(body.get("code_challenge"), str) and len(body["code_challenge"]) == 43,
                "code_challenge: must be a base64url SHA-256 digest",
            ),
            (isinstance(body.get("state"), str) and bool(body["state"]), "state: Field required"),
        ]
        for ok, message in checks:
            if not ok:
                return self._invalid(message)
        scripted = account._take("authorize")
        if isinstance(scripted, Failure):
            return self._error(scripted)
        if account.tier == "free":
            return self._error(Failure.oauth_not_allowed())
        account.authorizations += 1
        code = self._next_id("fakecode")
        self._codes[code] = _Code(
            account=account,
            challenge=body["code_challenge"],
            state=body["state"],
            redirect_uri=body["redirect_uri"],
            client_id=body["client_id"],
            issued_at=self.clock(),
        )
        location = f"{REDIRECT_URI}?{urlencode({'code': code, 'state': body['state']})}"
        return self._ok({"redirect_uri": location}, request)

    # ------------------------------------------------------------------ token

    async def _token(self, request: Recorded) -> Reply:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            parsed, problem = self._json_body(request)
            if parsed is None:
                return self._error(Failure.oauth_error("invalid_request", problem or ""))
            form = {k: str(v) for k, v in parsed.items()}
        elif content_type.startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        else:
            return self._error(Failure.oauth_error("invalid_request", "Unsupported content type"))
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id:
            return self._error(
                Failure.oauth_error("invalid_client", "Client authentication failed", 401)
            )
        if grant == "authorization_code":
            return self._exchange(form, request)
        if grant == "refresh_token":
            return self._refresh_grant(form, request)
        return self._error(
            Failure.oauth_error("unsupported_grant_type", f"Unsupported grant_type: {grant}")
        )

    def _exchange(self, form: dict[str, str], request: Recorded) -> Reply:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.used or self.clock() - code.issued_at > CODE_LIFETIME:
            return self._error(Failure.oauth_error("invalid_grant", "Invalid 'code' in request."))
        verifier = form.get("code_verifier", "")
        if not verifier or _pkce_challenge(verifier) != code.challenge:
            return self._error(Failure.oauth_error("invalid_grant", "Invalid code verifier"))
        if form.get("redirect_uri") != code.redirect_uri:
            return self._error(Failure.oauth_error("invalid_grant", "redirect_uri does not match"))
        if form.get("state") != code.state:
            return self._error(Failure.oauth_error("invalid_request", "Invalid state parameter"))
        scripted = code.account._take("token")
        if isinstance(scripted, Failure):
            return self._error(scripted)
        code.used = True
        code.account.exchanges += 1
        return self._ok(self._issue(code.account), request)

    def _refresh_grant(self, form: dict[str, str], request: Recorded) -> Reply:
        entry = self._refresh.get(form.get("refresh_token", ""))
        if entry is None or not self._live(entry):
            return self._error(
                Failure.oauth_error("invalid_grant", "Refresh token not found or invalid")
            )
        scripted = entry.account._take("token")
        if isinstance(scripted, Failure):
            return self._error(scripted)
        entry.account.refreshes += 1
        del self._refresh[form["refresh_token"]]  # refresh tokens rotate: single use
        if self.revoke_on_refresh:
            entry.revoked = True  # and the access token issued with it stops working
        return self._ok(self._issue(entry.account), request)

    # ------------------------------------------------------------------ usage

    async def _usage(self, request: Recorded) -> Reply:
        account, problem = self._bearer(request)
        if problem is not None or account is None:
            return problem or self._error(Failure.unauthorized())
        scripted = account._take("usage")
        if isinstance(scripted, Failure):
            return self._error(scripted)
        now = self.clock()
        windows: dict[str, Window | None] = {
            "five_hour": Window(0.0, now + 5 * 3600),
            "seven_day": Window(0.0, now + 7 * 86400),
            "seven_day_sonnet": Window(0.0, now + 7 * 86400),
            **account.usage,
        }
        body = {
            name: None
            if w is None
            else {
                "utilization": w.utilization,
                "resets_at": None if w.resets_at is None else _rfc3339(w.resets_at),
            }
            for name, w in windows.items()
        }
        return self._ok(body, request)

    # ------------------------------------------------------------------ messages

    def _check_messages_body(
        self, request: Recorded, *, need_max_tokens: bool
    ) -> tuple[dict[str, Any] | None, Reply | None]:
        body, problem = self._json_body(request)
        if body is None:
            return None, self._invalid(problem or "")
        for field in ("model", "messages") + (("max_tokens",) if need_max_tokens else ()):
            if field not in body:
                return None, self._invalid(f"{field}: Field required")
        if not isinstance(body["model"], str) or not body["model"]:
            return None, self._invalid("model: Input should be a valid string")
        if need_max_tokens and (not isinstance(body["max_tokens"], int) or body["max_tokens"] < 0):
            return None, self._invalid("max_tokens: Input should be a valid integer")
        messages = body["messages"]
        if not isinstance(messages, list):
            return None, self._invalid("messages: Input should be a valid list")
        if not messages:
            return None, self._invalid("messages: at least one message is required")
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return None, self._invalid(
                    f"messages.{i}.role: Input should be 'user' or 'assistant'"
                )
            if "content" not in message:
                return None, self._invalid(f"messages.{i}.content: Field required")
        thinking = body.get("thinking")
        if need_max_tokens and isinstance(thinking, dict) and thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                return None, self._invalid(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                )
            if budget >= body["max_tokens"]:
                return None, self._invalid(
                    "`max_tokens` must be greater than `thinking.budget_tokens`."
                )
        return body, None

    async def _count_tokens(self, request: Recorded) -> Reply:
        account, problem = self._api_checks(request)
        if problem is not None or account is None:
            return problem or self._error(Failure.unauthorized())
        body, problem = self._check_messages_body(request, need_max_tokens=False)
        if body is None:
            return problem or self._invalid("")
        scripted = account._take("count_tokens")
        if isinstance(scripted, Failure):
            return self._error(scripted)
        count = scripted if isinstance(scripted, int) else count_input_tokens(body)
        return self._ok({"input_tokens": count}, request)

    async def _messages(self, request: Recorded) -> Reply:
        account, problem = self._api_checks(request)
        if problem is not None or account is None:
            return problem or self._error(Failure.unauthorized())
        body, problem = self._check_messages_body(request, need_max_tokens=True)
        if body is None:
            return problem or self._invalid("")
        scripted = account._take("messages")
        account.requests.append(request)
        if isinstance(scripted, Failure):
            return self._error(scripted)
        answer = scripted if isinstance(scripted, Answer) else Answer()
        headers = {"request-id": self._request_id()}
        if account.unified_reset is not None:
            headers["anthropic-ratelimit-unified-reset"] = str(account.unified_reset)
        if body.get("stream") is True:
            return Reply.sse(
                self._stream(answer, body, request),
                headers=headers,
                break_after=answer.cut_after is not None,
            )
        if answer.gate is not None:
            answer.reached.set()
            await answer.gate.wait()
        reply = Reply.json(self.message(answer, body), 200, headers)
        self._sent[id(request)] = bytearray(reply.body)
        return reply

    def _ids(self, answer: Answer) -> tuple[str, list[str]]:
        msg_id = self._next_id("msg_01Fake")
        tool_ids = []
        for block in answer.content:
            if isinstance(block, ToolUse):
                tool_ids.append(block.id or self._next_id("toolu_01Fake"))
        return msg_id, tool_ids

    @staticmethod
    def _stop_reason(answer: Answer) -> str:
        if answer.stop_reason is not None:
            return answer.stop_reason
        return "tool_use" if any(isinstance(b, ToolUse) for b in answer.content) else "end_turn"

    def message(self, answer: Answer, body: Mapping[str, Any]) -> dict[str, Any]:
        """The non-streaming Message JSON for ``answer`` (protocols.md §1.7)."""
        msg_id, tool_ids = self._ids(answer)
        tools = iter(tool_ids)
        content: list[dict[str, Any]] = []
        for block in answer.content:
            if isinstance(block, Text):
                content.append({"type": "text", "text": block.text})
            elif isinstance(block, Thinking):
                content.append(
                    {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
                )
            else:
                content.append(
                    {
                        "type": "tool_use",
                        "id": next(tools),
                        "name": block.name,
                        "input": block.input,
                    }
                )
        return {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": self._stop_reason(answer),
            "stop_sequence": answer.stop_sequence,
            "usage": {
                **self._input_usage(answer, body),
                "output_tokens": self._output_tokens(answer),
            },
        }

    @staticmethod
    def _input_usage(answer: Answer, body: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "input_tokens": answer.input_tokens
            if answer.input_tokens is not None
            else count_input_tokens(body),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        }

    @staticmethod
    def _output_tokens(answer: Answer) -> int:
        return (
            answer.output_tokens
            if answer.output_tokens is not None
            else count_output_tokens(answer.content)
        )

    def stream_events(self, answer: Answer, body: Mapping[str, Any]) -> list[bytes]:
        """Every SSE event of a streamed ``answer``, in order (protocols.md §1.8)."""
        msg_id, tool_ids = self._ids(answer)
        tools = iter(tool_ids)
        events: list[bytes] = []

        def emit(name: str, data: dict[str, Any]) -> None:
            events.append(sse_event({"type": name, **data}, name))

        emit(
            "message_start",
            {
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {**self._input_usage(answer, body), "output_tokens": 1},
                }
            },
        )
        for index, block in enumerate(answer.content):
            deltas: list[dict[str, Any]]
            if isinstance(block, Text):
                start: dict[str, Any] = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": piece} for piece in _split(block.text, 3)]
            elif isinstance(block, Thinking):
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [
                    {"type": "thinking_delta", "thinking": piece}
                    for piece in _split(block.thinking, 3)
                ]
                deltas.append({"type": "signature_delta", "signature": block.signature})
            else:
                start = {"type": "tool_use", "id": next(tools), "name": block.name, "input": {}}
                pieces = [""] + _split(json.dumps(block.input), 3)
                deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
            emit("content_block_start", {"index": index, "content_block": start})
            if index == 0:
                emit("ping", {})
            for delta in deltas:
                emit("content_block_delta", {"index": index, "delta": delta})
            emit("content_block_stop", {"index": index})
        emit(
            "message_delta",
            {
                "delta": {
                    "stop_reason": self._stop_reason(answer),
                    "stop_sequence": answer.stop_sequence,
                },
                "usage": {"output_tokens": self._output_tokens(answer)},
            },
        )
        emit("message_stop", {})
        return events

    async def _stream(
        self, answer: Answer, body: Mapping[str, Any], request: Recorded
    ) -> AsyncIterator[bytes]:
        events = self.stream_events(answer, body)
        if answer.cut_after is not None:
            events = events[: answer.cut_after]
        if answer.error_after is not None:
            failure = answer.error or Failure.overloaded()
            error = sse_event(
                {
                    "type": "error",
                    "error": {"type": failure.error_type, "message": failure.message},
                },
                "error",
            )
            events = [*events[: answer.error_after], error]
        sent = self._sent.setdefault(id(request), bytearray())
        for i, event in enumerate(events):
            if i == answer.hold_after:
                await self._hold(answer)
            sent.extend(event)
            yield event
        if answer.hold_after is not None and answer.hold_after >= len(events):
            await self._hold(answer)

    @staticmethod
    async def _hold(answer: Answer) -> None:
        answer.reached.set()
        if answer.gate is not None:
            await answer.gate.wait()
