"""The per-cookie record: one ``[[cookie_array]]`` entry of ClewdR's ``clewdr.toml``.

A user who switches from ClewdR brings a file full of these, with OAuth tokens and
usage counters in them, and may switch back. So the record holds every field ClewdR
v0.13 writes (clewdr-behaviour.md §5.2, §6.3), reads them leniently and writes them
back in ClewdR's shape:

- ``Option`` fields that are ``None`` are left out, as ClewdR's TOML serialiser does;
  the five usage buckets are always written (they are not optional in ClewdR);
- fields this version does not know, in the entry or in its token, are kept in
  ``extra`` and written back, so a newer ClewdR's data survives a visit here;
- a malformed field is dropped with a warning and the cookie kept. ClewdR drops the
  whole entry instead, losing the cookie; only an entry without a usable cookie is
  dropped here.

Records are immutable. The pool replaces a record with a changed copy, so a lease
can hand out ``lease.record`` without anyone mutating it behind the pool's back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from llmproxy.credentials.cookie import mask, parse_cookie
from llmproxy.credentials.errors import CookieFormatError
from llmproxy.credentials.outcomes import TokenUsage

__all__ = [
    "WINDOWS",
    "CookieRecord",
    "OAuthToken",
    "UsageBucket",
    "entry_from_record",
    "record_from_entry",
]

# TOML integers are signed 64-bit; ClewdR's u64 counters saturate, ours stop here so
# the file stays writable (ClewdR's serialiser would fail above it too).
_COUNTER_MAX = 2**63 - 1
_HOUR = 3600
_WEEK = 7 * 24 * _HOUR

# The usage windows: name, and how long a window lasts once its boundary has passed
# (§5.5). The lifetime bucket is not a window and is never cleared.
WINDOWS: tuple[tuple[str, int], ...] = (
    ("session", 5 * _HOUR),
    ("weekly", _WEEK),
    ("weekly_sonnet", _WEEK),
    ("weekly_opus", _WEEK),
)
# Windows the OAuth usage endpoint reports, by the name it uses (§5.6).
_PROBED = {"session": "five_hour", "weekly": "seven_day", "weekly_sonnet": "seven_day_sonnet"}


class _Reader:
    """Typed access to one raw TOML table that records problems instead of raising."""

    def __init__(self, raw: Mapping[str, Any], where: str, warnings: list[str]) -> None:
        self.raw = raw
        self.where = where
        self.warnings = warnings

    def _bad(self, name: str, expected: str) -> None:
        self.warnings.append(
            f"{self.where}: field {name!r} is not {expected}"
            f" ({type(self.raw[name]).__name__}); ignored"
        )

    def get_int(self, name: str, *, minimum: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if minimum is None or value >= minimum:
                return value
        self._bad(name, "an integer" if minimum is None else f"an integer ≥ {minimum}")
        return None

    def get_float(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
        self._bad(name, "a number")
        return None

    def get_bool(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if value is None or isinstance(value, bool):
            return value
        self._bad(name, "a boolean")
        return None

    def get_str(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or isinstance(value, str):
            return value
        self._bad(name, "a string")
        return None

    def get_table(self, name: str) -> Mapping[str, Any] | None:
        value = self.raw.get(name)
        if value is None or isinstance(value, Mapping):
            return value
        self._bad(name, "a table")
        return None

    def unknown(self, known: frozenset[str]) -> dict[str, Any]:
        return {k: v for k, v in self.raw.items() if k not in known}


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """Six token counters of one window (ClewdR's ``UsageBreakdown``)."""

    total_input_tokens: int = 0
    total_output_tokens: int = 0
    sonnet_input_tokens: int = 0
    sonnet_output_tokens: int = 0
    opus_input_tokens: int = 0
    opus_output_tokens: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=True)

    def plus(self, family: str, input_tokens: int, output_tokens: int) -> UsageBucket:
        """Add to the totals and, for ``"sonnet"``/``"opus"``, that family's counters."""

        def add(a: int, b: int) -> int:
            return min(_COUNTER_MAX, a + max(0, b))

        changes: dict[str, Any] = {
            "total_input_tokens": add(self.total_input_tokens, input_tokens),
            "total_output_tokens": add(self.total_output_tokens, output_tokens),
        }
        if family in ("sonnet", "opus"):
            for direction, amount in (("input", input_tokens), ("output", output_tokens)):
                name = f"{family}_{direction}_tokens"
                changes[name] = add(getattr(self, name), amount)
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in _COUNTER_FIELDS}
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str, warnings: list[str]) -> UsageBucket:
        reader = _Reader(raw, where, warnings)
        counters = {f.name: reader.get_int(f.name, minimum=0) or 0 for f in _COUNTER_FIELDS}
        return cls(**counters, extra=reader.unknown(_COUNTER_NAMES))


