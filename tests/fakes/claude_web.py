"""A fake of the claude.ai web API, the consumer chat service llmproxy's web route drives.

Every endpoint lives on one base URL (the fake's), as the proxy joins every path onto
its configured base (protocols.md §4.1–4.6; clewdr-behaviour.md §4.3, §4.6, §5.4, §9.3;
clove-behaviour.md §3.2–3.4, §3.11):

- ``GET /api/bootstrap``: the account, its memberships and capabilities;
- ``GET /api/organizations``: the account's orgs with ``active_flags``;
- ``POST /api/organizations/{org}/chat_conversations``: a new conversation (201);
- ``PUT /api/organizations/{org}/chat_conversations/{conv}``: ``{"settings":
  {"paprika_mode"}}`` (202);
- ``POST /api/{org}/upload``: multipart, one part ``file`` (200);
- ``POST /api/organizations/{org}/chat_conversations/{conv}/completion``: the SSE answer;
- ``DELETE /api/organizations/{org}/chat_conversations/{conv}``: 204.

What it checks (each check mirrors something the real service or its Cloudflare front
does; the fake's error messages name the problem so a failing test says why):

- every ``/api`` call: a browser ``User-Agent`` (contains ``Mozilla/``), an ``Origin``
  that is a bare origin, and an absolute ``Referer`` whose path is ``/new``,
  ``/new?incognito`` or ``/chat/<uuid>`` (403 ``permission_error`` otherwise; the real
  front answers a challenge, the fake names the header);
- ``Cookie`` with ``sessionKey=<a known, live cookie>``: otherwise bootstrap answers
  200 ``{"account": null}`` and everything else 401 ``authentication_error``;
- JSON bodies with ``Content-Type: application/json``; the upload as
  ``multipart/form-data`` (parsed for real: exactly one part, named ``file``, with a
  filename, non-empty, bytes matching the declared kind: PNG/JPEG/GIF/WebP/PDF magic);
- the ``{org}`` in a path belongs to the cookie's account (403) and can chat (403);
  a conversation exists in that org and was not deleted (404);
- completion: ``Accept: text/event-stream``; ``Referer`` ``<base>/chat/<that conv>``;
  only the known top-level fields (``max_tokens_to_sample, attachments, files, model,
  rendering_mode, prompt, timezone, tools``; anything else is a 400); ``prompt`` a
  string; exactly one attachment ``{extracted_content, file_name: "paste.txt",
  file_type: "txt", file_size}`` whose ``file_size`` is the UTF-8 byte length of
  ``extracted_content``; ``files`` only uuids this org uploaded; ``model`` absent
  for an account that is not pro (a 400 here, to catch the mistake), a non-empty
  string otherwise; ``rendering_mode`` ``"messages"`` or ``"raw"`` (absent means raw).

Errors have claude.ai's shape ``{"type": "error", "error": {"type", "message"}}``
and never status 200.

Accounts
--------
::

    fake = FakeClaudeWeb(clock=ManualClock(1_700_000_000))
    pro = fake.add_account(cookie, kind="pro", flags=[Flag("first_warning", expires_at=…)])
    async with serve(fake) as base: ...

``kind`` gives the capabilities: ``free`` ``["chat"]``, ``pro`` ``["chat",
"claude_pro"]``, ``max`` ``["chat", "claude_max"]`` (``capabilities=`` overrides;
pro-ness follows clewdr: a capability containing ``pro``, ``max``, ``enterprise`` or
``raven``). ``extra_orgs=[["api"]]`` adds orgs with those capabilities.
``disabled=True`` makes every org call answer 400 "This organization has been
disabled."; ``dead=True`` makes the cookie unknown. Both can be flipped later
(``account.dead = True``), as can ``account.org.active_flags``. ``fake.blocked =
Failure.cloudflare()`` makes *every* request answer that (an IP block, whatever the
cookie).

Scripting
---------
Each account has a queue per endpoint (``bootstrap``, ``organizations``, ``create``,
``settings``, ``upload``, ``completion``, ``delete``). The next request of that
account *that passes the fake's checks* takes the next item; an empty queue means the
normal answer::

    pro.next_completion(
        Failure.rate_limited(resets_at=1_700_003_600),
        Answer([Thinking("hmm"), Text("Hi there")], chunk_size=2, limit=exceeded_limit(…)),
    )
    pro.next("create", Failure.disabled())

With nothing scripted a completion answers :func:`default_text` of the transcript
("Hello from claude.ai! You said: …"), in pieces of :attr:`Answer.chunk_size`
characters. ``Text(["Hel", "lo"])`` gives the exact deltas instead.

Thinking blocks appear only in a conversation whose ``paprika_mode`` was set to
``"extended"`` (the real service thinks only then); otherwise they are left out.

Stream fates: ``cut_after=N`` sends N events and drops the connection (no
``message_stop``); ``hold_after=N, gate=trio.Event()`` sends N events, sets
``answer.reached`` and waits for the gate (a test can hang up meanwhile and then see
``completion.request.cancelled``); ``error_after=N, error=Failure…`` sends an
``event: error`` after N events.

Stream formats (protocols.md §4.5): ``rendering_mode: "messages"`` gives
``message_start`` (``id: "chatcompl_…"``, ``uuid``, ``parent_uuid``, ``trace_id``,
``request_id``, ``model``, no ``usage``), per block ``content_block_start`` (with
``start_timestamp``, ``stop_timestamp``, ``flags``, and ``citations`` on text),
deltas (``text_delta``; ``thinking_delta`` with one ``thinking_summary_delta`` after
the first), ``content_block_stop`` (with ``stop_timestamp``), ``message_delta`` (no
``usage``), ``message_limit``, ``message_stop``. ``"raw"`` gives the legacy
``event: completion`` events, text only, the last one with ``stop_reason``.

Records
-------
Per account: ``calls`` (a Counter per endpoint) and ``requests``, counting every
request with this cookie that got past the header checks, whatever came of it;
``conversations`` (uuid → :class:`Conversation`, with ``name``, ``is_temporary``,
``paprika_mode``, ``deleted``, ``referer``), ``created`` (in order),
``settings_puts``, ``uploads`` (:class:`UploadedFile`: name, content type, bytes),
``completions`` (:class:`Completion`: the body, ``transcript``, ``files``, ``model``,
the :class:`~tests.fakes.server.Recorded` request with ``cancelled``), ``deleted``.
Fake-wide: ``fake.calls``, ``fake.requests``, ``fake.requests_to("completion")``,
``fake.sent(recorded)`` (the bytes written for a request).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from email.message import Message
from email.parser import HeaderParser
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

import trio

from tests.fakes.anthropic import ManualClock
from tests.fakes.server import FakeUpstream, Recorded, Reply, sse_event

__all__ = [
    "CAPABILITIES",
    "COMPLETION_FIELDS",
    "ENDPOINTS",
    "Account",
    "Answer",
    "Completion",
    "Conversation",
    "FakeClaudeWeb",
    "Failure",
    "Flag",
    "FormPart",
    "ManualClock",
    "Org",
    "SettingsPut",
    "Text",
    "Thinking",
    "ToolUse",
    "UploadedFile",
    "default_text",
    "exceeded_limit",
    "is_pro",
    "parse_multipart",
    "within_limit",
]

Kind = Literal["free", "pro", "max"]
CAPABILITIES: dict[str, list[str]] = {
    "free": ["chat"],
    "pro": ["chat", "claude_pro"],
    "max": ["chat", "claude_max"],
}
ENDPOINTS = ("bootstrap", "organizations", "create", "settings", "upload", "completion", "delete")
COMPLETION_FIELDS = frozenset(
    {
        "max_tokens_to_sample",
        "attachments",
        "files",
        "model",
        "rendering_mode",
        "prompt",
        "timezone",
        "tools",
    }
)
"""The completion body's top-level fields as clewdr and clove send them (protocols.md §4.4)."""
DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
DISABLED = "This organization has been disabled."
CHALLENGE_PATH = "/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"
CHALLENGE_HTML = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow"></head><body>
<div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">claude.ai</h1>
<h2 class="h2">Verifying you are human. This may take a few seconds.</h2>
<noscript>Enable JavaScript and cookies to continue</noscript></div></div>
<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"></script></body></html>
"""
MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}
"""The leading bytes of each accepted upload type (a base64 string uploaded by
mistake fails this check)."""
EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
}


# --------------------------------------------------------------------------- scripts


@dataclasses.dataclass
class Text:
    """A text block: a string (split by :attr:`Answer.chunk_size`) or the exact deltas."""

    text: str | Sequence[str]


@dataclasses.dataclass
class Thinking:
    """A thinking block (shown only in extended mode).

    ``summary`` arrives as one ``thinking_summary_delta`` after the first
    ``thinking_delta`` (``None``: no summary). With ``signature`` a
    ``signature_delta`` ends the block.
    """

    thinking: str | Sequence[str]
    summary: str | None = "Thinking about the request"
    signature: str | None = None


@dataclasses.dataclass
class ToolUse:
    """A tool call as clove saw the web app send one: input JSON in several deltas."""

    name: str
    input: dict[str, Any]
    id: str | None = None


Block = Text | Thinking | ToolUse


@dataclasses.dataclass
class Failure:
    """An error answer; see the ready-made ones below (protocols.md §4.6).

    ``html`` replaces the JSON body with an HTML page; ``location`` makes it a redirect.
    """

    status: int
    error_type: str = ""
    message: str = ""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    html: str | None = None
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
    ) -> Failure:
        """429 ``rate_limit_error``, as clewdr, clove and clewd parse it.

        With ``resets_at`` (epoch seconds) ``error.message`` is the JSON string
        ``{"type":"exceeded_limit","resetsAt":…}``; without it a plain sentence.
        ``unified_reset`` sets the ``anthropic-ratelimit-unified-reset`` header.
        """
        if resets_at is not None:
            message = _compact(
                {
                    "type": "exceeded_limit",
                    "resetsAt": resets_at,
                    "remaining": None,
                    "perModelLimit": False,
                    "representativeClaim": claim,
                }
            )
        else:
            message = "You have reached your message limit. Please try again later."
        headers: dict[str, str] = {}
        if unified_reset is not None:
            headers["anthropic-ratelimit-unified-reset"] = str(unified_reset)
            headers["anthropic-ratelimit-unified-status"] = "rejected"
        return cls(429, "rate_limit_error", message, headers)

    @classmethod
    def unauthorized(cls) -> Failure:
        """401: the cookie is invalid or expired (clewdr retires it as ``Null``)."""
        return cls(401, "authentication_error", "Invalid authorization")

    @classmethod
    def disabled(cls) -> Failure:
        """400 with the exact message clewdr and clove read as a disabled account."""
        return cls(400, "invalid_request_error", DISABLED)

    @classmethod
    def invalid_authorization(cls) -> Failure:
        """403 "Invalid authorization" (clove marks the account invalid)."""
        return cls(403, "permission_error", "Invalid authorization")

    @classmethod
    def cloudflare(cls) -> Failure:
        """Cloudflare's 302 to a challenge page (on the fake itself, never the internet)."""
        return cls(302, location=CHALLENGE_PATH)

    @classmethod
    def cloudflare_challenge(cls) -> Failure:
        """Cloudflare's 403 "Just a moment..." HTML page with ``cf-mitigated: challenge``."""
        headers = {
            "cf-mitigated": "challenge",
            "server": "cloudflare",
            "cf-ray": "8f00fake0000-LHR",
        }
        return cls(403, headers=headers, html=CHALLENGE_HTML)

    @classmethod
    def overloaded(cls, status: int = 500) -> Failure:
        """``overloaded_error`` (claude.ai has answered it as a 500; the API uses 529)."""
        return cls(status, "overloaded_error", "Overloaded")

    @classmethod
    def server_error(cls) -> Failure:
        return cls(500, "api_error", "Internal server error")

    @classmethod
    def invalid(cls, message: str) -> Failure:
        return cls(400, "invalid_request_error", message)


