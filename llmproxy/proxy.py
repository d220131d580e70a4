"""The running proxy: its settings, where they are saved, and its background work.

One :class:`Proxy` lives as long as the app. Requests read ``proxy.settings``
(an immutable object swapped whole on change). Background work (the coalescing
config saver, the credential sweeper) runs as long-lived services:

- under a server that sends ASGI lifespan events, in one task group owned by the
  lifespan task, cancelled on shutdown, followed by a final save;
- under a host that sends none (an app mounted inside Starlette, which does not
  forward lifespan to mounts), started lazily on the first request as detached
  tasks of whichever event loop runs us (trio or asyncio).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from .config import ConfigStore, Settings
from .credentials import CLAUDE_COOKIES, EventKind, Pool, PoolEvent
from .credentials.records import CookieRecord
from .gemini.credentials import GeminiCredentials
from .stats import Stats
from .upstream.claude_oauth import TokenKeeper
from .upstream.claude_web import WebAccounts
from .upstream.http import HttpClients

__all__ = ["Proxy"]

log = logging.getLogger("llmproxy")

Service = Callable[[], Awaitable[None]]

SAVE_COALESCE_SECONDS = 0.25
"""How long the saver waits after a change for more changes, so a burst is one write."""

USAGE_COALESCE_SECONDS = 5.0
"""How long token counters may stay unsaved (unless another change saves them sooner).

