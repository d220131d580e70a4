"""Keep-alive bodies and held streams, on trio's autojump clock (no real waiting).

The request is a real :class:`~llmproxy.asgi.request.Request` whose ASGI ``send``
records messages; upstream responses are ``httpx.Response`` objects over async
byte iterators that sleep on the mock clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from llmproxy.asgi.families import Family
from llmproxy.asgi.request import Request
from llmproxy.errors import NoCredentialAvailable
from llmproxy.gemini.relay import KEEPALIVE_INTERVAL, PING, relay_sse, with_keepalive
from llmproxy.gemini.rotation import EmptyAnswer, Reply, Transient
from llmproxy.gemini.watch import ChatWatch, GeminiWatch
from llmproxy.upstream.client import UpstreamUnreachable


def make_request(family: Family = Family.GEMINI) -> tuple[Request, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b""}
    request = Request(scope, receive, send, "/x")
    request.family = family
    return request, sent


def body_of(sent: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def status_of(sent: list[dict[str, Any]]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


async def test_a_fast_answer_goes_out_whole_with_its_own_status(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()

    async def work() -> Reply:
        await trio.sleep(KEEPALIVE_INTERVAL - 1)
        return Reply(429, "application/json", b'{"error":{}}', {"retry-after": "3"})

    await with_keepalive(request, work)
    assert status_of(sent) == 429
    assert body_of(sent) == b'{"error":{}}'
    assert (b"retry-after", b"3") in sent[0]["headers"]


async def test_a_slow_answer_is_preceded_by_newlines_and_stays_json(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()

    async def work() -> Reply:
        await trio.sleep(KEEPALIVE_INTERVAL * 3 + 1)
        return Reply(200, "application/json", b'{"candidates":[]}')

    await with_keepalive(request, work)
    assert status_of(sent) == 200
    body = body_of(sent)
    assert body == b"\n\n\n" + b'{"candidates":[]}'
    assert json.loads(body) == {"candidates": []}
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_an_error_after_keepalive_started_is_the_json_body(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()

    async def work() -> Reply:
        await trio.sleep(KEEPALIVE_INTERVAL + 1)
        raise NoCredentialAvailable("no gemini key can serve", retry_after=5)

    await with_keepalive(request, work)
    assert status_of(sent) == 200
    error = json.loads(body_of(sent))["error"]
    assert error["code"] == 503 and error["status"] == "UNAVAILABLE"
    assert request.error_kind == "unavailable"


async def test_an_early_error_propagates_for_the_app_to_render(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()

    async def work() -> Reply:
        raise NoCredentialAvailable("none")

    with pytest.raises(NoCredentialAvailable):
        await with_keepalive(request, work)
    assert sent == []


async def test_a_bug_after_keepalive_still_ends_the_response(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()

    async def work() -> Reply:
        await trio.sleep(KEEPALIVE_INTERVAL + 1)
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        await with_keepalive(request, work)
    assert json.loads(body_of(sent))["error"]["code"] == 500
    assert request.finished


def response(*steps: bytes | float | Exception) -> httpx.Response:
    """An upstream response whose body yields bytes, sleeps (floats) or fails (exceptions)."""

    async def body() -> AsyncIterator[bytes]:
        for step in steps:
            if isinstance(step, float):
                await trio.sleep(step)
            elif isinstance(step, Exception):
                raise step
            else:
                yield step

    return httpx.Response(200, content=body(), request=httpx.Request("POST", "http://upstream"))


def gem(text: str, finish: str | None = None) -> bytes:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
    if finish:
        candidate["finishReason"] = finish
    return b"data: " + json.dumps({"candidates": [candidate]}).encode() + b"\r\n\r\n"


def never(error: Any) -> Exception:
    raise AssertionError(error)


async def test_a_gemini_stream_gets_no_pings_however_long_it_is_quiet(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()
    upstream = response(gem("a"), 600.0, gem("b", "STOP"))
    await relay_sse(request, upstream, GeminiWatch(), family=Family.GEMINI, on_error=never)
    assert body_of(sent) == gem("a") + gem("b", "STOP")


async def test_an_openai_stream_is_pinged_only_after_release(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request(Family.OPENAI)
    first = b'data: {"id":"1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
    second = first.replace(b'"role":"assistant"', b'"content":"hi"')
    upstream = response(first, 100.0, second, 35.0, b"data: [DONE]\n\n")
    watch = ChatWatch(completion_id="c", created=1, model="m")
    await relay_sse(request, upstream, watch, family=Family.OPENAI, on_error=never, ping=True, ping_interval=15.0)
    body = body_of(sent)
    assert body == first + second + PING + PING + b"data: [DONE]\n\n"


async def test_nothing_is_sent_for_an_empty_stream(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()
    other = b'data: {"candidates":[{"finishReason":"OTHER"}]}\r\n\r\n'
    with pytest.raises(EmptyAnswer) as caught:
        await relay_sse(request, response(other), GeminiWatch(), family=Family.GEMINI, on_error=never)
    assert sent == []
    assert caught.value.reply.body == other


async def test_a_break_before_the_answer_is_transient(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()
    upstream = response(b'data: {"usageMetadata":{}}\r\n\r\n', UpstreamUnreachable("reset"))
    with pytest.raises(Transient):
        await relay_sse(request, upstream, GeminiWatch(), family=Family.GEMINI, on_error=never)
    assert sent == []


async def test_an_error_event_while_holding_goes_to_on_error(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()
    error = b'data: {"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}\r\n\r\n'

    class Refused(Exception):
        pass

    def refuse(body: Any) -> Exception:
        assert body["error"]["code"] == 429
        return Refused()

    with pytest.raises(Refused):
        await relay_sse(request, response(error), GeminiWatch(), family=Family.GEMINI, on_error=refuse)
    assert sent == []


async def test_a_last_event_without_its_blank_line_is_kept(autojump_clock: trio.abc.Clock) -> None:
    request, sent = make_request()
    upstream = response(gem("a"), b'data: {"candidates":[{"finishReason":"STOP"}]}')
    await relay_sse(request, upstream, GeminiWatch(), family=Family.GEMINI, on_error=never)
    assert body_of(sent).endswith(b'{"candidates":[{"finishReason":"STOP"}]}\n\n')
    assert b"error" not in body_of(sent)
