"""The claude.ai web route: ``/v1/messages`` (and, through translation, ``/v1/chat/completions``).

A request becomes one claude.ai conversation (see
:mod:`llmproxy.upstream.claude_web`): the whole history goes in as one
``paste.txt`` transcript (:mod:`llmproxy.claude.web_transcript`), images and PDFs
are uploaded, and the completion's event stream is rebuilt into the Messages
API's (:mod:`llmproxy.claude.web_stream`), then cut at the client's stop
sequences (:mod:`llmproxy.wire.stop_sequences`), since claude.ai ignores them.
The canonical events then go to the client as a stream or, folded, as one
message (:mod:`llmproxy.upstream.canonical`).

Usage: input tokens are estimated locally (:mod:`llmproxy.wire.estimate`), or
counted exactly with the cookie's Claude Code token when
``enable_web_count_tokens`` is on; output tokens are estimated from the text
delivered. ``message_limit`` events update the cookie's usage windows, and an
``exceeded_limit`` parks the cookie until its reset.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from ..asgi.families import dumps
from ..asgi.request import Request
from ..chain.rotate import CredentialRejected, with_credential
from ..claude.code_request import (
    CONNECTION_TEST_REPLY,
    is_connection_test,
    prepare_count_tokens_body,
    trim_messages,
    upstream_headers,
    validate_messages_body,
)
from ..claude.models import split_thinking_suffix
from ..claude.web_account import web_verdict
from ..claude.web_stream import WebStream, parse_limit
from ..claude.web_transcript import Transcript, build_transcript
from ..credentials import Exhausted, Lease, Outcome, Reason, TokenUsage, windows_probed
from ..credentials.records import CookieRecord
from ..errors import BadRequest, UpstreamError
from ..upstream.canonical import AnthropicMessage, AnthropicStream, Sink, json_events, relay_events
from ..upstream.claude_web import WebCall
from ..upstream.client import CALL_TIMEOUT
from ..wire.estimate import estimate_request, estimate_text
from ..wire.stop_sequences import StopSequences
from . import code

__all__ = ["count_tokens", "messages", "serve_web"]

log = logging.getLogger("llmproxy")

ROUTE = "web"
ESTIMATE_HEADER = "x-llmproxy-token-count"
DEFAULT_MAX_TOKENS = 8192
TIMEZONE = "UTC"

SinkFactory = Callable[[], Sink]


def wants_thinking(body: Mapping[str, Any]) -> bool:
    """Whether the client asked for thinking (a ``-thinking`` model or a thinking setting)."""
    _, suffixed = split_thinking_suffix(str(body.get("model", "")))
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive"):
        return True
    return suffixed


def stop_sequences_of(body: Mapping[str, Any]) -> list[str]:
    """The client's stop sequences that can match anything."""
    raw = body.get("stop_sequences")
    if not isinstance(raw, list):
        return []
    return [s for s in raw if isinstance(s, str) and s]


def completion_body(
    body: Mapping[str, Any],
    transcript: Transcript,
    files: list[str],
    *,
    pro: bool,
    settings: Any,
) -> dict[str, Any]:
    """The completion request claude.ai expects (protocols.md §4.4)."""
    text = transcript.text
    max_tokens = body.get("max_tokens")
    out: dict[str, Any] = {
        "max_tokens_to_sample": max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else DEFAULT_MAX_TOKENS,
        "attachments": [
            {
                "extracted_content": text,
                "file_name": "paste.txt",
                "file_type": "txt",
                "file_size": len(text.encode()),
            }
        ],
        "files": files,
    }
    if pro:
        out["model"] = split_thinking_suffix(str(body["model"]))[0]
    out["rendering_mode"] = "messages"
    out["prompt"] = settings.custom_prompt
    out["timezone"] = TIMEZONE
    out["tools"] = [{"name": "web_search", "type": "web_search_v0"}] if settings.web_search else []
    return out


