"""A fake of Google's side: the Gemini API, its OpenAI endpoint, Vertex AI and the token endpoint.

All on one base URL, so a test points ``gemini_endpoint``, ``vertex_endpoint`` and
each service account's ``token_uri`` at it:

=====================================================================  ==============================
``GET  /v1beta/models``, ``GET /v1beta/models/{m}``                     model list / one model (key)
``POST /v1beta/models/{m}:generateContent``                             JSON answer (key)
``POST /v1beta/models/{m}:streamGenerateContent?alt=sse``               ``data: …\\r\\n\\r\\n`` events
``POST /v1beta/models/{m}:countTokens``                                 ``{"totalTokens": n}``
``POST /v1beta/openai/chat/completions``                                OpenAI-compatible (Bearer key)
``POST /{v1,v1beta1}/projects/{p}/locations/{l}/publishers/google/      Vertex, Bearer access token
models/{m}:{method}``
``POST /v1beta1/projects/{p}/locations/{l}/endpoints/openapi/chat/      Vertex OpenAI-compatible
completions``
``POST /token``                                                         JWT-bearer grant (RFC 7523)
=====================================================================  ==============================

It checks what Google checks (protocols.md §3): the key (``x-goog-api-key`` or
``?key=``; unknown → 400 ``API_KEY_INVALID``, missing → 403), unknown request
fields (400 ``Invalid JSON payload received. Unknown name "x"``), safety enums,
roles; Vertex tokens (issued here, unexpired by the injected clock, for the
project in the path); and on the token endpoint the JWT's RS256 signature
against the service account's *public* key (with ``cryptography``, so the
proxy's hand-written signer is checked by an independent implementation), its
``kid``, ``iss``, ``aud``, ``scope`` and lifetime.

Errors are ``{"error": {"code", "message", "status", "details"?}}``; the
OpenAI-compatible endpoints wrap them in a one-element array, as Google does.
No error is sent with status 200.

Scripting: ``fake.key(k).next(...)`` / ``fake.account(email).next(...)`` queue
answers for the next requests that pass the checks (an empty queue answers
``Answer.echo()``)::

    fake.key(KEY).next(
        Failure.rate_limited(retry_delay="41s"),
        Empty.other(),                       # finishReason OTHER, no parts
        Answer(["Hel", "lo"], gate=event),   # stream: "Hel", wait for gate, "lo"
    )

``fake.requests`` records everything; ``state.requests`` what reached a key or
account; ``fake.token_requests`` the token exchanges.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import trio
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.server import FakeUpstream, Recorded, Reply

__all__ = [
    "ADMIN_PASSWORD",
    "API_PASSWORD",
    "MODELS",
    "Answer",
    "Empty",
    "Failure",
    "FakeGoogle",
    "GoogleStack",
    "google_stack",
    "make_key",
    "make_service_account",
]

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004")
GENERATE_FIELDS = frozenset(
    {
        "contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
        "tool_config", "safetySettings", "safety_settings", "generationConfig",
        "generation_config", "cachedContent", "cached_content",
    }
)
VERTEX_ONLY_FIELDS = frozenset({"labels"})
GENERATION_CONFIG_FIELDS = frozenset(
    {
        "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
        "presencePenalty", "frequencyPenalty", "seed", "responseMimeType", "responseSchema",
        "responseJsonSchema", "responseModalities", "thinkingConfig", "responseLogprobs",
        "logprobs", "mediaResolution", "speechConfig", "imageConfig",
    }
)
CATEGORIES = frozenset(
    {
        "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
    }
)
THRESHOLDS = frozenset(
    {
        "HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF",
    }
)
CHAT_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "n",
        "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice",
        "response_format", "reasoning_effort", "seed", "presence_penalty",
        "frequency_penalty", "extra_body", "user", "logprobs", "top_logprobs",
    }
)
STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}


# --------------------------------------------------------------------------- keys


def make_key(seed: int) -> str:
    """A syntactically valid AI Studio key, distinct per seed."""
    body = base64.urlsafe_b64encode(f"fake-gemini-key-{seed:08d}-xxxxxxxxxxxxxxxx".encode()).decode()
    return "AIzaSy" + body.replace("=", "A")[:33]


@functools.lru_cache(maxsize=8)
def _rsa_key(index: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_service_account(
    index: int, token_uri: str, *, project: str = "proj-1", email: str | None = None
) -> dict[str, Any]:
    """A service-account JSON key (PKCS#8 PEM), like the file the Cloud console gives."""
    key = _rsa_key(index)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = email or f"sa-{index}@{project}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": f"kid{index:04d}" + "0" * 32,
        "private_key": pem,
        "client_email": email,
        "client_id": str(100000000000000000000 + index),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/x",
        "universe_domain": "googleapis.com",
    }


