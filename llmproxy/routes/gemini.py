"""Gemini AI Studio and Vertex AI routes, native and OpenAI-compatible.

========================================  ===============================================
``GET|POST /v1/v1beta/{path}``             Gemini API with rotated AI Studio keys
                                           (``?key=`` / ``x-goog-api-key`` = API password)
``GET|POST /v1/vertex/v1beta/{path}``      the same calls, served by Vertex AI with the
                                           service accounts (``GET …/models`` is a fixed list)
``POST /gemini/chat/completions``          AI Studio's OpenAI-compatible endpoint
``POST /gemini/vertex/chat/completions``   Vertex's OpenAI-compatible endpoint
``GET  /gemini/models``                    model ids in OpenAI's list shape
========================================  ===============================================

Point google-genai at ``{proxy}/v1`` (or ``{proxy}/v1/vertex``) with the API
password as its API key; point the openai SDK at ``{proxy}/gemini`` (or
``{proxy}/gemini/vertex``).

Every call goes through :func:`~llmproxy.gemini.rotation.rotate`: a key or
account the upstream refuses is cooled down or retired and the next one is
tried, as are empty answers, all before the client has seen a byte. Streams are
held until their first real answer, then relayed event by event; non-stream
answers get keep-alive whitespace when they are slow (:mod:`llmproxy.gemini.relay`).
Errors reach a Gemini client as Google wrote them, and an OpenAI client in
OpenAI's shape.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from ..asgi.families import Family, dumps
from ..asgi.request import Request
from ..credentials import Lease, Pool
from ..errors import BadRequest, NoCredentialAvailable, UpstreamError
from ..gemini.credentials import KEYS_ROUTE, VERTEX_ROUTE, GeminiCredentials
from ..gemini.failures import Holder
from ..gemini.native import (
    FALLBACK_MODELS,
    NativeCall,
    forward_query,
    is_empty_generate,
    model_entry,
    model_list,
    parse_native_path,
    safety_off,
    vertex_base_for,
    vertex_model_url,
    vertex_openai_url,
)
from ..gemini.openai_compat import (
    chat_models,
    fill_chunk,
    is_empty_chat,
    openai_error_type,
    static_chat_models,
    vertex_chat_body,
)
from ..gemini.relay import relay_raw, relay_sse, send_reply, with_keepalive
from ..gemini.rotation import EmptyAnswer, GoogleError, Reply, Transient, rotate
from ..gemini.upstream import error_from_event, open_call, verbatim_error
from ..gemini.watch import ChatWatch, GeminiWatch

__all__ = ["chat", "models", "native", "vertex_chat", "vertex_native"]

NATIVE_PREFIX = "/v1/"
VERTEX_PREFIX = "/v1/vertex/"
API_VERSIONS = ("v1beta", "v1", "v1alpha")
"""Gemini API versions a client may name after the prefix (google-genai 3 defaults to v1)."""
STATIC_HEADER = "x-llmproxy-models"

Attempt = Callable[[Lease[Any]], Awaitable[Reply | None]]
Target = Callable[[Lease[Any]], Awaitable[tuple[str, dict[str, str]]]]


async def native(request: Request) -> None:
    """``/v1/v1beta/{path}``: the Gemini API, one AI Studio key per attempt."""
    await _native(request, vertex=False)


async def vertex_native(request: Request) -> None:
    """``/v1/vertex/v1beta/{path}``: the Gemini API's calls, served by Vertex AI."""
    await _native(request, vertex=True)


async def chat(request: Request) -> None:
    """``POST /gemini/chat/completions``: AI Studio's OpenAI-compatible endpoint."""
    await _chat(request, vertex=False)


async def vertex_chat(request: Request) -> None:
    """``POST /gemini/vertex/chat/completions``: Vertex's OpenAI-compatible endpoint."""
    await _chat(request, vertex=True)


async def models(request: Request) -> None:
    """``GET /gemini/models``: AI Studio's model list, or a fixed one without keys."""
    proxy = request.app
    settings = proxy.settings
    client = proxy.http.get(settings.proxy)
    url = f"{settings.gemini_base}/v1beta/models?pageSize=1000"

    async def attempt(lease: Lease[Any]) -> Reply:
        response = await open_call(
            client, lease, "GET", url, headers={"x-goog-api-key": lease.key}, content=None,
            holder=Holder.KEY, clock=proxy.clock,
        )
        try:
            return Reply(200, "application/json", await response.aread())
        finally:
            await response.aclose()

    try:
        reply = await rotate(
            request, proxy.gemini.keys, KEYS_ROUTE, attempt, max_retries=settings.max_retries
        )
        assert reply is not None
        listing = chat_models(json.loads(reply.body))
    except (NoCredentialAvailable, UpstreamError, ValueError):
        await request.send_json(
            static_chat_models(list(FALLBACK_MODELS)), headers={STATIC_HEADER: "static"}
        )
        return
    await request.send_json(listing)