def _windows(limit: Mapping[str, Any]) -> dict[str, Any] | None:
    """claude.ai's ``message_limit.windows`` in the OAuth usage endpoint's shape."""
    windows = limit.get("windows")
    if not isinstance(windows, Mapping):
        return None
    report: dict[str, Any] = {}
    for wire, name in (("5h", "five_hour"), ("7d", "seven_day"), ("7d_sonnet", "seven_day_sonnet")):
        window = windows.get(wire)
        if isinstance(window, Mapping):
            report[name] = window
    return report or None


async def serve_web(request: Request, body: dict[str, Any], make_sink: SinkFactory) -> None:
    """Answer ``body`` (a canonical Messages request) from claude.ai into ``make_sink()``."""
    proxy = request.app
    settings = proxy.settings
    if settings.sanitize_messages:
        body = trim_messages(body)
    model = str(body["model"])
    transcript = build_transcript(
        body, human=settings.custom_h, assistant=settings.custom_a, real_roles=settings.use_real_roles
    )
    thinking = wants_thinking(body)
    stops = stop_sequences_of(body)
    estimated_input = estimate_request(body)
    client = proxy.http.browser(settings.proxy)
    stream_client = proxy.http.get(settings.proxy)  # HTTP/1.1: closing it stops claude.ai
    base = settings.anthropic_base

    async def attempt(lease: Lease[CookieRecord]) -> None:
        call = WebCall(client, base, lease.key, proxy.clock, stream_client)
        account = await proxy.web.get(call)  # a failed lookup caches nothing
        lease.learned(account=account.kind)
        verdict = web_verdict(account, settings, proxy.clock())
        if verdict is not None:
            # The cached account is what the verdict rests on, so it stays cached:
            # a cookie the policy sets aside must not cost two lookups per request.
            raise CredentialRejected(verdict, _set_aside(verdict))
        try:
            org = account.org_uuid
            conversation = await call.create_conversation(org, preserve=settings.preserve_chats)
            if thinking and account.is_pro:
                await call.set_thinking(org, conversation, extended=True)
            files = [await call.upload(org, conversation, item) for item in transcript.uploads]
            input_tokens = estimated_input
            if settings.enable_web_count_tokens:
                input_tokens = await _exact_input_tokens(request, lease, body) or estimated_input
            payload = completion_body(body, transcript, files, pro=account.is_pro, settings=settings)
            response = await call.completion(org, conversation, payload)
        except CredentialRejected:
            proxy.web.forget(lease.key)
            raise
        stream = WebStream(model, input_tokens)
        delivered = _Delivered()
        try:
            await relay_events(
                _canonical(
                    json_events(response),
                    stream,
                    stops,
                    delivered,
                    lambda limit: _learn_from_limit(lease, limit, proxy.clock()),
                ),
                make_sink(),
                what="the claude.ai stream",
            )
        finally:
            await response.aclose()
        lease.succeeded(TokenUsage(model, input_tokens, delivered.tokens))

    await with_credential(request, proxy.cookies, ROUTE, attempt, max_retries=settings.max_retries)


def _set_aside(verdict: Outcome[Any]) -> UpstreamError:
    """The client's error when the last cookie tried was set aside by the account-flag policy."""
    reason = getattr(verdict, "reason", None)
    why = f" ({reason})" if reason is not None else ""
    return UpstreamError(
        "No usable claude.ai cookie: the last one tried was set aside by the"
        f" account-flag policy{why}",
        status=503,
    )


class _Delivered:
    """The text and thinking that reached the client (after stop sequences).

    Estimated as a whole when asked: summed per delta, the estimate counts a
    word split across deltas twice and every delta as at least one token
    (+17 % at 20-character deltas, +45 % at 8).
    """

    __slots__ = ("_pieces",)

    def __init__(self) -> None:
        self._pieces: list[str] = []

    def add(self, text: str) -> None:
        self._pieces.append(text)

    @property
    def tokens(self) -> int:
        return estimate_text("".join(self._pieces))