def within_limit(now: float = 1_700_000_000.0) -> dict[str, Any]:
    """A ``message_limit`` body of an account with room left (observed shape, §4.5)."""
    return {
        "type": "within_limit",
        "resetsAt": None,
        "remaining": None,
        "perModelLimit": None,
        "representativeClaim": "five_hour",
        "overageDisabledReason": "overage_not_provisioned",
        "overageInUse": False,
        "windows": {
            "5h": {"status": "within_limit", "resets_at": int(now) + 5 * 3600, "utilization": 0.25},
            "7d": {"status": "within_limit", "resets_at": int(now) + 7 * 86400, "utilization": 0.1},
        },
    }


def exceeded_limit(resets_at: int, claim: str = "five_hour") -> dict[str, Any]:
    """A ``message_limit`` body saying this answer used the last message until ``resets_at``."""
    return {
        "type": "exceeded_limit",
        "resetsAt": resets_at,
        "remaining": 0,
        "perModelLimit": False,
        "representativeClaim": claim,
        "overageDisabledReason": "overage_not_provisioned",
        "overageInUse": False,
        "windows": {"5h": {"status": "exceeded_limit", "resets_at": resets_at, "utilization": 1.0}},
    }


@dataclasses.dataclass
class Answer:
    """A successful completion; see the module docstring for the stream fates."""

    blocks: list[Block] | None = None
    """``None``: one :class:`Text` of :func:`default_text` of the transcript."""
    chunk_size: int = 6
    """Characters per delta for blocks given as one string."""
    stop_reason: str | None = None
    """Default ``tool_use`` when a ToolUse is present, else ``end_turn``."""
    stop_sequence: str | None = None
    limit: dict[str, Any] | None = None
    """The ``message_limit`` body (default :func:`within_limit` at the fake's clock)."""
    send_limit: bool = True
    """Whether a ``message_limit`` event is sent at all."""
    ping: bool = False
    """Send ``event: ping`` right after ``message_start``."""
    cut_after: int | None = None
    hold_after: int | None = None
    gate: trio.Event | None = None
    error_after: int | None = None
    error: Failure | None = None
    reached: trio.Event = dataclasses.field(default_factory=trio.Event)
    """Set when a held answer reaches its gate."""

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")


