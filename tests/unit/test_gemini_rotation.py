"""The Gemini retry loop, with scripted attempts instead of an upstream."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from llmproxy.chain.rotate import CredentialRejected
from llmproxy.credentials import NoCredentialAvailable, Pool, State
from llmproxy.credentials.outcomes import Exhausted
from llmproxy.errors import UpstreamError
from llmproxy.gemini.keys import GEMINI_KEYS, GeminiKeys, KeyRecord
from llmproxy.gemini.rotation import EmptyAnswer, Reply, Transient, rotate
from tests.fakes.anthropic import ManualClock
from tests.fakes.gemini import make_key

NOW = 1_800_000_000.0
KEYS = [make_key(i) for i in range(3)]
OK = Reply(200, "application/json", b'{"ok":1}')


def setup(n: int = 3) -> tuple[Pool[KeyRecord], Any]:
    pool = Pool.from_document(GeminiKeys(), {GEMINI_KEYS: KEYS[:n]}, clock=ManualClock(NOW))
    return pool, SimpleNamespace(credential=None, streaming=False)


def script(*steps: Any) -> tuple[Any, list[str]]:
    seen: list[str] = []
    queue = list(steps)

    async def attempt(lease: Any) -> Reply | None:
        seen.append(lease.key)
        step = queue.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[no-any-return]

    return attempt, seen


def rejected(status: int = 429) -> CredentialRejected:
    return CredentialRejected(Exhausted(NOW + 60), UpstreamError("limited", status=status))


async def test_the_first_answer_is_returned_and_the_credential_named() -> None:
    pool, request = setup()
    attempt, seen = script(OK)
    assert await rotate(request, pool, "gemini", attempt, max_retries=5) is OK
    assert seen == [KEYS[0]] and request.credential == pool.kind.mask(KEYS[0])


async def test_rejections_are_reported_and_the_next_key_tried() -> None:
    pool, request = setup()
    attempt, seen = script(rejected(), OK)
    assert await rotate(request, pool, "gemini", attempt, max_retries=5) is OK
    assert seen == KEYS[:2]
    assert pool.get(KEYS[0]).state is State.EXHAUSTED  # type: ignore[union-attr]


async def test_an_empty_answer_is_retried_and_kept_as_the_fallback() -> None:
    pool, request = setup()
    empty = Reply(200, "application/json", b'{"candidates":[]}')
    attempt, seen = script(EmptyAnswer(empty), Transient(UpstreamError("x", status=503)), rejected())
    assert await rotate(request, pool, "gemini", attempt, max_retries=5) is empty
    assert seen == KEYS  # each key once, then the pool has nothing new to give
    assert pool.get(KEYS[0]).state is State.VALID  # type: ignore[union-attr]


async def test_transient_failures_blame_nobody_and_the_last_error_is_raised() -> None:
    pool, request = setup(2)
    last = UpstreamError("overloaded again", status=503)
    attempt, seen = script(Transient(UpstreamError("overloaded", status=503)), Transient(last))
    with pytest.raises(UpstreamError) as caught:
        await rotate(request, pool, "gemini", attempt, max_retries=5)
    assert caught.value is last
    assert pool.statistics().valid == 2


async def test_max_retries_bounds_the_attempts() -> None:
    pool, request = setup()
    attempt, seen = script(rejected(), rejected(), OK)
    with pytest.raises(UpstreamError):
        await rotate(request, pool, "gemini", attempt, max_retries=1)
    assert len(seen) == 2


async def test_nothing_to_try_is_the_pools_503() -> None:
    pool, request = setup(1)
    with pool.acquire_nowait("gemini") as lease:
        lease.exhausted(NOW + 30)
    attempt, seen = script(OK)
    with pytest.raises(NoCredentialAvailable) as caught:
        await rotate(request, pool, "gemini", attempt, max_retries=3)
    assert caught.value.retry_after == 30 and not seen


async def test_other_errors_propagate_at_once_and_return_the_lease() -> None:
    pool, request = setup()
    attempt, seen = script(UpstreamError("bad request", status=400), OK)
    with pytest.raises(UpstreamError, match="bad request"):
        await rotate(request, pool, "gemini", attempt, max_retries=5)
    assert seen == [KEYS[0]] and pool.statistics().in_flight == 0
