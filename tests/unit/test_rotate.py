"""The rotation loop: retry on the credential's failures only, and never after a byte."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmproxy.asgi.request import Request
from llmproxy.chain.rotate import CredentialRejected, with_credential
from llmproxy.credentials import CLAUDE_COOKIES, Lease, Pool, State, classify_failure
from llmproxy.errors import NoCredentialAvailable, UpstreamError

NOW = 1_800_000_000.0
A = "sk-ant-sid01-" + "A" * 86 + "-aaaaaaAA"
B = "sk-ant-sid01-" + "B" * 86 + "-bbbbbbAA"
C = "sk-ant-sid01-" + "C" * 86 + "-ccccccAA"


def make_pool(*cookies: str) -> Pool[Any]:
    pool: Pool[Any] = Pool(CLAUDE_COOKIES, clock=lambda: NOW)
    for cookie in cookies:
        pool.add(cookie)
    return pool


def make_request() -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    return Request({"type": "http", "method": "POST", "headers": []}, receive, send, "/x")


def rate_limited(until: float) -> CredentialRejected:
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": json.dumps({"resetsAt": until})}}
    outcome = classify_failure(429, body, {}, now=NOW)
    assert outcome is not None
    return CredentialRejected(outcome, UpstreamError("limited", status=429, upstream_type="rate_limit_error"))


def unauthorized() -> CredentialRejected:
    outcome = classify_failure(401, {"type": "error", "error": {"type": "authentication_error", "message": "x"}}, {}, now=NOW)
    assert outcome is not None
    return CredentialRejected(outcome, UpstreamError("bad", status=401, upstream_type="authentication_error"))


async def test_rejected_credential_is_parked_and_the_next_one_answers() -> None:
    pool = make_pool(A, B)
    seen: list[str] = []

    async def attempt(lease: Lease[Any]) -> str:
        seen.append(lease.key)
        if lease.key == A:
            raise rate_limited(NOW + 600)
        return "answer from B"

    request = make_request()
    assert await with_credential(request, pool, "code", attempt, max_retries=5) == "answer from B"
    assert seen == [A, B]
    info = pool.get(A)
    assert info is not None and info.state is State.EXHAUSTED and info.until == NOW + 600
    assert request.credential is not None and request.credential.startswith("sk-ant-sid01-BBBB")
    assert pool.statistics().in_flight == 0


async def test_other_errors_go_straight_to_the_client() -> None:
    pool = make_pool(A, B)
    seen: list[str] = []

    async def attempt(lease: Lease[Any]) -> str:
        seen.append(lease.key)
        raise UpstreamError("overloaded", status=529, upstream_type="overloaded_error")

    with pytest.raises(UpstreamError) as caught:
        await with_credential(make_request(), pool, "code", attempt, max_retries=5)
    assert caught.value.status == 529
    assert seen == [A]
    assert pool.statistics().valid == 2
    assert pool.statistics().in_flight == 0


async def test_no_retry_after_the_response_started() -> None:
    pool = make_pool(A, B)
    request = make_request()
    seen: list[str] = []

    async def attempt(lease: Lease[Any]) -> str:
        seen.append(lease.key)
        await request.start_stream()
        raise rate_limited(NOW + 60)

    with pytest.raises(UpstreamError):
        await with_credential(request, pool, "code", attempt, max_retries=5)
    assert seen == [A]
    info = pool.get(A)
    assert info is not None and info.state is State.EXHAUSTED  # still reported


async def test_all_parked_is_a_503_with_retry_after_to_the_earliest_reset() -> None:
    pool = make_pool(A, B)

    async def attempt(lease: Lease[Any]) -> str:
        raise rate_limited(NOW + (100 if lease.key == A else 50))

    with pytest.raises(NoCredentialAvailable) as caught:
        await with_credential(make_request(), pool, "code", attempt, max_retries=5)
    assert caught.value.status == 503
    assert caught.value.headers["retry-after"] == "50"


async def test_attempts_are_bounded_by_max_retries() -> None:
    pool = make_pool(A, B, C)
    seen: list[str] = []

    async def attempt(lease: Lease[Any]) -> str:
        seen.append(lease.key)
        raise unauthorized()

    with pytest.raises(UpstreamError) as caught:
        await with_credential(make_request(), pool, "code", attempt, max_retries=1)
    assert caught.value.status == 401
    assert len(seen) == 2
    assert pool.statistics().invalid == 2
    assert pool.statistics().valid == 1


async def test_empty_pool_is_a_503_without_retry_after() -> None:
    async def attempt(lease: Lease[Any]) -> str:
        raise AssertionError("never called")

    with pytest.raises(NoCredentialAvailable) as caught:
        await with_credential(make_request(), make_pool(), "code", attempt, max_retries=5)
    assert "retry-after" not in caught.value.headers


async def test_lease_returned_when_the_attempt_is_cancelled() -> None:
    import trio

    pool = make_pool(A)
    started = trio.Event()

    async def attempt(lease: Lease[Any]) -> str:
        started.set()
        await trio.sleep_forever()
        return "never"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: with_credential(make_request(), pool, "code", attempt, max_retries=0))
        await started.wait()
        assert pool.statistics().in_flight == 1
        nursery.cancel_scope.cancel()
    assert pool.statistics().in_flight == 0