Script = Answer | Failure


def default_text(transcript: str) -> str:
    """The answer when nothing is scripted: a greeting that echoes the last human turn.

    The echo is the first line after the last ``Human:`` label (or the transcript's
    last non-empty line when there is none), at most 40 characters.
    """
    _, label, tail = transcript.rpartition("Human:")
    lines = [line.strip() for line in (tail if label else transcript).splitlines()]
    lines = [line for line in lines if line]
    said = (lines[0] if label else lines[-1]) if lines else ""
    return f"Hello from claude.ai! You said: {said[:40]}"


def is_pro(capabilities: Iterable[str]) -> bool:
    """clewdr's pro test: any capability containing pro, enterprise, raven or max."""
    return any(word in c for c in capabilities for word in ("pro", "enterprise", "raven", "max"))


# -------------------------------------------------------------------------- accounts


@dataclasses.dataclass
class Flag:
    """An ``active_flags`` entry: a type (``banned``, ``restricted``, …) and its expiry."""

    type: str
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "expires_at": _rfc3339(self.expires_at)}


@dataclasses.dataclass(eq=False)
class Org:
    """One organization of an account."""

    uuid: str
    name: str
    capabilities: list[str]
    active_flags: list[Flag | dict[str, Any]] = dataclasses.field(default_factory=list)

    def flags_json(self) -> list[dict[str, Any]]:
        return [f.to_json() if isinstance(f, Flag) else dict(f) for f in self.active_flags]


@dataclasses.dataclass(eq=False)
class Conversation:
    """A conversation as created; ``paprika_mode`` follows the settings PUTs."""

    uuid: str
    org: str
    name: str
    is_temporary: bool
    created_at: float
    body: dict[str, Any]
    referer: str
    paprika_mode: str | None = None
    deleted: bool = False


@dataclasses.dataclass(eq=False)
class SettingsPut:
    conversation: str
    settings: dict[str, Any]
    request: Recorded


@dataclasses.dataclass(eq=False)
class UploadedFile:
    """One accepted upload, with the exact bytes of the ``file`` part."""

    file_uuid: str
    org: str
    file_name: str
    content_type: str | None
    """The part's own ``Content-Type`` header, ``None`` when it had none."""
    data: bytes
    file_kind: str
    request: Recorded


@dataclasses.dataclass(eq=False)
class Completion:
    """One completion request that passed the checks (scripted failures included)."""

    org: str
    conversation: str
    body: dict[str, Any]
    request: Recorded
    outcome: Script | None = None
    """What answered it: the scripted Answer/Failure, or the default Answer."""

    @property
    def transcript(self) -> str:
        """The ``extracted_content`` of the one ``paste.txt`` attachment."""
        text: str = self.body["attachments"][0]["extracted_content"]
        return text

    @property
    def files(self) -> list[str]:
        return list(self.body.get("files", []))

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    @property
    def rendering_mode(self) -> str:
        mode: str = self.body.get("rendering_mode") or "raw"
        return mode