async def _canonical(
    upstream: AsyncIterator[tuple[str | None, Any]],
    stream: WebStream,
    stops: list[str],
    delivered: _Delivered,
    on_limit: Callable[[Mapping[str, Any]], None],
) -> AsyncIterator[dict[str, Any]]:
    """claude.ai events → canonical events, cut at stop sequences, usage filled in.

    A ``message_limit`` is acted on when it arrives (before ``message_stop``
    reaches the client), so the next request already sees the cookie's new state.
    """
    cutter = StopSequences(stops) if stops else None
    async for name, data in upstream:
        if not isinstance(data, dict):
            continue
        kind = name or str(data.get("type", ""))
        events = stream.feed(kind, data)
        if kind == "message_limit" and stream.limit is not None:
            on_limit(stream.limit)
        for event in events:
            for out in cutter.feed(event) if cutter is not None else (event,):
                out_kind = out.get("type")
                if out_kind == "content_block_delta":
                    delta = out.get("delta") or {}
                    text = delta.get("text") or delta.get("thinking")
                    if isinstance(text, str):
                        delivered.add(text)
                elif out_kind == "message_delta":
                    usage = dict(out.get("usage") or {})
                    usage["output_tokens"] = delivered.tokens
                    out = {**out, "usage": usage}
                yield out
            if cutter is not None and cutter.done:
                return


def _learn_from_limit(lease: Lease[CookieRecord], limit: Mapping[str, Any], now: float) -> None:
    report = _windows(limit)
    if report is not None:
        lease.report(windows_probed(report, now))
    parsed = parse_limit(limit, now)
    if parsed.exceeded:
        until = parsed.resets_at if parsed.resets_at is not None else now + 3600
        lease.report(Exhausted(until, Reason.too_many_requests(int(until))))


async def _exact_input_tokens(
    request: Request, lease: Lease[CookieRecord], body: Mapping[str, Any]
) -> int | None:
    """The input count from the real count_tokens API through the cookie's OAuth token.

    Any failure falls back to the estimate (returns ``None``): counting must never
    cost the answer.
    """
    proxy = request.app
    settings = proxy.settings
    client = proxy.http.get(settings.proxy)
    try:
        token = await proxy.tokens.access_token(
            lease, client, settings.anthropic_base, settings.oauth_client_id
        )
        prepared = prepare_count_tokens_body(body, custom_system=None)
        prepared["model"] = split_thinking_suffix(str(body["model"]))[0]
        response = await client.post(
            f"{settings.anthropic_base}/v1/messages/count_tokens",
            content=dumps(prepared),
            headers=upstream_headers(token, None),
            timeout=CALL_TIMEOUT,
        )
    except (CredentialRejected, UpstreamError) as exc:  # transport failures are UpstreamErrors too
        log.info("exact token count unavailable (%s); using the estimate", exc)
        return None
    if response.status_code != 200:
        return None
    try:
        count = response.json().get("input_tokens")
    except (ValueError, AttributeError):
        return None
    return count if isinstance(count, int) else None


async def messages(request: Request) -> None:
    """``POST /v1/messages``."""
    body = request.json_body
    validate_messages_body(body)
    request.model = body["model"]
    if is_connection_test(body):
        await request.send_json(CONNECTION_TEST_REPLY)
        return
    if body.get("stream") is True:
        await serve_web(request, body, lambda: AnthropicStream(request))
    else:
        await serve_web(request, body, lambda: AnthropicMessage(request))


async def count_tokens(request: Request) -> None:
    """``POST /v1/messages/count_tokens``: a local estimate, marked as one by a header.

    With ``enable_web_count_tokens`` the count comes from the real API through a
    cookie's Claude Code token (the Claude Code route's count_tokens does that).
    """
    body = request.json_body
    if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
        raise BadRequest("count_tokens needs a string 'model' and a 'messages' array")
    request.model = body["model"]
    if request.app.settings.enable_web_count_tokens:
        await code.count_tokens(request)
        return
    await request.send_json(
        {"input_tokens": estimate_request(body)}, headers={ESTIMATE_HEADER: "estimate"}
    )
