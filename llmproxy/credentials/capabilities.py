"""What a credential can do, as learned from the upstream.

ClewdR retires a free account for good when it reaches the Claude Code route (its
bootstrap check answers ``Free``), although the same cookie still works on the
claude.ai web route. Here a credential instead carries what we learned about it:

- the account kind (free, pro, max; unknown until someone looks), and
- per route name (``"code"``, ``"web"``, …): allowed, denied, or not known yet.

The pool skips a credential for a route it is denied on and keeps using it for the
others. Nothing known means allowed: a credential is tried before it is judged.

These facts are persisted beside ClewdR's tables (see :mod:`.claude_cookies`), never
inside ClewdR's own entries.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["AccountKind", "Capabilities", "account_kind_from_capabilities"]


class AccountKind(enum.Enum):
    """The subscription behind a credential; the value is what the file stores."""

    UNKNOWN = "unknown"
    FREE = "free"
    PRO = "pro"
    MAX = "max"


def account_kind_from_capabilities(capabilities: Iterable[str]) -> AccountKind:
    """Classify an organisation by its claude.ai capability strings.

    The rule both ClewdR (§6.1) and Clove (§5) use: a capability containing ``max`` is a
    Max plan; one containing ``pro``, ``enterprise`` or ``raven`` (Team) is Pro-like;
    otherwise the account is free. Matching is by case-insensitive substring.
    """
    lowered = [c.lower() for c in capabilities]
    if any("max" in c for c in lowered):
        return AccountKind.MAX
    if any(word in c for c in lowered for word in ("pro", "enterprise", "raven")):
        return AccountKind.PRO
    return AccountKind.FREE


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Learned facts about one credential. Immutable; change with :meth:`learned`.

    Attributes:
        account: The account kind, ``UNKNOWN`` until learned.
        routes: Route name → allowed. A route not listed is allowed (not judged yet).
        extra: Fields of the stored entry this version does not know; written back.
    """

    account: AccountKind = AccountKind.UNKNOWN
    routes: Mapping[str, bool] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def allows(self, route: str) -> bool:
        """Whether the pool may hand this credential out for ``route``."""
        return self.routes.get(route, True)

    @property
    def denied_routes(self) -> frozenset[str]:
        return frozenset(route for route, allowed in self.routes.items() if not allowed)

    @property
    def is_empty(self) -> bool:
        """Nothing learned and nothing to write back."""
        return self.account is AccountKind.UNKNOWN and not self.routes and not self.extra

    def learned(
        self,
        *,
        account: AccountKind | None = None,
        routes: Mapping[str, bool] | None = None,
    ) -> Capabilities:
        """A copy with ``account`` replaced (if given) and ``routes`` merged in."""
        merged = {**self.routes, **(routes or {})}
        return replace(self, account=account or self.account, routes=merged)