_COUNTER_FIELDS = tuple(f for f in fields(UsageBucket) if f.name != "extra")
_COUNTER_NAMES = frozenset(f.name for f in _COUNTER_FIELDS)
EMPTY_BUCKET = UsageBucket()


@dataclass(frozen=True, slots=True)
class OAuthToken:
    """A Claude Code OAuth token as ClewdR stores it on the cookie (§6.3).

    In the file: ``token = {access_token, expires_in, organization = {uuid},
    refresh_token, expires_at}`` with ``expires_in`` integer seconds and
    ``expires_at`` fractional epoch seconds.
    """

    access_token: str
    expires_in: int
    organization_uuid: str
    refresh_token: str
    expires_at: float
    extra: Mapping[str, Any] = field(default_factory=dict)
    organization_extra: Mapping[str, Any] = field(default_factory=dict)

    # ClewdR refreshes five minutes early so a token never lapses mid-request.
    REFRESH_MARGIN = 300.0

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at - self.REFRESH_MARGIN

    @classmethod
    def from_token_response(
        cls, body: Mapping[str, Any], organization_uuid: str, now: float
    ) -> OAuthToken:
        """Build from a 200 answer of ``/v1/oauth/token`` (code or refresh grant).

        A missing ``expires_in`` counts as 0 (refresh next time) and a missing
        ``refresh_token`` as ``""``, as ClewdR does.

        Raises:
            ValueError: ``access_token`` is missing or not a string.
        """
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("token response has no access_token")
        expires_in = body.get("expires_in")
        seconds = int(expires_in) if isinstance(expires_in, int | float) else 0
        refresh = body.get("refresh_token")
        return cls(
            access_token=access,
            expires_in=max(0, seconds),
            organization_uuid=organization_uuid,
            refresh_token=refresh if isinstance(refresh, str) else "",
            expires_at=now + max(0, seconds),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "organization": {"uuid": self.organization_uuid, **self.organization_extra},
            "refresh_token": self.refresh_token,
            "expires_at": float(self.expires_at),
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], where: str, warnings: list[str]
    ) -> OAuthToken | None:
        reader = _Reader(raw, where, warnings)
        access = reader.get_str("access_token")
        expires_in = reader.get_int("expires_in", minimum=0)
        refresh = reader.get_str("refresh_token")
        expires_at = reader.get_float("expires_at")
        organization = reader.get_table("organization")
        uuid = None
        if organization is not None:
            uuid = _Reader(organization, where + ".organization", warnings).get_str("uuid")
        if access is None or expires_in is None or refresh is None or expires_at is None:
            warnings.append(f"{where}: incomplete, dropped (the cookie will log in again)")
            return None
        if uuid is None or organization is None:
            warnings.append(f"{where}: no organization uuid, dropped")
            return None
        return cls(
            access_token=access,
            expires_in=expires_in,
            organization_uuid=uuid,
            refresh_token=refresh,
            expires_at=expires_at,
            extra=reader.unknown(_TOKEN_KNOWN),
            organization_extra={k: v for k, v in organization.items() if k != "uuid"},
        )


_TOKEN_KNOWN = frozenset(
    {"access_token", "expires_in", "organization", "refresh_token", "expires_at"}
)


def _model_family(model: str) -> str:
    lowered = model.lower()
    if "opus" in lowered:
        return "opus"
    if "sonnet" in lowered:
        return "sonnet"
    return "other"