@dataclasses.dataclass(eq=False)
class Account:
    """One claude.ai account: cookie, orgs, state, scripts and what it was sent."""

    cookie: str
    uuid: str
    email: str
    kind: Kind
    orgs: list[Org]
    disabled: bool = False
    dead: bool = False
    calls: Counter[str] = dataclasses.field(default_factory=Counter)
    requests: list[Recorded] = dataclasses.field(default_factory=list)
    conversations: dict[str, Conversation] = dataclasses.field(default_factory=dict)
    created: list[Conversation] = dataclasses.field(default_factory=list)
    settings_puts: list[SettingsPut] = dataclasses.field(default_factory=list)
    uploads: list[UploadedFile] = dataclasses.field(default_factory=list)
    completions: list[Completion] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    _queues: dict[str, deque[Script]] = dataclasses.field(
        default_factory=lambda: {name: deque() for name in ENDPOINTS}
    )

    @property
    def org(self) -> Org:
        """The chat organization (the first one)."""
        return self.orgs[0]

    @property
    def org_uuid(self) -> str:
        return self.orgs[0].uuid

    def next(self, endpoint: str, *scripts: Script) -> Account:
        """Queue answers for this account's next requests to ``endpoint``."""
        if endpoint not in self._queues:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {ENDPOINTS}")
        for script in scripts:
            if isinstance(script, Answer) and endpoint != "completion":
                raise ValueError("only completions take an Answer")
        self._queues[endpoint].extend(scripts)
        return self

    def next_completion(self, *scripts: Script) -> Account:
        return self.next("completion", *scripts)

    def pending(self, endpoint: str = "completion") -> int:
        """How many scripted answers are still queued."""
        return len(self._queues[endpoint])

    def _take(self, endpoint: str) -> Script | None:
        queue = self._queues[endpoint]
        return queue.popleft() if queue else None


# ------------------------------------------------------------------------ multipart


@dataclasses.dataclass
class FormPart:
    """One part of a ``multipart/form-data`` body."""

    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> list[FormPart]:
    """Split a ``multipart/form-data`` body into its parts (RFC 7578 / RFC 2046 §5.1).

    Raises:
        ValueError: not multipart/form-data, no boundary, or a malformed body.
    """
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise ValueError("Content-Type must be multipart/form-data")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    # A leading CRLF lets the first delimiter match like the others; the preamble
    # before it is ignored, as RFC 2046 says.
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 3:
        raise ValueError("multipart body has no parts")
    parts: list[FormPart] = []
    for section in sections[1:]:
        if section.startswith(b"--"):
            return parts
        # after the delimiter: optional transport padding, CRLF, header lines, CRLF CRLF
        padding_end = section.find(b"\r\n")
        if padding_end < 0 or section[:padding_end].strip(b" \t"):
            raise ValueError("malformed multipart delimiter line")
        head, sep, data = section[padding_end:].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without a blank line after its headers")
        headers = HeaderParser().parsestr(head.decode("utf-8").lstrip("\r\n") + "\r\n\r\n")
        disposition = headers.get("content-disposition")
        if disposition is None or not disposition.lower().startswith("form-data"):
            raise ValueError("part without Content-Disposition: form-data")
        name = headers.get_param("name", header="content-disposition")
        parts.append(
            FormPart(
                name=name if isinstance(name, str) else None,
                filename=headers.get_filename(),
                content_type=headers.get("content-type"),
                data=data,
            )
        )
    raise ValueError("multipart body without its closing delimiter")


# ----------------------------------------------------------------------------- fake


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/api/bootstrap"), "bootstrap"),
    ("GET", re.compile(r"/api/organizations"), "organizations"),
    ("POST", re.compile(r"/api/organizations/(?P<org>[^/]+)/chat_conversations"), "create"),
    (
        "PUT",
        re.compile(r"/api/organizations/(?P<org>[^/]+)/chat_conversations/(?P<conv>[^/]+)"),
        "settings",
    ),
    (
        "DELETE",
        re.compile(r"/api/organizations/(?P<org>[^/]+)/chat_conversations/(?P<conv>[^/]+)"),
        "delete",
    ),
    (
        "POST",
        re.compile(
            r"/api/organizations/(?P<org>[^/]+)/chat_conversations/(?P<conv>[^/]+)/completion"
        ),
        "completion",
    ),
    ("POST", re.compile(r"/api/(?P<org>[^/]+)/upload"), "upload"),
]


