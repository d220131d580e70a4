"""Task groups for the request path: trio's own nursery under trio, anyio's elsewhere.

llmproxy runs on trio, and also embedded in asyncio hosts, so it spawns tasks
through anyio -- except on the request path under trio. There every request
opens a task group (the disconnect watcher) and every stream a second one (its
keep-alive), and anyio 4's task group wraps each task in a handle with its own
cancel scope and event: 54 µs per group with one task, against 34 µs for a trio
nursery, and about 2 KB more for every open stream (``tests/bench``).

What the request path uses is the same in both: ``start_soon(fn, *args)``,
``cancel_scope.cancel()``, and an exception group for what a child raised.
The same goes for the clock a relay reads on every write (:func:`clock`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, cast

import anyio
import sniffio

__all__ = ["Cancellable", "TaskGroup", "clock", "task_group"]


class Cancellable(Protocol):
    """A cancel scope, as far as the request path needs one."""

    def cancel(self) -> None: ...


class TaskGroup(Protocol):
    """What the request path uses of a trio nursery or an anyio task group."""

    @property
    def cancel_scope(self) -> Cancellable: ...

    def start_soon(self, func: Callable[..., Awaitable[Any]], *args: Any) -> None: ...


def task_group() -> AbstractAsyncContextManager[TaskGroup]:
    """A new task group for the running event loop (use with ``async with``)."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.open_nursery()
    return cast("AbstractAsyncContextManager[TaskGroup]", anyio.create_task_group())


def clock() -> Callable[[], float]:
    """The running event loop's clock: trio's own under trio (anyio's costs a backend lookup per call)."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.current_time
    return anyio.current_time
