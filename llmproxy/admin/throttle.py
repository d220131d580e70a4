"""Slow down guessing of the admin password, one client address at a time.

The admin password guards every cookie and the settings, and the page is often
exposed beyond localhost (a VPS, a phone on a LAN). Constant-time comparison stops
timing attacks; this stops brute force.

Policy, per client address:

- the first :data:`FREE_FAILURES` wrong passwords cost nothing (typos happen);
- every further failure locks the address out for twice as long as the one before
  (1 s, 2 s, 4 s, ... up to :data:`MAX_LOCK_SECONDS`);
- while locked out, *every* admin request from the address is refused with 429 and
  ``Retry-After``, even one with the right password. Answering a right guess during
  the lock would let an attacker keep guessing at full speed and just read 200 vs 429;
- an address with no failure for :data:`FORGET_AFTER_SECONDS` starts over. A success
  does not reset the count: on a shared address (a NAT, a reverse proxy) a legitimate
  page polling every few seconds would otherwise hand an attacker fresh free guesses.

Memory is bounded: at most :data:`MAX_ADDRESSES` addresses are remembered, the one
quiet longest is forgotten first. The throttle is sans-IO: the caller passes ``now``
(epoch seconds from the proxy's injectable clock) and decides how to answer.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FORGET_AFTER_SECONDS",
    "FREE_FAILURES",
    "MAX_ADDRESSES",
    "MAX_LOCK_SECONDS",
    "LoginThrottle",
    "throttle_for",
]

FREE_FAILURES = 5
MAX_LOCK_SECONDS = 900.0
FORGET_AFTER_SECONDS = 3600.0
MAX_ADDRESSES = 10_000


@dataclass(slots=True)
class _Record:
    failures: int
    last_failure: float
    locked_until: float


class LoginThrottle:
    """Counts wrong admin passwords per address and says how long to refuse it.

    Args:
        free_failures: Failures allowed before any lock.
        max_lock_seconds: The longest lock.
        forget_after_seconds: Quiet time after which an address starts over.
        max_addresses: How many addresses to remember at most.
    """

    def __init__(
        self,
        *,
        free_failures: int = FREE_FAILURES,
        max_lock_seconds: float = MAX_LOCK_SECONDS,
        forget_after_seconds: float = FORGET_AFTER_SECONDS,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.free_failures = free_failures
        self.max_lock_seconds = max_lock_seconds
        self.forget_after_seconds = forget_after_seconds
        self.max_addresses = max_addresses
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def retry_after(self, address: str, now: float) -> float:
        """Seconds ``address`` must still wait; 0 when it may try now."""
        record = self._current(address, now)
        if record is None:
            return 0.0
        return max(0.0, record.locked_until - now)

    def failed(self, address: str, now: float) -> float:
        """Count one wrong password; returns the lock it earned (0 for a free one)."""
        record = self._current(address, now)
        if record is None:
            record = _Record(failures=0, last_failure=now, locked_until=0.0)
        record.failures += 1
        record.last_failure = now
        over = record.failures - self.free_failures
        lock = 0.0 if over <= 0 else min(self.max_lock_seconds, 2.0 ** (over - 1))
        record.locked_until = max(record.locked_until, now + lock)
        self._records[address] = record
        self._records.move_to_end(address)
        while len(self._records) > self.max_addresses:
            self._records.popitem(last=False)
        return lock

    def failures(self, address: str, now: float) -> int:
        """Failures counted for ``address`` (after forgetting stale ones)."""
        record = self._current(address, now)
        return 0 if record is None else record.failures

    def _current(self, address: str, now: float) -> _Record | None:
        record = self._records.get(address)
        if record is None:
            return None
        quiet_since = max(record.last_failure, record.locked_until)
        if now - quiet_since >= self.forget_after_seconds:
            del self._records[address]
            return None
        return record


# One throttle per running proxy, without a field on the Proxy class: the admin
# check is the only user, and a weak key lets an app that is dropped take its
# throttle with it (tests build hundreds of apps).
_THROTTLES: weakref.WeakKeyDictionary[Any, LoginThrottle] = weakref.WeakKeyDictionary()


def throttle_for(owner: Any, factory: Callable[[], LoginThrottle] = LoginThrottle) -> LoginThrottle:
    """The throttle of ``owner`` (the :class:`~llmproxy.proxy.Proxy`), made on first use."""
    throttle = _THROTTLES.get(owner)
    if throttle is None:
        throttle = _THROTTLES[owner] = factory()
    return throttle