@dataclass(frozen=True, slots=True)
class CookieRecord:
    """Everything ClewdR stores for one cookie, plus fields it may add later.

    The field order is the order ClewdR writes them in.
    """

    cookie: str
    token: OAuthToken | None = None
    reset_time: int | None = None
    count_tokens_allowed: bool | None = None
    session_usage: UsageBucket = EMPTY_BUCKET
    weekly_usage: UsageBucket = EMPTY_BUCKET
    weekly_sonnet_usage: UsageBucket = EMPTY_BUCKET
    weekly_opus_usage: UsageBucket = EMPTY_BUCKET
    lifetime_usage: UsageBucket = EMPTY_BUCKET
    session_resets_at: int | None = None
    weekly_resets_at: int | None = None
    weekly_sonnet_resets_at: int | None = None
    weekly_opus_resets_at: int | None = None
    resets_last_checked_at: int | None = None
    session_has_reset: bool | None = None
    weekly_has_reset: bool | None = None
    weekly_sonnet_has_reset: bool | None = None
    weekly_opus_has_reset: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    # --- the pool's view (llmproxy.credentials.kinds.PoolRecord) --------------------

    @property
    def key(self) -> str:
        return self.cookie

    def parked(self, until: float) -> CookieRecord:
        """Exhausted until ``until``: window usage cleared, as ClewdR does on parking."""
        return replace(self._windows_cleared(), reset_time=math.ceil(until))

    def unparked(self) -> CookieRecord:
        """Back to valid: reset time and window usage cleared (ClewdR ``reset()``)."""
        return replace(self._windows_cleared(), reset_time=None)

    def with_usage(self, usage: TokenUsage) -> CookieRecord:
        """Add one exchange's tokens to the buckets (§5.6).

        session, weekly and lifetime always count; weekly_sonnet / weekly_opus only
        for a model whose name contains ``sonnet`` / ``opus``.
        """
        if usage.input_tokens <= 0 and usage.output_tokens <= 0:
            return self
        family = _model_family(usage.model)
        n_in, n_out = usage.input_tokens, usage.output_tokens
        changes: dict[str, Any] = {
            "session_usage": self.session_usage.plus(family, n_in, n_out),
            "weekly_usage": self.weekly_usage.plus(family, n_in, n_out),
            "lifetime_usage": self.lifetime_usage.plus(family, n_in, n_out),
        }
        if family == "sonnet":
            changes["weekly_sonnet_usage"] = self.weekly_sonnet_usage.plus(family, n_in, n_out)
        elif family == "opus":
            changes["weekly_opus_usage"] = self.weekly_opus_usage.plus(family, n_in, n_out)
        return replace(self, **changes)

    def refreshed(self, now: float) -> CookieRecord:
        """Roll over tracked windows whose boundary has passed (§5.5).

        A window with ``*_has_reset = true`` and a boundary at or before ``now`` gets
        its bucket cleared and the next boundary set one window length from now.
        Returns ``self`` when nothing is due, so callers can test ``is``.
        """
        changes: dict[str, Any] = {}
        for name, length in WINDOWS:
            boundary = getattr(self, f"{name}_resets_at")
            if getattr(self, f"{name}_has_reset") and boundary is not None and boundary <= now:
                changes[f"{name}_usage"] = EMPTY_BUCKET
                changes[f"{name}_resets_at"] = int(now) + length
        return replace(self, **changes) if changes else self

    # --- Claude-specific updates --------------------------------------------------

    def with_token(self, token: OAuthToken | None) -> CookieRecord:
        return replace(self, token=token)

    def with_count_tokens_allowed(self, allowed: bool | None) -> CookieRecord:
        return replace(self, count_tokens_allowed=allowed)

    def needs_window_probe(self, now: float) -> bool:
        """Whether to ask the OAuth usage endpoint before adding usage (§5.6)."""
        for name in _PROBED:
            has_reset = getattr(self, f"{name}_has_reset")
            if has_reset is None:
                return True
            boundary = getattr(self, f"{name}_resets_at")
            if has_reset and (boundary is None or boundary <= now):
                return True
        return False

    def with_probed_windows(self, report: Mapping[str, Any] | None, now: float) -> CookieRecord:
        """Apply an OAuth usage answer (``{five_hour: {resets_at}, …}``) or its failure.

        With a report: each probed window is tracked iff the report gives it a
        ``resets_at``; its boundary becomes that time, and a bucket whose old boundary
        has passed is cleared. With ``None`` (the probe failed): due tracked buckets
        are cleared and their boundary set one window length from now.
        """
        lengths = dict(WINDOWS)
        changes: dict[str, Any] = {"resets_last_checked_at": int(now)}
        for name, wire_name in _PROBED.items():
            old = getattr(self, f"{name}_resets_at")
            due = old is not None and old <= now
            if report is None:
                if getattr(self, f"{name}_has_reset") and (old is None or due):
                    changes[f"{name}_usage"] = EMPTY_BUCKET
                    changes[f"{name}_resets_at"] = int(now) + lengths[name]
                continue
            window = report.get(wire_name)
            resets_at = _epoch(window.get("resets_at")) if isinstance(window, Mapping) else None
            changes[f"{name}_has_reset"] = resets_at is not None
            if resets_at is not None:
                changes[f"{name}_resets_at"] = resets_at
            if due:
                changes[f"{name}_usage"] = EMPTY_BUCKET
        return replace(self, **changes)

    def _windows_cleared(self) -> CookieRecord:
        cleared: dict[str, Any] = {f"{name}_usage": EMPTY_BUCKET for name, _ in WINDOWS}
        return replace(self, **cleared)


