"""What a request learned about the credential it used, reported on its lease.

The I/O side (the retry loop) talks to the pool only through these values: it calls
upstream with a leased credential, turns the answer into an outcome (directly, or
with :func:`llmproxy.credentials.failures.classify_failure`), and reports it with
``lease.report(outcome)``. The pool decides what the outcome does to the credential.

=================  ==========================================================
``Succeeded``      the exchange worked; add its token usage to the record
``Exhausted``      rate-limited or restricted until a time: park it
``Retired``        dead for good (401, disabled, banned): move it to invalid
``Incapable``      cannot serve one route (free account on Claude Code): skip
                   it for that route only
``Learned``        facts without blame: account kind, routes allowed
``Updated``        a kind-specific change to the record (OAuth token stored)
=================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from llmproxy.credentials.capabilities import AccountKind
from llmproxy.credentials.reasons import Reason

__all__ = [
    "Exhausted",
    "Incapable",
    "Learned",
    "Outcome",
    "Retired",
    "Succeeded",
    "TokenUsage",
    "Updated",
]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens one exchange used; ``model`` decides the per-family buckets."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def from_anthropic(cls, model: str, usage: Any) -> TokenUsage:
        """From a Messages API ``usage`` object: every kind of input token counts as input."""
        if not isinstance(usage, Mapping):
            return cls(model)
        inputs = sum(
            v for k, v in usage.items()
            if k.endswith("input_tokens") and isinstance(v, int) and not isinstance(v, bool)
        )
        output = usage.get("output_tokens")
        return cls(model, inputs, output if isinstance(output, int) and not isinstance(output, bool) else 0)


@dataclass(frozen=True, slots=True)
class Succeeded:
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True)
class Exhausted:
    """Park until ``until`` (epoch seconds).

    ``reason`` is for the log only (ClewdR's file keeps just the time); it defaults to
    ``TooManyRequest(until)``.
    """

    until: float
    reason: Reason | None = None


@dataclass(frozen=True, slots=True)
class Retired:
    """Move to invalid with ``reason``; a timed reason parks instead (as ClewdR)."""

    reason: Reason


@dataclass(frozen=True, slots=True)
class Incapable:
    """Deny the credential one route; ``None`` means the route of the reporting lease."""

    route: str | None = None
    account: AccountKind | None = None


@dataclass(frozen=True, slots=True)
class Learned:
    account: AccountKind | None = None
    routes: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Updated(Generic[R]):
    """Replace the record with ``change(record)``; ``what`` names it in the log."""

    change: Callable[[R], R]
    what: str


Outcome = Succeeded | Exhausted | Retired | Incapable | Learned | Updated[R]