# --- native --------------------------------------------------------------------------


async def _native(request: Request, *, vertex: bool) -> None:
    proxy = request.app
    settings = proxy.settings
    gemini: GeminiCredentials = proxy.gemini
    version, resource = _split_version(request.path, VERTEX_PREFIX if vertex else NATIVE_PREFIX)
    call = parse_native_path(resource)
    request.model = call.model
    if vertex and request.method == "GET":
        await _vertex_models(request, call)
        return
    body: bytes | None = None
    if request.method == "POST":
        body = request.body
        if call.generates and settings.gemini_safety_off:
            body = safety_off(body)
    query = forward_query(request.query)
    client = proxy.http.get(settings.proxy)
    sse = call.stream and request.query.get("alt") == "sse"
    pool: Pool[Any]

    if vertex:
        if call.model is None or call.method is None:
            raise BadRequest(
                "The Vertex AI route serves models/{model}:{method} calls "
                f"(generateContent, streamGenerateContent, countTokens), not {call.resource!r}"
            )
        holder, pool, route = Holder.SERVICE_ACCOUNT, gemini.vertex, VERTEX_ROUTE
        target = _vertex_target(request, call, query)
    else:
        holder, pool, route = Holder.KEY, gemini.keys, KEYS_ROUTE
        url = f"{settings.gemini_base}/{version}/{resource}" + (f"?{query}" if query else "")

        async def target(lease: Lease[Any]) -> tuple[str, dict[str, str]]:
            return url, {"x-goog-api-key": lease.key}

    async def attempt(lease: Lease[Any]) -> Reply | None:
        url, headers = await target(lease)
        if body is not None:
            headers["content-type"] = "application/json"
        response = await open_call(
            client, lease, request.method, url, headers=headers, content=body, holder=holder,
            clock=proxy.clock, on_token_refused=lambda: gemini.tokens.forget(lease.key),
        )
        try:
            if sse:
                await relay_sse(
                    request, response, GeminiWatch(), family=Family.GEMINI,
                    on_error=lambda error: error_from_event(
                        error, lease, holder=holder, clock=proxy.clock
                    ),
                )
                return None
            if call.stream:
                await relay_raw(request, response)
                return None
            raw = await response.aread()
            reply = Reply(200, response.headers.get("content-type", "application/json"), raw)
            if call.generates and is_empty_generate(raw):
                raise EmptyAnswer(reply)
            return reply
        finally:
            await response.aclose()

    async def work() -> Reply:
        try:
            reply = await rotate(request, pool, route, attempt, max_retries=settings.max_retries)
        except GoogleError as exc:
            return _verbatim(exc)
        except NoCredentialAvailable:
            if request.method == "GET" and call.lists_models:
                return Reply(200, "application/json", dumps(model_list(FALLBACK_MODELS)),
                             {STATIC_HEADER: "static"})
            raise
        assert reply is not None
        return reply

    if call.stream:
        try:
            reply = await rotate(request, pool, route, attempt, max_retries=settings.max_retries)
        except GoogleError as exc:
            reply = _verbatim(exc)
        if reply is not None:
            await send_reply(request, reply)
    else:
        await with_keepalive(request, work)


def _split_version(path: str, prefix: str) -> tuple[str, str]:
    """``("v1beta", "models/x:generateContent")`` from ``/v1/v1beta/models/x:generateContent``."""
    version, _, resource = path.removeprefix(prefix).partition("/")
    if version not in API_VERSIONS:
        known = ", ".join(API_VERSIONS)
        raise BadRequest(f"Unknown Gemini API version {version!r}; use one of {known}")
    return version, resource


def _verbatim(exc: GoogleError) -> Reply:
    """Google's own error body for a Gemini client, or the exception if it has none."""
    body = verbatim_error(exc)
    if body is None:
        raise exc
    return Reply(exc.status, "application/json", body, dict(exc.headers))


