"""What the pool needs to know about a kind of credential, and nothing more.

The pool is the same for a Claude session cookie today and a Gemini API key later.
What differs between kinds is gathered in two protocols:

- :class:`PoolRecord`: the stored record (a ClewdR cookie entry, a key entry). The
  pool needs its key and reset time, and asks it for changed copies when it is
  parked, unparked, used, or when time passes. Records are immutable.
- :class:`CredentialKind`: the kind itself, how its text is parsed and masked, how a
  new record looks, and how the records go in and out of the config document (for
  cookies: ClewdR's ``cookie_array`` / ``wasted_cookie`` tables).

Which upstream failures are a credential's fault also differs by kind; that lives
in a separate table per upstream (``failures.py`` for Anthropic), used by the retry
loop, not by the pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, Self, TypeVar

from llmproxy.credentials.capabilities import Capabilities
from llmproxy.credentials.outcomes import TokenUsage
from llmproxy.credentials.reasons import Reason
from llmproxy.credentials.states import State

__all__ = ["CredentialKind", "Loaded", "PoolRecord", "StoredCredential"]


class PoolRecord(Protocol):
    """A credential's stored record, as far as the pool is concerned."""

    @property
    def key(self) -> str:
        """The credential's identity: equal keys are the same credential."""
        ...

    @property
    def reset_time(self) -> float | None:
        """Epoch seconds until which it is parked, or ``None``."""
        ...

    def parked(self, until: float) -> Self:
        """A copy parked until ``until`` (window usage cleared where the kind has it)."""
        ...

    def unparked(self) -> Self:
        """A copy with the reset time (and window usage) cleared."""
        ...

    def with_usage(self, usage: TokenUsage) -> Self:
        """A copy with one successful exchange's usage counted."""
        ...

    def refreshed(self, now: float) -> Self:
        """A copy with time-based upkeep applied, or ``self`` if nothing is due."""
        ...


R = TypeVar("R", bound=PoolRecord)


@dataclass(frozen=True, slots=True)
class StoredCredential(Generic[R]):
    """One credential as persisted: record, state, reason and learned capabilities.

    ``reason`` is set for ``INVALID`` (why it was retired); for ``EXHAUSTED`` the time
    is the record's ``reset_time``.
    """

    record: R
    state: State
    reason: Reason | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[R]):
    """The result of reading a config document: credentials, and what was wrong."""

    credentials: tuple[StoredCredential[R], ...]
    warnings: tuple[str, ...] = ()


class CredentialKind(Protocol[R]):
    """A kind of credential: parsing, masking, new records, and the file format."""

    name: str

    def parse_key(self, text: str) -> str:
        """The stored key for user-supplied text; raises ``ValueError`` if it is none."""
        ...

    def mask(self, key: str) -> str:
        """A log-safe form of ``key``."""
        ...

    def new_record(self, key: str) -> R:
        """A fresh record for a newly added key."""
        ...

    def load(self, document: Mapping[str, Any], *, now: float) -> Loaded[R]:
        """Read this kind's tables from the parsed config document."""
        ...

    def dump(self, credentials: Iterable[StoredCredential[R]]) -> dict[str, Any]:
        """This kind's tables, as plain dicts/lists for the config writer."""
        ...