# --------------------------------------------------------------------------- scripts


@dataclasses.dataclass
class Answer:
    """A successful answer: text in pieces (one stream event each).

    ``gate``: after ``hold_after`` events (default 1) the stream waits for it; a
    non-stream answer waits before answering. ``cut_after``: drop the connection
    after that many events. ``error_after``/``error``: an error event after N.
    ``omit_ids``: OpenAI chunks without id/object/created/model.
    """

    pieces: list[str] = dataclasses.field(default_factory=lambda: ["Hello", " there"])
    finish: str = "STOP"
    gate: trio.Event | None = None
    hold_after: int = 1
    cut_after: int | None = None
    error_after: int | None = None
    error: Failure | None = None
    omit_ids: bool = False
    reached: trio.Event = dataclasses.field(default_factory=trio.Event)

    @classmethod
    def echo(cls) -> Answer:
        return cls(["echo"])


@dataclasses.dataclass
class Empty:
    """An empty answer: no candidates at all, or ``finishReason: OTHER``."""

    kind: str = "none"

    @classmethod
    def no_candidates(cls) -> Empty:
        return cls("none")

    @classmethod
    def other(cls) -> Empty:
        return cls("other")


@dataclasses.dataclass
class Failure:
    status: int
    message: str
    details: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def error(self) -> dict[str, Any]:
        inner: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "status": STATUS_NAMES.get(self.status, "UNKNOWN"),
        }
        if self.details:
            inner["details"] = self.details
        return {"error": inner}

    @classmethod
    def rate_limited(cls, retry_delay: str | None = "41s", *, per_day: bool = False,
                     retry_after: str | None = None) -> Failure:
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier" if per_day
                        else "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    }
                ],
            }
        ]
        if retry_delay is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
        headers = {"retry-after": retry_after} if retry_after else {}
        return cls(429, "You exceeded your current quota, please check your plan and billing details.",
                   details, headers)

    @classmethod
    def invalid_key(cls) -> Failure:
        return cls(400, "API key not valid. Please pass a valid API key.", [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}
        ])

    @classmethod
    def permission_denied(cls, message: str = "Permission denied: Consumer 'api_key:x' has been suspended.") -> Failure:
        return cls(403, message)

    @classmethod
    def unavailable(cls) -> Failure:
        return cls(503, "The model is overloaded. Please try again later.")

    @classmethod
    def bad_request(cls, message: str = "Request contains an invalid argument.") -> Failure:
        return cls(400, message)


Script = Answer | Empty | Failure


@dataclasses.dataclass
class Holder:
    """A key or a service account: its scripted answers and what reached it."""

    name: str
    queue: deque[Script] = dataclasses.field(default_factory=deque)
    requests: list[Recorded] = dataclasses.field(default_factory=list)

    def next(self, *items: Script) -> None:
        self.queue.extend(items)

    def take(self) -> Script:
        return self.queue.popleft() if self.queue else Answer.echo()


@dataclasses.dataclass
class Account(Holder):
    sa: dict[str, Any] = dataclasses.field(default_factory=dict)
    public_key: rsa.RSAPublicKey | None = None
    exchanges: int = 0
    revoked: bool = False


