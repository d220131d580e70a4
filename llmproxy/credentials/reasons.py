"""Why a credential is out of rotation, in ClewdR's vocabulary and file format.

ClewdR writes a reason into ``clewdr.toml`` with serde's default (external) enum
tagging, so a unit variant is a bare string and a variant with a timestamp is a
one-key table::

    reason = "Free"
    reason = { Restricted = 1785087657 }
    reason = { TooManyRequest = 1785087657 }

Both programs must read each other's files, so :meth:`Reason.to_serde` and
:meth:`Reason.from_serde` speak exactly that, and :meth:`Reason.__str__` gives
ClewdR's display strings (the admin page and the logs show them).

Two additions ClewdR does not have, both so that no cookie is ever lost on load:

- ``NonPro`` (ClewdR before v0.9) is read as ``Free``, which replaced it;
- any other value (a reason added by a future ClewdR) is kept as ``UNKNOWN`` with the
  raw value, and written back unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

__all__ = ["Reason", "ReasonKind", "format_utc"]


class ReasonKind(enum.Enum):
    """The variants; each value is ClewdR's serde name for it."""

    NORMAL_PRO = "NormalPro"
    FREE = "Free"
    DISABLED = "Disabled"
    BANNED = "Banned"
    NULL = "Null"
    RESTRICTED = "Restricted"
    TOO_MANY_REQUEST = "TooManyRequest"
    UNKNOWN = "Unknown"


_TIMED = frozenset({ReasonKind.RESTRICTED, ReasonKind.TOO_MANY_REQUEST})
_LEGACY_NAMES = {"NonPro": ReasonKind.FREE}
_DISPLAY = {
    ReasonKind.NORMAL_PRO: "Normal Pro account",
    ReasonKind.FREE: "Free account",
    ReasonKind.DISABLED: "Organization Disabled",
    ReasonKind.BANNED: "Banned",
    ReasonKind.NULL: "Null",
    ReasonKind.RESTRICTED: "Restricted/Warning: until {}",
    ReasonKind.TOO_MANY_REQUEST: "429 Too many request: until {}",
}


def format_utc(epoch_seconds: float) -> str:
    """``UTC YYYY-MM-DD HH:MM:SS``, ClewdR's way of showing a reset time."""
    try:
        when = datetime.fromtimestamp(int(epoch_seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return "Invalid date"
    return when.strftime("UTC %Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason. Build the timed ones with :meth:`restricted` / :meth:`too_many_requests`.

    Attributes:
        kind: The variant.
        until: Epoch seconds, for ``Restricted`` and ``TooManyRequest`` only.
        raw: The original serde value of an ``UNKNOWN`` reason, written back as is.
    """

    kind: ReasonKind
    until: int | None = None
    raw: Any = None

    # The untimed reasons, one shared instance each (assigned below the class).
    NORMAL_PRO: ClassVar[Reason]
    FREE: ClassVar[Reason]
    DISABLED: ClassVar[Reason]
    BANNED: ClassVar[Reason]
    NULL: ClassVar[Reason]

    def __post_init__(self) -> None:
        if (self.kind in _TIMED) != (self.until is not None):
            need = "needs" if self.kind in _TIMED else "takes no"
            raise ValueError(f"reason {self.kind.value} {need} time")

    @classmethod
    def restricted(cls, until: int) -> Reason:
        return cls(ReasonKind.RESTRICTED, until)

    @classmethod
    def too_many_requests(cls, until: int) -> Reason:
        return cls(ReasonKind.TOO_MANY_REQUEST, until)

    @property
    def is_timed(self) -> bool:
        """True for the reasons that park a credential until a time instead of retiring it."""
        return self.kind in _TIMED

    def to_serde(self) -> str | dict[str, int] | Any:
        """The value ClewdR's serde writes: ``"Free"`` or ``{"Restricted": ts}``."""
        if self.kind is ReasonKind.UNKNOWN:
            return self.raw
        if self.until is not None:
            return {self.kind.value: self.until}
        return self.kind.value

    @classmethod
    def from_serde(cls, value: Any) -> Reason:
        """Read a reason as ClewdR wrote it; anything unrecognised becomes ``UNKNOWN``."""
        if isinstance(value, str):
            if value in _LEGACY_NAMES:
                return cls(_LEGACY_NAMES[value])
            for kind in ReasonKind:
                if kind.value == value and kind not in _TIMED and kind is not ReasonKind.UNKNOWN:
                    return cls(kind)
        elif isinstance(value, dict) and len(value) == 1:
            ((name, ts),) = value.items()
            if isinstance(ts, int) and not isinstance(ts, bool):
                for kind in _TIMED:
                    if kind.value == name:
                        return cls(kind, ts)
        return cls(ReasonKind.UNKNOWN, raw=value)

    def __str__(self) -> str:
        if self.kind is ReasonKind.UNKNOWN:
            return f"Unknown reason: {self.raw!r}"
        text = _DISPLAY[self.kind]
        return text.format(format_utc(self.until)) if self.until is not None else text


Reason.NORMAL_PRO = Reason(ReasonKind.NORMAL_PRO)
Reason.FREE = Reason(ReasonKind.FREE)
Reason.DISABLED = Reason(ReasonKind.DISABLED)
Reason.BANNED = Reason(ReasonKind.BANNED)
Reason.NULL = Reason(ReasonKind.NULL)
