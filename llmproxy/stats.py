"""Counters for the admin dashboard: requests served and in flight, errors, latency.

Updated once per request by the app (never per chunk), read by ``GET /api/status``.
Latency is kept as a histogram with fixed logarithmic buckets per route, so memory
stays constant however many requests pass and a percentile is a short walk over
the buckets (exact to within one bucket, about 19 %).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["Stats"]

_BUCKETS_PER_DOUBLING = 4
_SMALLEST = 1e-4  # 100 µs; anything faster lands in bucket 0
_BUCKETS = 4 * 24  # up to ~1700 s


def _bucket(seconds: float) -> int:
    if seconds <= _SMALLEST:
        return 0
    index = int(math.log2(seconds / _SMALLEST) * _BUCKETS_PER_DOUBLING) + 1
    return min(index, _BUCKETS - 1)


def _bucket_upper(index: int) -> float:
    return float(_SMALLEST * 2 ** (index / _BUCKETS_PER_DOUBLING))


class _Latency:
    __slots__ = ("count", "total", "slowest", "buckets")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.slowest = 0.0
        self.buckets = [0] * _BUCKETS

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        if seconds > self.slowest:
            self.slowest = seconds
        self.buckets[_bucket(seconds)] += 1

    def percentile(self, fraction: float) -> float:
        wanted = max(1, math.ceil(self.count * fraction))
        seen = 0
        for index, n in enumerate(self.buckets):
            seen += n
            if seen >= wanted:
                return min(_bucket_upper(index), self.slowest)
        return self.slowest

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean_ms": round(self.total / self.count * 1000, 3) if self.count else 0.0,
            "p50_ms": round(self.percentile(0.5) * 1000, 3),
            "p99_ms": round(self.percentile(0.99) * 1000, 3),
            "max_ms": round(self.slowest * 1000, 3),
        }


class Stats:
    """Process-wide request counters.

    Args:
        clock: Monotonic seconds, for uptime; injected so tests control it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started_at = clock()
        self.served = 0
        self.in_flight = 0
        self.errors: Counter[str] = Counter()
        self._routes: dict[str, _Latency] = {}

    def begin(self) -> None:
        """A request arrived."""
        self.in_flight += 1

    def end(self, route: str | None, seconds: float, error_kind: str | None) -> None:
        """A request finished (answered, failed or abandoned by its client)."""
        self.in_flight -= 1
        self.served += 1
        if error_kind is not None:
            self.errors[error_kind] += 1
        if route is not None:
            latency = self._routes.get(route)
            if latency is None:
                latency = self._routes[route] = _Latency()
            latency.add(seconds)

    @property
    def uptime(self) -> float:
        """Seconds since the app was created."""
        return self._clock() - self.started_at

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "uptime_seconds": round(self.uptime, 3),
            "requests": {"served": self.served, "in_flight": self.in_flight},
            "errors": dict(sorted(self.errors.items())),
            "routes": {name: latency.summary() for name, latency in sorted(self._routes.items())},
        }