def _epoch(value: Any) -> int | None:
    """Epoch seconds from an RFC 3339 string or a number; ``None`` if neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


_BUCKETS = tuple(f"{name}_usage" for name, _ in WINDOWS) + ("lifetime_usage",)
_OPTIONAL_INTS = (
    "session_resets_at",
    "weekly_resets_at",
    "weekly_sonnet_resets_at",
    "weekly_opus_resets_at",
    "resets_last_checked_at",
)
_OPTIONAL_BOOLS = (
    "count_tokens_allowed",
    "session_has_reset",
    "weekly_has_reset",
    "weekly_sonnet_has_reset",
    "weekly_opus_has_reset",
)
_ENTRY_KNOWN = frozenset(f.name for f in fields(CookieRecord)) - {"extra"}


def record_from_entry(raw: Any, where: str, warnings: list[str]) -> CookieRecord | None:
    """Read one ``cookie_array`` entry; ``None`` (with a warning) if it has no cookie.

    Args:
        raw: The entry as ``tomllib`` (or ``json``) produced it.
        where: How to name the entry in warnings, e.g. ``"cookie_array[3]"``.
        warnings: Problems are appended here, with cookies masked.
    """
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: not a table; dropped")
        return None
    text = raw.get("cookie")
    if not isinstance(text, str):
        warnings.append(f"{where}: no cookie string; dropped")
        return None
    try:
        cookie = parse_cookie(text)
    except CookieFormatError as exc:
        warnings.append(f"{where}: {exc}; dropped")
        return None
    where = f"{where} ({mask(cookie)})"
    reader = _Reader(raw, where, warnings)
    values: dict[str, Any] = {"cookie": cookie}
    token = reader.get_table("token")
    if token is not None:
        values["token"] = OAuthToken.from_dict(token, where + ".token", warnings)
    values["reset_time"] = reader.get_int("reset_time")
    for name in _OPTIONAL_BOOLS:
        values[name] = reader.get_bool(name)
    for name in _OPTIONAL_INTS:
        values[name] = reader.get_int(name)
    for name in _BUCKETS:
        bucket = reader.get_table(name)
        if bucket is not None:
            values[name] = UsageBucket.from_dict(bucket, f"{where}.{name}", warnings)
    return CookieRecord(**values, extra=reader.unknown(_ENTRY_KNOWN))


def entry_from_record(record: CookieRecord) -> dict[str, Any]:
    """The ``cookie_array`` entry ClewdR would write for ``record``, plus kept extras."""
    out: dict[str, Any] = {"cookie": record.cookie}
    for f in fields(CookieRecord):
        if f.name in ("cookie", "extra"):
            continue
        value = getattr(record, f.name)
        if value is None:
            continue  # ClewdR's TOML serialiser omits None options
        if isinstance(value, UsageBucket | OAuthToken):
            value = value.to_dict()
        out[f.name] = value
    out.update(record.extra)
    return out