Every successful request adds to a cookie's counters; writing and fsyncing the
whole file for each burst of them cost several percent of the CPU under load. A
crash loses at most these seconds of counts; a shutdown still saves them.
"""

SWEEP_SECONDS = 300.0
"""Longest pause of the sweeper that returns parked cookies (it wakes earlier when one is due)."""


class Proxy:
    """State shared by every request of one app.

    Args:
        settings: The starting settings.
        store: Where they are saved (a store without a path never writes).
        clock: Epoch seconds; injected so tests control time.
    """

    def __init__(
        self, settings: Settings, store: ConfigStore, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.http = HttpClients()
        self.cookies: Pool[CookieRecord] = Pool.from_document(
            CLAUDE_COOKIES,
            settings.to_document(),
            clock=clock,
            on_event=self._on_pool_event,
            max_concurrent_per_credential=settings.max_concurrent_per_cookie,
        )
        """The Claude cookie pool; it owns cookie_array, wasted_cookie and cookie_meta."""
        self.gemini = GeminiCredentials.from_settings(
            settings, clock=clock, on_event=self._on_pool_event
        )
        """Gemini AI Studio keys and Vertex AI service accounts; owns gemini_keys and vertex."""
        self.web = WebAccounts(clock)
        """claude.ai account lookups per cookie, cached for the web route."""
        self.stats = Stats()
        """Request counters for the admin dashboard."""
        self.tokens = TokenKeeper(clock)
        """Claude Code OAuth tokens per cookie (one refresh shared by concurrent requests)."""
        self.mode: str | None = None
        """``"lifespan"`` or ``"detached"`` once background services run."""
        self._services: list[tuple[str, Service]] = [
            ("config saver", self._save_loop),
            ("cookie sweeper", self._sweep_loop),
        ]
        self._version = 0
        self._saved_version = 0
        self._urgent_version = 0
        self._holding = False
        self._wake: anyio.Event | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._detached: set[Any] = set()

    # -- settings and saving ------------------------------------------------------

    def snapshot(self) -> Settings:
        """The settings to write to disk, with the pools' current credentials."""
        tables = self.cookies.dump()
        gemini = self.gemini.dump()
        return self.settings.replace(
            cookie_array=tuple(tables.get("cookie_array", ())),
            wasted_cookie=tuple(tables.get("wasted_cookie", ())),
            cookie_meta=tuple(tables.get("cookie_meta", ())),
            gemini_keys=tuple(gemini.get("gemini_keys", ())),
            vertex=gemini.get("vertex", {}),
        )

    def update_settings(self, settings: Settings) -> None:
        """Swap in new settings and schedule a save."""
        self.settings = settings
        self.cookies.max_concurrent_per_credential = settings.max_concurrent_per_cookie
        self.mark_dirty()

    def _on_pool_event(self, event: PoolEvent) -> None:
        # Messages come masked from the pool; they are safe to log as they are.
        log.log(event.level, "%s", event.message)
        if event.persist:
            self.mark_dirty(urgent=event.kind is not EventKind.USAGE)

    def mark_dirty(self, *, urgent: bool = True) -> None:
        """Note that something worth saving changed; the saver writes it soon.

        Args:
            urgent: A real change of state (a cookie parked, retired or added,
                settings, a new token): saved within :data:`SAVE_COALESCE_SECONDS`.
                ``False`` for token counters only: saved within
                :data:`USAGE_COALESCE_SECONDS`, or with the next urgent change.
        """
        self._version += 1
        if urgent:
            self._urgent_version = self._version
        if self._wake is not None and (urgent or not self._holding):
            self._wake.set()

    @property
    def dirty(self) -> bool:
        """Whether a change is not on disk yet."""
        return self._version != self._saved_version

    @property
    def _urgent(self) -> bool:
        return self._urgent_version > self._saved_version

    def save_now(self) -> None:
        """Save synchronously, before the event loop runs (start-up)."""
        version = self._version
        self.store.save_sync(self.snapshot)
        self._saved_version = version

    async def flush(self) -> None:
        """Save now if anything changed (used on shutdown and by the saver)."""
        version = self._version
        if version == self._saved_version:
            return
        await self.store.save(self.snapshot)
        self._saved_version = version

    async def _save_loop(self) -> None:
        while True:
            self._wake = anyio.Event()
            if not self.dirty:
                await self._wake.wait()
            if not self._urgent:
                # Only counters changed: hold them, unless something urgent comes.
                self._wake = anyio.Event()
                self._holding = True
                try:
                    with anyio.move_on_after(USAGE_COALESCE_SECONDS):
                        await self._wake.wait()
                finally:
                    self._holding = False
            await anyio.sleep(SAVE_COALESCE_SECONDS)
            try:
                await self.flush()
            except OSError as exc:
                log.error("saving %s failed: %s; will retry on the next change", self.store.path, exc)

    async def _sweep_loop(self) -> None:
        while True:
            self.cookies.sweep()
            self.gemini.sweep()
            dues = [d for d in (self.cookies.next_reset(), self.gemini.next_reset()) if d is not None]
            due = min(dues) if dues else None
            delay = SWEEP_SECONDS if due is None else min(SWEEP_SECONDS, max(1.0, due - self.clock()))
            await anyio.sleep(delay)

    # -- background services ------------------------------------------------------

    def add_service(self, name: str, service: Service) -> None:
        """Register long-running background work; call before the app starts."""
        self._services.append((name, service))

    async def start(self, group: anyio.abc.TaskGroup) -> None:
        """Start every service in ``group`` (the lifespan task group)."""
        self.mode = "lifespan"
        self._group = group
        for name, service in self._services:
            group.start_soon(self._guarded, name, service)

    def ensure_started(self) -> None:
        """Start services as detached tasks if no lifespan event started them."""
        if self.mode is not None:
            return
        self.mode = "detached"
        import sniffio

        library = sniffio.current_async_library()
        for name, service in self._services:
            if library == "trio":
                import trio

                trio.lowlevel.spawn_system_task(self._guarded, name, service)
            else:
                import asyncio

                task = asyncio.get_running_loop().create_task(self._guarded(name, service))
                self._detached.add(task)
                task.add_done_callback(self._detached.discard)

    async def _guarded(self, name: str, service: Service) -> None:
        try:
            await service()
        except Exception:
            log.exception("background service %r stopped with an error", name)

    async def stop(self) -> None:
        """Stop services, save what changed, close upstream connections."""
        if self._group is not None:
            # We may be running inside that very group (the lifespan task is), so
            # what follows is shielded from the cancellation we just asked for.
            self._group.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            try:
                await self.flush()
            except OSError as exc:
                log.error("final save of %s failed: %s", self.store.path, exc)
            await self.http.aclose()