class FakeGoogle(FakeUpstream):
    """See the module docstring.

    Args:
        clock: Epoch seconds for token expiry and JWT checks (``ManualClock``).
        token_lifetime: ``expires_in`` of issued access tokens.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, token_lifetime: int = 3600) -> None:
        super().__init__()
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.base = ""
        self._keys: dict[str, Holder] = {}
        self._accounts: dict[str, Account] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self.token_requests: list[Recorded] = []
        self.token_gate: trio.Event | None = None
        self.token_reached = trio.Event()
        self.route("GET", "/v1beta/models", prefix=True)(self._models)
        self.route("POST", "/v1beta/openai/chat/completions")(self._ai_studio_chat)
        self.route("POST", "/v1beta/models/", prefix=True)(self._ai_studio_call)
        self.route("GET", "/v1/models", prefix=True)(self._models)
        self.route("POST", "/v1/models/", prefix=True)(self._ai_studio_call)
        self.route("POST", "/v1/projects/", prefix=True)(self._vertex)
        self.route("POST", "/v1beta1/projects/", prefix=True)(self._vertex)
        self.route("POST", "/token")(self._token)

    # -- setup ------------------------------------------------------------------------

    @property
    def token_uri(self) -> str:
        return f"{self.base}/token"

    def add_key(self, key: str) -> Holder:
        holder = Holder(key)
        self._keys[key] = holder
        return holder

    def key(self, key: str) -> Holder:
        return self._keys[key]

    def add_account(self, sa: dict[str, Any]) -> Account:
        private = serialization.load_pem_private_key(sa["private_key"].encode(), password=None)
        assert isinstance(private, rsa.RSAPrivateKey)
        account = Account(sa["client_email"], sa=sa, public_key=private.public_key())
        self._accounts[sa["client_email"]] = account
        return account

    def account(self, email: str) -> Account:
        return self._accounts[email]

    def generate_requests(self) -> list[Recorded]:
        return [r for r in self.requests if ":" in r.path and "Content" in r.path]

    # -- errors -----------------------------------------------------------------------

    async def not_found(self, request: Recorded) -> Reply:
        return _google(Failure(404, f"Method not found: {request.method} {request.path}"))

    # -- AI Studio --------------------------------------------------------------------

    def _key_of(self, request: Recorded) -> Holder | Reply:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return _google(Failure(403, "Method doesn't allow unregistered callers (callers without "
                                        "established identity). Please use API Key or other form of "
                                        "API consumer identity to call this API."))
        holder = self._keys.get(key)
        if holder is None:
            return _google(Failure.invalid_key())
        return holder

    async def _models(self, request: Recorded) -> Reply:
        holder = self._key_of(request)
        if isinstance(holder, Reply):
            return holder
        name = request.path.split("/models", 1)[1].strip("/")
        entries = [_model(m) for m in MODELS]
        if name:
            for entry in entries:
                if entry["name"] == f"models/{name}":
                    return Reply.json(entry)
            return _google(Failure(404, f"models/{name} is not found for API version v1beta"))
        return Reply.json({"models": entries})

    async def _ai_studio_call(self, request: Recorded) -> Reply:
        holder = self._key_of(request)
        if isinstance(holder, Reply):
            return holder
        model, _, method = request.path.split("/models/", 1)[1].partition(":")
        return await self._generate(request, holder, model, method, vertex=False)

    async def _ai_studio_chat(self, request: Recorded) -> Reply:
        auth = request.headers.get("authorization", "")
        holder = self._keys.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
        if holder is None:
            return _google(Failure.invalid_key(), array=True)
        return await self._chat(request, holder, vertex=False)

    # -- Vertex -----------------------------------------------------------------------

    def _account_of(self, request: Recorded, project: str) -> Account | Reply:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        issued = self._tokens.get(token)
        if issued is None or issued[1] <= self.clock():
            return _google(Failure(401, "Request had invalid authentication credentials. Expected "
                                        "OAuth 2 access token, login cookie or other valid "
                                        "authentication credential."))
        account = self._accounts[issued[0]]
        if account.sa["project_id"] != project:
            return _google(Failure(403, f"Permission denied on resource project {project}."))
        return account

    async def _vertex(self, request: Recorded) -> Reply:
        parts = request.path.strip("/").split("/")
        # {v1,v1beta1} projects P locations L (publishers google models M:method | endpoints openapi chat completions)
        if len(parts) != 9 or parts[1] != "projects" or parts[3] != "locations":
            return await self.not_found(request)
        if parts[5:] == ["endpoints", "openapi", "chat", "completions"] and parts[0] == "v1beta1":
            account = self._account_of(request, parts[2])
            if isinstance(account, Reply):
                return account
            return await self._chat(request, account, vertex=True)
        if parts[5:8] != ["publishers", "google", "models"]:
            return await self.not_found(request)
        account = self._account_of(request, parts[2])
        if isinstance(account, Reply):
            return account
        model, _, method = parts[8].partition(":")
        return await self._generate(request, account, model, method, vertex=True)

    # -- token endpoint ---------------------------------------------------------------

    async def _token(self, request: Recorded) -> Reply:
        self.token_requests.append(request)
        self.token_reached.set()
        if self.token_gate is not None:
            await self.token_gate.wait()
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _oauth("invalid_request", "Expected a form body")
        form = dict(parse_qsl(request.body.decode()))
        if form.get("grant_type") != GRANT:
            return _oauth("unsupported_grant_type", "Invalid grant_type")
        try:
            head_b64, claims_b64, sig_b64 = form["assertion"].split(".")
            header = json.loads(_unb64(head_b64))
            claims = json.loads(_unb64(claims_b64))
            signature = _unb64(sig_b64)
        except (KeyError, ValueError):
            return _oauth("invalid_grant", "Invalid JWT: malformed")
        account = self._accounts.get(claims.get("iss", ""))
        if account is None or account.public_key is None:
            return _oauth("invalid_grant", "Invalid JWT: unknown issuer", status=400)
        if header != {"alg": "RS256", "typ": "JWT", "kid": account.sa["private_key_id"]}:
            return _oauth("invalid_grant", f"Invalid JWT header: {header}")
        try:
            account.public_key.verify(
                signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return _oauth("invalid_grant", "Invalid JWT Signature.")
        now = self.clock()
        if claims.get("aud") != self.token_uri:
            return _oauth("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe (aud)")
        if not (now - 300 <= claims.get("iat", 0) <= now + 300) or not (0 < claims.get("exp", 0) - claims["iat"] <= 3600):
            return _oauth("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        if SCOPE not in str(claims.get("scope", "")).split():
            return _oauth("invalid_scope", "Invalid OAuth scope")
        if account.revoked:
            return _oauth("invalid_grant", "Invalid grant: account not found")
        account.exchanges += 1
        token = "ya29.fake-" + secrets.token_urlsafe(16)
        self._tokens[token] = (account.name, now + self.token_lifetime)
        return Reply.json({"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"})

    # -- generation -------------------------------------------------------------------

    async def _generate(self, request: Recorded, holder: Holder, model: str, method: str, *, vertex: bool) -> Reply:
        if method == "countTokens":
            return Reply.json({"totalTokens": max(1, len(request.body) // 4)})
        if method not in ("generateContent", "streamGenerateContent"):
            return await self.not_found(request)
        problem = _check_generate(request.body, vertex=vertex)
        if problem is not None:
            return _google(Failure(400, problem))
        holder.requests.append(request)
        script = holder.take()
        if isinstance(script, Failure):
            return _google(script)
        stream = method == "streamGenerateContent"
        if isinstance(script, Empty):
            events = [_empty_response(script, model)]
        else:
            if script.gate is not None and not stream:
                script.reached.set()
                await script.gate.wait()
            events = _responses(script, model)
            if not stream:
                return Reply.json(_merge(events))
        if not stream:
            return Reply.json(events[0])
        sse = request.query.get("alt") == "sse"
        if not sse:
            body = ("[" + ",\r\n".join(json.dumps(e) for e in events) + "]").encode()
            return Reply(200, body=body, headers={"content-type": "application/json; charset=UTF-8"})
        answer = script if isinstance(script, Answer) else None
        return Reply.sse(_framed(events, answer), break_after=answer is not None and answer.cut_after is not None)

    async def _chat(self, request: Recorded, holder: Holder, *, vertex: bool) -> Reply:
        try:
            body = json.loads(request.body)
        except ValueError:
            return _google(Failure(400, "Invalid JSON payload received."), array=True)
        unknown = [k for k in body if k not in CHAT_FIELDS]
        if vertex and "frequency_penalty" in body:
            unknown.append("frequency_penalty")
        if unknown:
            return _google(Failure(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'), array=True)
        model = body.get("model", "")
        if vertex and not model.startswith("google/"):
            return _google(Failure(400, f"Model {model} must be google/<model>"), array=True)
        holder.requests.append(request)
        script = holder.take()
        if isinstance(script, Failure):
            return _google(script, array=True)
        created = int(self.clock())
        cid = "chatcmpl-fake" + secrets.token_hex(4)
        if isinstance(script, Empty):
            pieces: list[str] = []
            finish = "OTHER" if script.kind == "other" else None
        else:
            pieces, finish = script.pieces, script.finish.lower() if script.finish != "OTHER" else "OTHER"
        omit = isinstance(script, Answer) and script.omit_ids
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(pieces)}
            choices = [] if isinstance(script, Empty) and script.kind == "none" else [
                {"index": 0, "message": message, "finish_reason": finish}
            ]
            out: dict[str, Any] = {"choices": choices, "usage": {"prompt_tokens": 3, "completion_tokens": len(pieces), "total_tokens": 3 + len(pieces)}}
            if not omit:
                out = {"id": cid, "object": "chat.completion", "created": created, "model": model, **out}
            return Reply.json(out)
        chunks = []
        for i, piece in enumerate(pieces):
            delta = {"content": piece, **({"role": "assistant"} if i == 0 else {})}
            last = i == len(pieces) - 1
            chunks.append({"choices": [{"index": 0, "delta": delta, "finish_reason": finish if last else None}]})
        if not pieces and finish:
            chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if not omit:
            chunks = [{"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, **c} for c in chunks]
        events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
        answer = script if isinstance(script, Answer) else None
        return Reply.sse(_gated(events, answer), break_after=answer is not None and answer.cut_after is not None)


# --------------------------------------------------------------------------- helpers


def _google(failure: Failure, *, array: bool = False) -> Reply:
    body: Any = failure.error()
    return Reply.json([body] if array else body, failure.status, failure.headers)


def _oauth(error: str, description: str, *, status: int = 400) -> Reply:
    return Reply.json({"error": error, "error_description": description}, status)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _model(name: str) -> dict[str, Any]:
    methods = ["embedContent"] if "embedding" in name else ["generateContent", "countTokens"]
    return {"name": f"models/{name}", "version": "001", "displayName": name,
            "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
            "supportedGenerationMethods": methods}


def _check_generate(raw: bytes, *, vertex: bool) -> str | None:
    """What Google would say about a generate body, or None if it would take it."""
    try:
        body = json.loads(raw)
    except ValueError:
        return "Invalid JSON payload received. Unexpected token."
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    allowed = GENERATE_FIELDS | (VERTEX_ONLY_FIELDS if vertex else frozenset())
    for name in body:
        if name not in allowed:
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for content in contents:
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            return "* GenerateContentRequest.contents: parts is required"
        if content.get("role", "user") not in ("user", "model"):
            return f"Please use a valid role: user, model. Got {content.get('role')}"
    config = body.get("generationConfig") or body.get("generation_config") or {}
    for name in config:
        if name not in GENERATION_CONFIG_FIELDS:
            return f"Invalid JSON payload received. Unknown name \"{name}\" at 'generation_config': Cannot find field."
    safety = body.get("safetySettings", body.get("safety_settings", []))
    if "safetySettings" in body and "safety_settings" in body:
        return "Invalid JSON payload received. safety_settings given twice."
    for index, setting in enumerate(safety):
        if setting.get("category") not in CATEGORIES or setting.get("threshold") not in THRESHOLDS:
            return f"* GenerateContentRequest.safety_settings[{index}]: element predicate failed"
    return None


def _responses(answer: Answer, model: str) -> list[dict[str, Any]]:
    out = []
    for i, piece in enumerate(answer.pieces):
        last = i == len(answer.pieces) - 1
        candidate: dict[str, Any] = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        if last:
            candidate["finishReason"] = answer.finish
        out.append({
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": i + 1, "totalTokenCount": 6 + i},
            "modelVersion": model,
            "responseId": "resp-1",
        })
    return out


def _merge(events: list[dict[str, Any]]) -> dict[str, Any]:
    text = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events)
    merged = json.loads(json.dumps(events[-1]))
    merged["candidates"][0]["content"]["parts"] = [{"text": text}]
    return dict(merged)


def _empty_response(empty: Empty, model: str) -> dict[str, Any]:
    usage = {"promptTokenCount": 5, "totalTokenCount": 5}
    if empty.kind == "other":
        return {"candidates": [{"content": {"parts": [], "role": "model"}, "finishReason": "OTHER", "index": 0}],
                "usageMetadata": usage, "modelVersion": model}
    return {"promptFeedback": {"blockReason": "OTHER"}, "usageMetadata": usage, "modelVersion": model}


async def _framed(events: list[dict[str, Any]], answer: Answer | None) -> AsyncIterator[bytes]:
    encoded = [f"data: {json.dumps(e, separators=(',', ':'))}\r\n\r\n".encode() for e in events]
    async for chunk in _gated(encoded, answer):
        yield chunk


async def _gated(events: list[bytes], answer: Answer | None) -> AsyncIterator[bytes]:
    for i, event in enumerate(events):
        if answer is not None:
            if answer.cut_after is not None and i >= answer.cut_after:
                return
            if answer.error_after is not None and i == answer.error_after and answer.error is not None:
                yield f"data: {json.dumps(answer.error.error())}\r\n\r\n".encode()
                return
            if answer.gate is not None and i == answer.hold_after:
                answer.reached.set()
                await answer.gate.wait()
        yield event


# --------------------------------------------------------------------------- a proxy in front


@dataclasses.dataclass
class GoogleStack:
    """A running llmproxy in front of a running :class:`FakeGoogle` (for end-to-end tests)."""

    base: str
    fake: FakeGoogle
    app: Any
    clock: Any
    path: Any
    keys: list[str]
    accounts: list[dict[str, Any]]

    def genai(self, *, vertex: bool = False, api_version: str = "v1beta") -> Any:
        """A google-genai client on the AI Studio (or Vertex) route of the proxy."""
        from google import genai
        from google.genai import types

        base = f"{self.base}/v1/vertex" if vertex else f"{self.base}/v1"
        return genai.Client(
            api_key=API_PASSWORD, http_options=types.HttpOptions(base_url=base, api_version=api_version)
        )

    def openai(self, *, vertex: bool = False) -> Any:
        import openai

        base = f"{self.base}/gemini/vertex" if vertex else f"{self.base}/gemini"
        return openai.OpenAI(base_url=base, api_key=API_PASSWORD, max_retries=0)

    async def file(self) -> dict[str, Any]:
        import tomllib

        await self.app.proxy.flush()
        return tomllib.loads(self.path.read_text())


API_PASSWORD = "k" * 64
ADMIN_PASSWORD = "a" * 64


@contextlib.asynccontextmanager
async def google_stack(
    tmp_path: Any, *, keys: int = 0, accounts: int = 0, routes: Any = None, **settings: Any
) -> AsyncIterator[GoogleStack]:
    """Serve the fake and a proxy whose Gemini and Vertex endpoints point at it.

    ``keys`` AI Studio keys and ``accounts`` service accounts are made, known to
    the fake, and configured; ``routes`` replaces the proxy's route table.
    """
    from llmproxy import build_app
    from llmproxy.asgi.app import App
    from llmproxy.config import ConfigStore, Settings
    from llmproxy.proxy import Proxy
    from tests.fakes.anthropic import ManualClock
    from tests.fakes.server import serve

    clock = ManualClock(1_800_000_000.0)
    fake = FakeGoogle(clock=clock)
    async with serve(fake) as upstream:
        fake.base = upstream
        made_keys = [make_key(i) for i in range(keys)]
        for key in made_keys:
            fake.add_key(key)
        made_accounts = [make_service_account(i, fake.token_uri) for i in range(accounts)]
        for sa in made_accounts:
            fake.add_account(sa)
        path = tmp_path / "clewdr.toml"
        config = Settings(
            password=API_PASSWORD,
            admin_password=ADMIN_PASSWORD,
            gemini_endpoint=upstream,
            vertex_endpoint=upstream,
            gemini_keys=tuple({"key": k, "count_403": 0} for k in made_keys),
            vertex={"credentials": made_accounts} if made_accounts else {},
            **settings,
        )
        if routes is None:
            app = build_app(config, ConfigStore(path), clock=clock)
        else:
            app = App(Proxy(config, ConfigStore(path), clock=clock), routes, body_limit=32 << 20)
        async with serve(app) as base:
            yield GoogleStack(base, fake, app, clock, path, made_keys, made_accounts)
            await app.proxy.flush()
