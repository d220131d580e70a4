"""The sticky memo: which credential served a cached prompt prefix last time.

Anthropic's prompt cache is per account, so a request whose system prompt carries
``cache_control`` hits the cache only on the account that saw the prefix before.
ClewdR (§5.3, §6.5) remembers *prefix hash → cookie*; so does this.

The keys come from client requests, so the memo is bounded (an attacker could send
endless distinct prompts): at most ``capacity`` keys, the least recently used one
evicted first, and a key unused for ``idle_seconds`` forgotten.

Because each use moves a key to the back, the keys are kept in order of last use;
the idle ones are always a prefix of that order, so expiry pops from the front and
costs nothing for the keys still alive. The clock is a ``now`` argument.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["StickyMemo"]


class StickyMemo:
    """A bounded, idle-expiring LRU map from a prefix key to a credential key."""

    def __init__(self, *, capacity: int = 1000, idle_seconds: float = 3600.0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.idle_seconds = idle_seconds
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str, now: float) -> str | None:
        """The remembered credential for ``key``, refreshing its use; ``None`` if none."""
        self.expire(now)
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries[key] = (found[0], now)
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: str, credential: str, now: float) -> None:
        """Remember ``credential`` for ``key``, evicting the least recently used."""
        self.expire(now)
        self._entries[key] = (credential, now)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def expire(self, now: float) -> int:
        """Forget keys idle for ``idle_seconds`` or more; returns how many."""
        dropped = 0
        while self._entries:
            _, (_, last_used) = next(iter(self._entries.items()))
            if now - last_used < self.idle_seconds:
                break
            self._entries.popitem(last=False)
            dropped += 1
        return dropped