def _vertex_target(request: Request, call: NativeCall, query: str) -> Target:
    proxy = request.app
    settings = proxy.settings
    gemini: GeminiCredentials = proxy.gemini
    client = proxy.http.get(settings.proxy)
    location = gemini.location
    base = vertex_base_for(settings.vertex_endpoint, settings.vertex_base, location)
    model, method = call.model, call.method
    assert model is not None
    assert method is not None

    async def target(lease: Lease[Any]) -> tuple[str, dict[str, str]]:
        account = gemini.accounts.get(lease.key)
        if account is None:  # removed by the admin a moment ago
            raise Transient(UpstreamError("the Vertex credential was just removed", status=503))
        token = await gemini.tokens.access_token(account, client)
        url = vertex_model_url(base, account.project_id, location, model, method)
        return url + (f"?{query}" if query else ""), {"authorization": f"Bearer {token}"}

    return target


async def _vertex_models(request: Request, call: NativeCall) -> None:
    if call.lists_models:
        await request.send_json(model_list(FALLBACK_MODELS))
    elif call.model is not None and call.method is None:
        await request.send_json(model_entry(call.model))
    else:
        raise BadRequest(f"The Vertex AI route has no GET {call.resource!r}")


# --- OpenAI-compatible -----------------------------------------------------------------


async def _chat(request: Request, *, vertex: bool) -> None:
    proxy = request.app
    settings = proxy.settings
    gemini: GeminiCredentials = proxy.gemini
    body = request.json_body
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' must be a model name such as gemini-2.5-flash", param="model")
    if not isinstance(body.get("messages"), list):
        raise BadRequest("'messages' must be an array", param="messages")
    request.model = model
    stream = body.get("stream") is True
    client = proxy.http.get(settings.proxy)
    created = int(proxy.clock())
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    pool: Pool[Any]

    if vertex:
        payload = dumps(vertex_chat_body(body, safety_off=settings.gemini_safety_off))
        holder, pool, route = Holder.SERVICE_ACCOUNT, gemini.vertex, VERTEX_ROUTE
        location = gemini.location
        base = vertex_base_for(settings.vertex_endpoint, settings.vertex_base, location)

        async def target(lease: Lease[Any]) -> tuple[str, dict[str, str]]:
            account = gemini.accounts.get(lease.key)
            if account is None:
                raise Transient(UpstreamError("the Vertex credential was just removed", status=503))
            token = await gemini.tokens.access_token(account, client)
            return vertex_openai_url(base, account.project_id, location), {
                "authorization": f"Bearer {token}"
            }
    else:
        payload = request.body  # as the client sent it, byte for byte
        holder, pool, route = Holder.KEY, gemini.keys, KEYS_ROUTE
        url = f"{settings.gemini_base}/v1beta/openai/chat/completions"

        async def target(lease: Lease[Any]) -> tuple[str, dict[str, str]]:
            return url, {"authorization": f"Bearer {lease.key}"}

    async def attempt(lease: Lease[Any]) -> Reply | None:
        url, headers = await target(lease)
        headers["content-type"] = "application/json"
        response = await open_call(
            client, lease, "POST", url, headers=headers, content=payload, holder=holder,
            clock=proxy.clock, on_token_refused=lambda: gemini.tokens.forget(lease.key),
        )
        try:
            if stream:
                watch = ChatWatch(completion_id=completion_id, created=created, model=model)
                await relay_sse(
                    request, response, watch, family=Family.OPENAI, ping=True,
                    on_error=lambda error: error_from_event(
                        error, lease, holder=holder, clock=proxy.clock
                    ),
                )
                return None
            raw = await response.aread()
            reply = Reply(200, "application/json", _filled(raw, completion_id, created, model))
            if is_empty_chat(raw):
                raise EmptyAnswer(reply)
            return reply
        finally:
            await response.aclose()

    async def work() -> Reply:
        try:
            reply = await rotate(request, pool, route, attempt, max_retries=settings.max_retries)
        except GoogleError as exc:
            raise _openai_error(exc) from None
        assert reply is not None
        return reply

    if stream:
        try:
            reply = await rotate(request, pool, route, attempt, max_retries=settings.max_retries)
        except GoogleError as exc:
            raise _openai_error(exc) from None
        if reply is not None:
            await send_reply(request, reply)
    else:
        await with_keepalive(request, work)


def _openai_error(exc: GoogleError) -> UpstreamError:
    """A Google error as an OpenAI client expects it (status kept, type translated)."""
    return UpstreamError(
        exc.message,
        status=exc.status,
        upstream_type=openai_error_type(exc.status_name, exc.status),
        headers=exc.headers,
    )


def _filled(raw: bytes, completion_id: str, created: int, model: str) -> bytes:
    """A chat completion with ``id``/``object``/``created``/``model`` where Google left them out."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(body, dict) or "error" in body:
        return raw
    changed = fill_chunk(
        body,
        object_name="chat.completion",
        completion_id=completion_id,
        created=created,
        model=model,
    )
    return dumps(body) if changed else raw
