"""The Claude Code route: ``/code/v1/messages``, ``/count_tokens`` and ``/models``.

Each request leases a cookie from the pool, turns it into an OAuth access token
(logging in or refreshing as needed), and calls the real Messages API with
Claude Code's identity. The body the client sent reaches the upstream whole:
only the rewrites of :mod:`llmproxy.claude.code_request` change it. Responses
come back with the upstream's status; streams are relayed event by event.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..asgi.families import dumps
from ..asgi.request import Request
from ..chain.rotate import with_credential
from ..claude.code_request import (
    CONNECTION_TEST_REPLY,
    is_connection_test,
    prepare_count_tokens_body,
    prepare_messages_body,
    sticky_key,
    trim_messages,
    upstream_headers,
    validate_messages_body,
)
from ..credentials import Lease, TokenUsage, count_tokens_checked
from ..credentials.records import CookieRecord
from ..errors import BadRequest
from ..upstream.claude_oauth import rejection_or_error
from ..upstream.client import CALL_TIMEOUT, Response
from ..upstream.relay import relay_anthropic_stream
from ..wire.estimate import estimate_request
from .models import model_list

__all__ = ["count_tokens", "messages", "models"]

log = logging.getLogger("llmproxy")

ROUTE = "code"
PASS_HEADERS = ("request-id", "anthropic-organization-id")
ESTIMATE_HEADER = "x-llmproxy-token-count"


def _passed_headers(response: Response) -> dict[str, str]:
    return {name: response.headers[name] for name in PASS_HEADERS if name in response.headers}


async def open_messages(
    request: Request, lease: Lease[CookieRecord], payload: bytes, client_beta: str | None
) -> Response:
    """Send ``payload`` to the Messages API with the lease's Claude Code token.

    Returns the open 200 response (the caller closes it); any other status is
    read, the response closed, and raised as the cookie's fault or the client's
    error. Used by both Claude Code routes, Claude and OpenAI format.
    """
    proxy = request.app
    settings = proxy.settings
    client = proxy.http.get(settings.proxy)
    base = settings.anthropic_base
    token = await proxy.tokens.access_token(lease, client, base, settings.oauth_client_id)
    response = await client.stream(
        "POST", f"{base}/v1/messages", content=payload, headers=upstream_headers(token, client_beta)
    )
    if response.status_code != 200:
        try:
            await response.aread()
        finally:
            await response.aclose()
        raise rejection_or_error(response, proxy.clock(), "Messages API")
    return response


async def messages(request: Request) -> None:
    """``POST /code/v1/messages``."""
    proxy = request.app
    body = request.json_body
    validate_messages_body(body)
    request.model = body["model"]
    if is_connection_test(body):
        await request.send_json(CONNECTION_TEST_REPLY)
        return
    settings = proxy.settings
    if settings.sanitize_messages:
        body = trim_messages(body)
    prepared = prepare_messages_body(body, custom_system=settings.custom_system)
    payload = dumps(prepared)
    stream = prepared.get("stream") is True
    client_beta = request.header("anthropic-beta")

    async def attempt(lease: Lease[CookieRecord]) -> None:
        response = await open_messages(request, lease, payload, client_beta)
        try:
            if stream and response.headers.get("content-type", "").startswith("text/event-stream"):
                usage = await relay_anthropic_stream(
                    request, response, headers=_passed_headers(response)
                )
                lease.succeeded(TokenUsage(request.model or "", usage.input_tokens, usage.output_tokens))
                return
            content = await response.aread()
            await request.send_bytes(
                content,
                status=response.status_code,
                content_type=response.headers.get("content-type", "application/json").encode(),
                headers=_passed_headers(response),
            )
            lease.succeeded(_usage_of(request.model or "", content))
        finally:
            await response.aclose()

    await with_credential(
        request,
        proxy.cookies,
        ROUTE,
        attempt,
        max_retries=settings.max_retries,
        sticky_key=sticky_key(prepared.get("system") or []),
    )


async def count_tokens(request: Request) -> None:
    """``POST /code/v1/messages/count_tokens``: upstream, or a local estimate where not allowed."""
    proxy = request.app
    body = request.json_body
    if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
        raise BadRequest("count_tokens needs a string 'model' and a 'messages' array")
    request.model = body["model"]
    settings = proxy.settings
    prepared = prepare_count_tokens_body(body, custom_system=settings.custom_system)
    client = proxy.http.get(settings.proxy)
    base = settings.anthropic_base
    client_beta = request.header("anthropic-beta")

    async def attempt(lease: Lease[CookieRecord]) -> None:
        if lease.record.count_tokens_allowed is False:
            await _send_estimate(request, prepared)
            return
        token = await proxy.tokens.access_token(lease, client, base, settings.oauth_client_id)
        response = await client.post(
            f"{base}/v1/messages/count_tokens",
            content=dumps(prepared),
            headers=upstream_headers(token, client_beta),
            timeout=CALL_TIMEOUT,
        )
        if response.status_code in (403, 404):
            lease.report(count_tokens_checked(False))
            await _send_estimate(request, prepared)
            return
        if response.status_code != 200:
            raise rejection_or_error(response, proxy.clock(), "count_tokens")
        if lease.record.count_tokens_allowed is not True:
            lease.report(count_tokens_checked(True))
        await request.send_bytes(
            response.content, content_type=b"application/json", headers=_passed_headers(response)
        )

    await with_credential(request, proxy.cookies, ROUTE, attempt, max_retries=settings.max_retries)


async def models(request: Request) -> None:
    """``GET /code/v1/models`` and ``/v1/models``."""
    await request.send_json(model_list(request.app.settings.models))


async def _send_estimate(request: Request, body: dict[str, Any]) -> None:
    await request.send_json(
        {"input_tokens": estimate_request(body)}, headers={ESTIMATE_HEADER: "estimate"}
    )


def _usage_of(model: str, content: bytes) -> TokenUsage:
    try:
        usage = json.loads(content).get("usage")
    except (ValueError, AttributeError):
        usage = None
    return TokenUsage.from_anthropic(model, usage)
