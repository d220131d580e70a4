"""A lease is returned when the task holding it is cancelled (client disconnect)."""

from __future__ import annotations

import trio
import trio.testing

from llmproxy.credentials import CLAUDE_COOKIES, CookieRecord, Pool, State, StoredCredential

A = "sk-ant-sid01-" + "a" * 90 + "-aaaaaaAA"
B = "sk-ant-sid01-" + "b" * 90 + "-bbbbbbAA"


def make_pool() -> Pool[CookieRecord]:
    return Pool(
        CLAUDE_COOKIES,
        clock=lambda: 1_785_000_000.0,
        credentials=[StoredCredential(CookieRecord(cookie=k), State.VALID) for k in (A, B)],
    )


async def test_cancelled_task_returns_its_lease() -> None:
    pool = make_pool()
    holding = trio.Event()

    async def stream_forever() -> None:
        with pool.acquire_nowait("code"):
            holding.set()
            await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream_forever)
        await holding.wait()
        assert pool.statistics().in_flight_by_key == {A: 1, B: 0}
        nursery.cancel_scope.cancel()
    assert pool.statistics().in_flight == 0


async def test_many_cancelled_streams_all_return() -> None:
    pool = make_pool()
    started = 0

    async def hold(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal started
        with pool.acquire_nowait("code"):
            started += 1
            task_status.started()
            await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        for _ in range(100):
            await nursery.start(hold)
        assert pool.statistics().in_flight_by_key == {A: 50, B: 50}
        nursery.cancel_scope.cancel()
    assert started == 100
    assert pool.statistics().in_flight == 0


async def test_a_failing_sibling_cancels_the_holder_and_the_lease_comes_back() -> None:
    pool = make_pool()

    async def holder() -> None:
        with pool.acquire_nowait("code"):
            await trio.sleep_forever()

    async def failer() -> None:
        await trio.testing.wait_all_tasks_blocked()
        raise ValueError("client went away")

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(holder)
            nursery.start_soon(failer)
    except* ValueError:
        pass
    assert pool.statistics().in_flight == 0
