"""The OpenAI-compatible Claude routes: ``/v1/chat/completions`` and ``/code/v1/chat/completions``.

The "format translation" step of the chain: the OpenAI request becomes a
canonical Messages request (:mod:`llmproxy.translate.openai_request`), the
route's upstream answers it as for a Claude client, and the canonical events
come back as OpenAI chunks or one ``chat.completion``
(:mod:`llmproxy.translate.openai_response`).

- ``/v1/chat/completions`` runs the claude.ai web route (:func:`.web.serve_web`),
  stop sequences included.
- ``/code/v1/chat/completions`` calls the Messages API with the cookie's Claude
  Code token, exactly as ``/code/v1/messages`` does, streaming or not.
"""

from __future__ import annotations

import json
from typing import Any

from ..asgi.families import dumps
from ..asgi.request import Request
from ..chain.rotate import with_credential
from ..claude.code_request import prepare_messages_body, sticky_key, trim_messages
from ..credentials import Lease, TokenUsage
from ..credentials.records import CookieRecord
from ..errors import BadRequest, UpstreamError
from ..translate.openai_request import chat_to_messages, stream_include_usage
from ..translate.openai_response import ChatStream as ChatChunks
from ..translate.openai_response import chat_completion
from ..upstream.canonical import ChatCompletion, ChatStream, json_objects, relay_events
from .code import open_messages
from .web import serve_web

__all__ = ["code_chat", "web_chat"]

CODE_ROUTE = "code"


def _translate(request: Request, route: str) -> tuple[dict[str, Any], bool, bool]:
    body = request.json_body
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    claude = chat_to_messages(body, route=route)  # type: ignore[arg-type]
    request.model = str(body.get("model") or "")
    return claude, claude.get("stream") is True, stream_include_usage(body)


async def web_chat(request: Request) -> None:
    """``POST /v1/chat/completions`` on claude.ai."""
    claude, stream, include_usage = _translate(request, "web")
    settings = request.app.settings
    model = str(request.json_body.get("model"))
    created = int(request.app.clock())
    if stream:
        await serve_web(
            request,
            claude,
            lambda: ChatStream(
                request,
                ChatChunks(model=model, created=created, include_usage=include_usage, think_tags=settings.think_tags),
            ),
        )
    else:
        await serve_web(
            request,
            claude,
            lambda: ChatCompletion(request, model=model, created=created, think_tags=settings.think_tags),
        )


async def code_chat(request: Request) -> None:
    """``POST /code/v1/chat/completions`` through the Messages API."""
    claude, stream, include_usage = _translate(request, "code")
    proxy = request.app
    settings = proxy.settings
    model = str(request.json_body.get("model"))
    created = int(proxy.clock())
    if settings.sanitize_messages:
        claude = trim_messages(claude)
    prepared = prepare_messages_body(claude, custom_system=settings.custom_system)
    payload = dumps(prepared)

    async def attempt(lease: Lease[CookieRecord]) -> None:
        response = await open_messages(request, lease, payload, None)
        try:
            if stream:
                chunks = ChatChunks(
                    model=model, created=created, include_usage=include_usage, think_tags=settings.think_tags
                )
                await relay_events(
                    json_objects(response), ChatStream(request, chunks), what="the Messages API stream"
                )
                lease.succeeded(TokenUsage.from_anthropic(model, chunks.usage))
                return
            content = await response.aread()
            try:
                message = json.loads(content)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                raise UpstreamError("The Messages API answered something that is not JSON", status=502)
            await request.send_json(
                chat_completion(message, model=model, created=created, think_tags=settings.think_tags)
            )
            lease.succeeded(TokenUsage.from_anthropic(model, message.get("usage")))
        finally:
            await response.aclose()

    await with_credential(
        request,
        proxy.cookies,
        CODE_ROUTE,
        attempt,
        max_retries=settings.max_retries,
        sticky_key=sticky_key(prepared.get("system") or []),
    )
