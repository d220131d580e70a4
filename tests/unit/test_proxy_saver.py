"""When the proxy's config saver writes (llmproxy.proxy): real changes soon, token counters later.

Run on trio's autojump clock with a store that records when it was asked to save,
so the coalescing delays pass without real waiting and no file is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio

import llmproxy.proxy
from llmproxy.config import Settings
from llmproxy.credentials import TokenUsage
from llmproxy.proxy import SAVE_COALESCE_SECONDS, USAGE_COALESCE_SECONDS, Proxy

A = "sk-ant-sid01-" + "A" * 86 + "-aaaaaaAA"
B = "sk-ant-sid01-" + "B" * 86 + "-bbbbbbAA"


class RecordingStore:
    """Stands in for :class:`~llmproxy.config.ConfigStore`: notes the time of each save."""

    path = None

    def __init__(self) -> None:
        self.t0 = trio.current_time()
        self.saves: list[float] = []
        self.snapshots: list[Settings] = []

    async def save(self, settings: Callable[[], Settings]) -> bool:
        self.saves.append(trio.current_time() - self.t0)
        self.snapshots.append(settings())
        return True


def make_proxy() -> tuple[Proxy, RecordingStore]:
    store = RecordingStore()
    settings = Settings.from_document({"cookie_array": [{"cookie": A}, {"cookie": B}]})
    store_any: Any = store
    return Proxy(settings, store_any, clock=lambda: 1_800_000_000.0), store


def use(proxy: Proxy, tokens: int = 10) -> None:
    with proxy.cookies.acquire_nowait("code") as lease:
        lease.succeeded(TokenUsage("claude-sonnet-4-5", tokens, tokens))


async def test_token_counters_alone_are_saved_after_the_usage_delay(autojump_clock: trio.abc.Clock) -> None:
    proxy, store = make_proxy()
    async with trio.open_nursery() as nursery:
        await proxy.start(nursery)  # type: ignore[arg-type]
        for _ in range(20):  # a burst of requests, 0.1 s apart
            use(proxy)
            await trio.sleep(0.1)
        assert proxy.dirty
        assert store.saves == []
        await trio.sleep(USAGE_COALESCE_SECONDS + SAVE_COALESCE_SECONDS)
        assert store.saves == [pytest.approx(USAGE_COALESCE_SECONDS + SAVE_COALESCE_SECONDS)]
        assert not proxy.dirty
        nursery.cancel_scope.cancel()


async def test_a_real_change_saves_soon_and_takes_pending_counters_with_it(autojump_clock: trio.abc.Clock) -> None:
    proxy, store = make_proxy()
    async with trio.open_nursery() as nursery:
        await proxy.start(nursery)  # type: ignore[arg-type]
        use(proxy)
        await trio.sleep(1)
        proxy.cookies.park(A, 1_800_003_600.0)  # a real change while the counters wait
        await trio.sleep(SAVE_COALESCE_SECONDS + 0.01)
        assert store.saves == [pytest.approx(1 + SAVE_COALESCE_SECONDS)]
        assert not proxy.dirty  # the counters went with it
        await trio.sleep(USAGE_COALESCE_SECONDS * 3)
        assert len(store.saves) == 1  # and nothing else was left to save
        nursery.cancel_scope.cancel()


async def test_a_settings_change_alone_saves_within_the_short_delay(autojump_clock: trio.abc.Clock) -> None:
    proxy, store = make_proxy()
    async with trio.open_nursery() as nursery:
        await proxy.start(nursery)  # type: ignore[arg-type]
        await trio.sleep(1)
        proxy.update_settings(proxy.settings.replace(custom_prompt="changed"))
        await trio.sleep(SAVE_COALESCE_SECONDS + 0.01)
        assert store.saves == [pytest.approx(1 + SAVE_COALESCE_SECONDS)]
        assert store.snapshots[0].custom_prompt == "changed"
        nursery.cancel_scope.cancel()


async def test_shutdown_saves_counters_that_were_still_waiting(autojump_clock: trio.abc.Clock) -> None:
    proxy, store = make_proxy()
    async with trio.open_nursery() as nursery:
        await proxy.start(nursery)  # type: ignore[arg-type]
        use(proxy)
        await trio.sleep(1)
        assert store.saves == []
        await proxy.stop()
    assert store.saves == [pytest.approx(1)]
    assert not proxy.dirty


async def test_the_usage_delay_is_read_when_the_saver_waits(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llmproxy.proxy, "USAGE_COALESCE_SECONDS", 60.0)
    proxy, store = make_proxy()
    async with trio.open_nursery() as nursery:
        await proxy.start(nursery)  # type: ignore[arg-type]
        use(proxy)
        await trio.sleep(59)
        assert store.saves == []
        await trio.sleep(2)
        assert len(store.saves) == 1
        nursery.cancel_scope.cancel()