class FakeClaudeWeb(FakeUpstream):
    """claude.ai's web API; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        default_model: str = DEFAULT_MODEL,
        max_upload_bytes: int = 30 * 1024 * 1024,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.default_model = default_model
        self.max_upload_bytes = max_upload_bytes
        self.accounts: dict[str, Account] = {}
        self.calls: Counter[str] = Counter()
        """Requests per endpoint name, whoever sent them."""
        self.blocked: Failure | None = None
        """When set, every request gets this answer before any check (an IP block)."""
        self._sent: dict[int, bytearray] = {}
        self._serial = 0
        for method in ("GET", "POST", "PUT", "DELETE"):
            self.route(method, "/api/", prefix=True)(self._api)
        self.route("GET", "/cdn-cgi/", prefix=True)(self._challenge_page)

    # ------------------------------------------------------------------ public API

    def add_account(
        self,
        cookie: str,
        kind: Kind = "pro",
        *,
        flags: Sequence[Flag | dict[str, Any]] = (),
        disabled: bool = False,
        dead: bool = False,
        email: str | None = None,
        capabilities: list[str] | None = None,
        extra_orgs: Sequence[list[str]] = (),
    ) -> Account:
        """Register an account reachable with ``Cookie: sessionKey=<cookie>``.

        Args:
            kind: ``free``, ``pro`` or ``max``; sets the chat org's capabilities.
            flags: the chat org's ``active_flags``.
            disabled: every org call answers 400 "This organization has been disabled.".
            dead: the cookie is treated as unknown (bootstrap ``account: null``, else 401).
            capabilities: replaces the kind's capability list.
            extra_orgs: capability lists of further orgs, listed after the chat org.
        """
        n = len(self.accounts) + 1
        email = email or f"user{n}@example.com"
        orgs = [
            Org(
                uuid=f"00000000-0000-4000-8000-{n:06d}{0:06d}",
                name=f"{email}'s Organization",
                capabilities=list(capabilities if capabilities is not None else CAPABILITIES[kind]),
                active_flags=list(flags),
            )
        ]
        for i, caps in enumerate(extra_orgs, start=1):
            orgs.append(
                Org(
                    uuid=f"00000000-0000-4000-8000-{n:06d}{i:06d}",
                    name=f"Org {i}",
                    capabilities=list(caps),
                )
            )
        account = Account(
            cookie=cookie,
            uuid=f"11111111-1111-4111-8111-{n:012d}",
            email=email,
            kind=kind,
            orgs=orgs,
            disabled=disabled,
            dead=dead,
        )
        self.accounts[cookie] = account
        return account

    def account(self, cookie: str) -> Account:
        return self.accounts[cookie]

    def conversation(self, uuid: str) -> Conversation:
        """Find a conversation of any account."""
        for account in self.accounts.values():
            if uuid in account.conversations:
                return account.conversations[uuid]
        raise KeyError(uuid)

    def requests_to(self, endpoint: str) -> list[Recorded]:
        """Every request to ``endpoint`` (a name from :data:`ENDPOINTS`), in order."""
        return [r for r in self.requests if _match(r.method, r.path)[0] == endpoint]

    def sent(self, recorded: Recorded) -> bytes:
        """The body bytes the fake wrote for ``recorded`` (for a stream: what it yielded)."""
        return bytes(self._sent.get(id(recorded), b""))

    async def not_found(self, request: Recorded) -> Reply:
        return self._failure(Failure(404, "not_found_error", "Not found"), request)

    # ------------------------------------------------------------------ helpers

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _uuid(self) -> str:
        n = self._next_serial()
        return f"{n:08x}-f00d-4000-8000-{n:012x}"

    def _failure(self, failure: Failure, recorded: Recorded) -> Reply:
        if failure.location is not None:
            reply = Reply(
                failure.status, headers={"location": failure.location, "content-type": "text/html"}
            )
        elif failure.html is not None:
            headers = {"content-type": "text/html; charset=UTF-8", **failure.headers}
            reply = Reply(failure.status, body=failure.html.encode(), headers=headers)
        else:
            body = {
                "type": "error",
                "error": {"type": failure.error_type, "message": failure.message},
            }
            reply = Reply.json(body, failure.status, failure.headers)
        self._sent[id(recorded)] = bytearray(reply.body)
        return reply

    def _invalid(self, message: str, recorded: Recorded) -> Reply:
        return self._failure(Failure.invalid(message), recorded)

    def _ok(self, obj: Any, recorded: Recorded, status: int = 200) -> Reply:
        reply = Reply.json(obj, status)
        self._sent[id(recorded)] = bytearray(reply.body)
        return reply

    def _cookie_account(self, request: Recorded) -> Account | None:
        for part in request.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "sessionKey":
                account = self.accounts.get(value)
                return None if account is None or account.dead else account
        return None

    # ------------------------------------------------------------------ dispatch

    async def _challenge_page(self, request: Recorded) -> Reply:
        """Where the Cloudflare 302 points: the challenge page itself."""
        return self._failure(Failure.cloudflare_challenge(), request)

    async def _api(self, request: Recorded) -> Reply:
        endpoint, params = _match(request.method, request.path)
        if endpoint is None:
            return await self.not_found(request)
        self.calls[endpoint] += 1
        if self.blocked is not None:
            return self._failure(self.blocked, request)
        problem = self._browser_checks(request, endpoint, params.get("conv"))
        if problem is not None:
            return self._failure(problem, request)
        account = self._cookie_account(request)
        if account is not None:
            account.calls[endpoint] += 1
            account.requests.append(request)
        if endpoint == "bootstrap":
            return self._bootstrap(account, request)
        if account is None:
            return self._failure(Failure.unauthorized(), request)
        if endpoint == "organizations":
            return self._organizations(account, request)
        org = next((o for o in account.orgs if o.uuid == params["org"]), None)
        if org is None:
            return self._failure(
                Failure(
                    403,
                    "permission_error",
                    "This organization does not belong to the signed-in account",
                ),
                request,
            )
        if account.disabled:
            return self._failure(Failure.disabled(), request)
        if "chat" not in org.capabilities:
            return self._failure(
                Failure(403, "permission_error", "This organization cannot use chat"), request
            )
        if endpoint == "create":
            return self._create(account, org, request)
        if endpoint == "upload":
            return self._upload(account, org, request)
        conversation = account.conversations.get(params["conv"])
        if conversation is None or conversation.org != org.uuid or conversation.deleted:
            return self._failure(
                Failure(404, "not_found_error", f"Conversation {params['conv']} not found"), request
            )
        if endpoint == "settings":
            return self._settings(account, conversation, request)
        if endpoint == "delete":
            return self._delete(account, conversation, request)
        return self._completion(account, org, conversation, request)

    def _browser_checks(self, request: Recorded, endpoint: str, conv: str | None) -> Failure | None:
        """What the web front refuses before looking at the cookie.

        The real service sits behind Cloudflare and a CSRF check: a client that does
        not look like the browser app (no ``Mozilla/`` user agent, no ``Origin``, no
        ``Referer`` of a claude.ai page) is challenged or refused. The fake refuses
        with a 403 that names the header.
        """
        headers = request.headers
        if "mozilla/" not in headers.get("user-agent", "").lower():
            return Failure(
                403, "permission_error", "User-Agent is not a browser's (needs Mozilla/…)"
            )
        origin = urlsplit(headers.get("origin", ""))
        if (
            origin.scheme not in ("http", "https")
            or not origin.netloc
            or origin.path not in ("", "/")
        ):
            return Failure(403, "permission_error", "Origin header missing or not an origin")
        referer = headers.get("referer", "")
        page = urlsplit(referer)
        chat = re.fullmatch(r"/chat/([0-9a-fA-F-]{36})", page.path)
        ok_page = (page.path == "/new" and page.query in ("", "incognito")) or (
            chat is not None and not page.query and _is_uuid(chat.group(1))
        )
        if page.scheme not in ("http", "https") or not page.netloc or not ok_page:
            return Failure(
                403,
                "permission_error",
                "Referer missing or not a claude.ai page (/new, /chat/<uuid>)",
            )
        if endpoint == "completion" and page.path != f"/chat/{conv}":
            # clewdr and clove both send the conversation's own page with a completion
            return Failure(403, "permission_error", f"Referer must be the page /chat/{conv}")
        return None

    # ------------------------------------------------------------------ account lookups

    def _org_json(self, org: Org) -> dict[str, Any]:
        return {
            "uuid": org.uuid,
            "name": org.name,
            "capabilities": list(org.capabilities),
            "active_flags": org.flags_json(),
            "settings": {},
            "billing_type": "stripe_subscription" if is_pro(org.capabilities) else None,
            "rate_limit_tier": "default_claude_max_5x"
            if any("max" in c for c in org.capabilities)
            else "default_claude_ai",
            "raven_type": None,
            "created_at": _rfc3339(self.clock() - 86400 * 30),
            "updated_at": _rfc3339(self.clock() - 86400),
        }

    def _bootstrap(self, account: Account | None, request: Recorded) -> Reply:
        """The signed-in account, or ``{"account": null}`` for a dead or missing cookie."""
        if account is None:
            return self._ok({"account": None, "statsig": {}}, request)
        scripted = account._take("bootstrap")
        if isinstance(scripted, Failure):
            return self._failure(scripted, request)
        memberships = [
            {"organization": self._org_json(org), "role": "admin", "seat_tier": None}
            for org in account.orgs
        ]
        body = {
            "account": {
                "uuid": account.uuid,
                "email_address": account.email,
                "full_name": account.email.split("@")[0],
                "display_name": account.email.split("@")[0],
                "memberships": memberships,
                "settings": {"preview_feature_uses_artifacts": True},
            },
            "statsig": {},
            "locale": "en-US",
        }
        return self._ok(body, request)

    def _organizations(self, account: Account, request: Recorded) -> Reply:
        scripted = account._take("organizations")
        if isinstance(scripted, Failure):
            return self._failure(scripted, request)
        return self._ok([self._org_json(org) for org in account.orgs], request)

    # ------------------------------------------------------------------ conversations

    @staticmethod
    def _json_object(request: Recorded) -> tuple[dict[str, Any] | None, str | None]:
        """The body as a JSON object, or why not; the web API only takes JSON bodies."""
        if not request.headers.get("content-type", "").lower().startswith("application/json"):
            return None, "Content-Type must be application/json"
        try:
            body = request.json()
        except ValueError:
            return None, "Invalid JSON body"
        if not isinstance(body, dict):
            return None, "Request body must be a JSON object"
        return body, None

    def _conversation_json(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "uuid": conversation.uuid,
            "name": conversation.name,
            "summary": "",
            "model": None,
            "created_at": _rfc3339(conversation.created_at),
            "updated_at": _rfc3339(self.clock()),
            "settings": {
                "paprika_mode": conversation.paprika_mode,
                "preview_feature_uses_artifacts": True,
            },
            "is_starred": False,
            "is_temporary": conversation.is_temporary,
            "project_uuid": None,
            "current_leaf_message_uuid": None,
        }

    def _create(self, account: Account, org: Org, request: Recorded) -> Reply:
        """A new conversation: the client picks a fresh uuid4 (clewdr, clove, clewd)."""
        body, problem = self._json_object(request)
        if body is None:
            return self._invalid(problem or "", request)
        conv = body.get("uuid")
        if not isinstance(conv, str) or not _is_uuid(conv, version=4):
            return self._invalid("uuid: must be a version 4 UUID", request)
        if any(conv in a.conversations for a in self.accounts.values()):
            return self._invalid(f"uuid: conversation {conv} already exists", request)
        name = body.get("name", "")
        if not isinstance(name, str):
            return self._invalid("name: must be a string", request)
        temporary = body.get("is_temporary", False)
        if not isinstance(temporary, bool):
            return self._invalid("is_temporary: must be a boolean", request)
        scripted = account._take("create")
        if isinstance(scripted, Failure):
            return self._failure(scripted, request)
        conversation = Conversation(
            uuid=conv,
            org=org.uuid,
            name=name,
            is_temporary=temporary,
            created_at=self.clock(),
            body=body,
            referer=request.headers["referer"],
        )
        account.conversations[conv] = conversation
        account.created.append(conversation)
        return self._ok(self._conversation_json(conversation), request, 201)

    def _settings(self, account: Account, conversation: Conversation, request: Recorded) -> Reply:
        """The thinking switch: ``{"settings": {"paprika_mode": "extended" | null}}``."""
        body, problem = self._json_object(request)
        if body is None:
            return self._invalid(problem or "", request)
        settings = body.get("settings")
        if set(body) != {"settings"} or not isinstance(settings, dict):
            return self._invalid('body must be {"settings": {...}}', request)
        if "paprika_mode" in settings and settings["paprika_mode"] not in ("extended", None):
            return self._invalid("settings.paprika_mode: must be 'extended' or null", request)
        account.settings_puts.append(SettingsPut(conversation.uuid, settings, request))
        scripted = account._take("settings")
        if isinstance(scripted, Failure):
            return self._failure(scripted, request)
        if "paprika_mode" in settings:
            conversation.paprika_mode = settings["paprika_mode"]
        return self._ok(self._conversation_json(conversation), request, 202)

    def _delete(self, account: Account, conversation: Conversation, request: Recorded) -> Reply:
        scripted = account._take("delete")
        if isinstance(scripted, Failure):
            return self._failure(scripted, request)
        conversation.deleted = True
        account.deleted.append(conversation.uuid)
        self._sent[id(request)] = bytearray()
        return Reply(204)

    # ------------------------------------------------------------------ upload

    def _upload(self, account: Account, org: Org, request: Recorded) -> Reply:
        """One file as ``multipart/form-data``, part ``file`` (clewdr §9.3, clove §3.3)."""
        try:
            parts = parse_multipart(request.headers.get("content-type", ""), request.body)
        except ValueError as exc:
            return self._invalid(str(exc), request)
        if len(parts) != 1 or parts[0].name != "file":
            return self._invalid("expected exactly one form field, named 'file'", request)
        part = parts[0]
        if not part.filename:
            return self._invalid("the 'file' field needs a filename", request)
        if not part.data:
            return self._invalid("The uploaded file is empty", request)
        if len(part.data) > self.max_upload_bytes:
            return self._failure(Failure(413, "request_too_large", "File too large"), request)
        declared = (part.content_type or "").split(";")[0].strip().lower()
        media = declared if declared in MAGIC else EXTENSIONS.get(_extension(part.filename))
        if media is None:
            return self._invalid(
                f"Unsupported file type: {part.filename} ({declared or 'no type'})", request
            )
        if not part.data.startswith(MAGIC[media]) or (
            media == "image/webp" and part.data[8:12] != b"WEBP"
        ):
            return self._invalid(f"The file is not a valid {media} file", request)
        scripted = account._take("upload")
        if isinstance(scripted, Failure):
            return self._failure(scripted, request)
        kind = "document" if media == "application/pdf" else "image"
        uploaded = UploadedFile(
            file_uuid=self._uuid(),
            org=org.uuid,
            file_name=part.filename,
            content_type=part.content_type,
            data=part.data,
            file_kind=kind,
            request=request,
        )
        account.uploads.append(uploaded)
        body = {
            "success": True,
            "file_uuid": uploaded.file_uuid,
            "file_name": uploaded.file_name,
            "file_kind": kind,
            "size_bytes": len(part.data),
            "created_at": _rfc3339(self.clock()),
        }
        return self._ok(body, request)

    # ------------------------------------------------------------------ completion

    def _check_completion(self, org: Org, account: Account, body: dict[str, Any]) -> str | None:
        """Why the completion body is wrong, or ``None`` (protocols.md §4.4)."""
        unknown = sorted(set(body) - COMPLETION_FIELDS)
        if unknown:
            return f"Unexpected field(s): {', '.join(unknown)}"
        if not isinstance(body.get("prompt"), str):
            return "prompt: Field required (a string)"
        attachments = body.get("attachments")
        if (
            not isinstance(attachments, list)
            or len(attachments) != 1
            or not isinstance(attachments[0], dict)
        ):
            return "attachments: expected exactly one paste.txt attachment"
        paste = attachments[0]
        if set(paste) != {"extracted_content", "file_name", "file_type", "file_size"}:
            return "attachments.0: expected extracted_content, file_name, file_type, file_size"
        if paste["file_name"] != "paste.txt" or paste["file_type"] != "txt":
            return "attachments.0: must be file_name 'paste.txt', file_type 'txt'"
        content = paste["extracted_content"]
        if not isinstance(content, str):
            return "attachments.0.extracted_content: must be a string"
        size = len(content.encode("utf-8"))
        if paste["file_size"] != size or isinstance(paste["file_size"], bool):
            return f"attachments.0.file_size: {paste['file_size']!r} is not the UTF-8 size {size}"
        files = body.get("files", [])
        uploaded = {u.file_uuid for u in account.uploads if u.org == org.uuid}
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            return "files: must be a list of file uuids"
        strangers = [f for f in files if f not in uploaded]
        if strangers:
            return f"files: not uploaded to this organization: {', '.join(strangers)}"
        if "model" in body:
            if not is_pro(org.capabilities):
                return "model: choosing a model needs a paid plan (leave it out for free accounts)"
            if not isinstance(body["model"], str) or not body["model"]:
                return "model: must be a non-empty string"
        if body.get("rendering_mode", "raw") not in ("messages", "raw"):
            return "rendering_mode: must be 'messages' or 'raw'"
        if "timezone" in body and not isinstance(body["timezone"], str):
            return "timezone: must be a string"
        tools = body.get("tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            return "tools: must be a list of objects"
        limit = body.get("max_tokens_to_sample", 1)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return "max_tokens_to_sample: must be a positive integer"
        return None

    def _completion(
        self, account: Account, org: Org, conversation: Conversation, request: Recorded
    ) -> Reply:
        if "text/event-stream" not in request.headers.get("accept", ""):
            return self._invalid("Accept: text/event-stream is required for a completion", request)
        body, problem = self._json_object(request)
        if body is None:
            return self._invalid(problem or "", request)
        problem = self._check_completion(org, account, body)
        if problem is not None:
            return self._invalid(problem, request)
        completion = Completion(org.uuid, conversation.uuid, body, request)
        account.completions.append(completion)
        scripted = account._take("completion")
        answer = Answer() if scripted is None else scripted
        completion.outcome = answer
        if isinstance(answer, Failure):
            return self._failure(answer, request)
        events = self.stream_events(
            answer,
            transcript=completion.transcript,
            model=completion.model or self.default_model,
            extended=conversation.paprika_mode == "extended",
            raw=completion.rendering_mode == "raw",
        )
        return Reply.sse(
            self._stream(answer, events, request), break_after=answer.cut_after is not None
        )

    def stream_events(
        self, answer: Answer, *, transcript: str, model: str, extended: bool, raw: bool
    ) -> list[bytes]:
        """Every SSE event of ``answer`` in the chosen rendering, before any fate applies."""
        blocks: list[Block] = (
            answer.blocks if answer.blocks is not None else [Text(default_text(transcript))]
        )
        if not extended:
            blocks = [b for b in blocks if not isinstance(b, Thinking)]
        stop_reason = answer.stop_reason or (
            "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        )
        limit = answer.limit if answer.limit is not None else within_limit(self.clock())
        if raw:
            return self._raw_events(answer, blocks, model, stop_reason, limit)
        return self._messages_events(answer, blocks, model, stop_reason, limit)

    def _raw_events(
        self,
        answer: Answer,
        blocks: list[Block],
        model: str,
        stop_reason: str,
        limit: dict[str, Any],
    ) -> list[bytes]:
        """The legacy ``event: completion`` stream: text only, ``stop_reason`` at the end."""
        log_id = f"{self._next_serial():064x}"
        pieces = [
            p for b in blocks if isinstance(b, Text) for p in _pieces(b.text, answer.chunk_size)
        ]

        def event(text: str, stop: str | None, message_limit: dict[str, Any]) -> bytes:
            data = {
                "type": "completion",
                "completion": text,
                "stop_reason": stop,
                "model": model,
                "stop": answer.stop_sequence if stop else None,
                "log_id": log_id,
                "messageLimit": message_limit,
            }
            return sse_event(data, "completion")

        quiet = {"type": "within_limit"}
        events = [event(p, None, quiet) for p in pieces]
        events.append(event("", stop_reason, limit if answer.send_limit else quiet))
        return events

    def _messages_events(
        self,
        answer: Answer,
        blocks: list[Block],
        model: str,
        stop_reason: str,
        limit: dict[str, Any],
    ) -> list[bytes]:
        """The ``rendering_mode: "messages"`` stream (protocols.md §4.5)."""
        n = self._next_serial()
        events: list[bytes] = []

        def emit(name: str, data: dict[str, Any]) -> None:
            events.append(sse_event({"type": name, **data}, name))

        emit(
            "message_start",
            {
                "message": {
                    "id": f"chatcompl_01Fake{n:018d}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "parent_uuid": f"{n:08x}-0000-4000-8000-{n:012x}",
                    "uuid": f"{n:08x}-1111-4000-8000-{n:012x}",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "trace_id": f"{n:032x}",
                    "request_id": f"req_011CFake{n:014d}",
                }
            },
        )
        if answer.ping:
            emit("ping", {})
        for index, block in enumerate(blocks):
            start, deltas = self._block_events(block, answer.chunk_size)
            stamp = _iso(self.clock())
            emit(
                "content_block_start",
                {
                    "index": index,
                    "content_block": {
                        "start_timestamp": stamp,
                        "stop_timestamp": None,
                        "flags": None,
                        **start,
                    },
                },
            )
            for delta in deltas:
                emit("content_block_delta", {"index": index, "delta": delta})
            emit("content_block_stop", {"index": index, "stop_timestamp": _iso(self.clock())})
        emit(
            "message_delta",
            {"delta": {"stop_reason": stop_reason, "stop_sequence": answer.stop_sequence}},
        )
        if answer.send_limit:
            emit("message_limit", {"message_limit": limit})
        emit("message_stop", {})
        return events

    def _block_events(
        self, block: Block, chunk_size: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A block's ``content_block`` start body and its deltas."""
        if isinstance(block, Text):
            start: dict[str, Any] = {"type": "text", "text": "", "citations": []}
            return start, [
                {"type": "text_delta", "text": p} for p in _pieces(block.text, chunk_size)
            ]
        if isinstance(block, Thinking):
            start = {
                "type": "thinking",
                "thinking": "",
                "summaries": [],
                "cut_off": False,
                "alternative_display_type": None,
            }
            deltas: list[dict[str, Any]] = [
                {"type": "thinking_delta", "thinking": p}
                for p in _pieces(block.thinking, chunk_size)
            ]
            if block.summary is not None:
                deltas.insert(
                    1, {"type": "thinking_summary_delta", "summary": {"summary": block.summary}}
                )
            if block.signature is not None:
                deltas.append({"type": "signature_delta", "signature": block.signature})
            return start, deltas
        start = {
            "type": "tool_use",
            "id": block.id or f"toolu_01Fake{self._next_serial():012d}",
            "name": block.name,
            "input": {},
            "message": f"Using {block.name}",
        }
        pieces = ["", *_pieces(_compact(block.input), chunk_size)]
        return start, [{"type": "input_json_delta", "partial_json": p} for p in pieces]

    async def _stream(
        self, answer: Answer, events: list[bytes], request: Recorded
    ) -> AsyncIterator[bytes]:
        """Yield ``events`` with the answer's fate applied, remembering what was sent."""
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
                await _hold(answer)
            sent.extend(event)
            yield event
        if answer.hold_after is not None and answer.hold_after >= len(events):
            await _hold(answer)


# ------------------------------------------------------------------------- helpers


async def _hold(answer: Answer) -> None:
    answer.reached.set()
    if answer.gate is not None:
        await answer.gate.wait()


def _match(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    for m, pattern, endpoint in _ROUTES:
        found = pattern.fullmatch(path)
        if m == method and found is not None:
            return endpoint, found.groupdict()
    return None, {}


def _pieces(text: str | Sequence[str], size: int) -> list[str]:
    """``text`` cut every ``size`` characters, or the given pieces as they are."""
    if not isinstance(text, str):
        return list(text)
    if not text:
        return [""]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _is_uuid(value: str, version: int | None = None) -> bool:
    try:
        parsed = UUID(value)
    except ValueError:
        return False
    return str(parsed) == value.lower() and (version is None or parsed.version == version)


def _extension(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot >= 0 else ""


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _iso(ts: float) -> str:
    """A content block timestamp as the web app stamps them: microseconds and ``Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
