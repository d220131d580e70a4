"""Gemini AI Studio API keys as a pool credential kind, and ``gemini_keys`` in clewdr.toml.

ClewdR 0.11 stored each key as ``{key = "AIza…", count_403 = 0}`` (clewdr-behaviour.md
§7.4). We read that, plain strings too, and write it back with two optional fields
of our own, which ClewdR ignores (its key struct takes unknown fields silently):

``reset_time``  epoch seconds until which a rate-limited key cools down
``invalid``     why the key was taken out of rotation (the upstream's words)

Keys in the file are read leniently: an entry that is not a key we recognise is
kept, unused, and written back unchanged, because the file is the user's. Keys
added through the admin API are checked strictly (:func:`parse_key`).

This module imports no I/O library; the clock arrives as ``now``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

from ..credentials.kinds import Loaded, StoredCredential
from ..credentials.outcomes import TokenUsage, Updated
from ..credentials.reasons import Reason, ReasonKind
from ..credentials.states import State

__all__ = [
    "GEMINI_KEYS",
    "GeminiKeys",
    "KeyRecord",
    "TextReason",
    "count_403",
    "key_id",
    "mask_key",
    "parse_key",
]

GEMINI_KEYS = "gemini_keys"
# Google API keys: "AIza" and 35 more characters. ClewdR insisted on "AIzaSy";
# every Gemini key seen so far has it, but the shorter prefix is Google's own rule.
_KEY = re.compile(r"AIza[0-9A-Za-z_-]{35}")
# Loading is lenient: any token without blanks or quotes is kept as a key.
_LOOSE_KEY = re.compile(r"[^\s\"']{8,200}")


@dataclass(frozen=True, slots=True)
class TextReason(Reason):
    """A reason in the upstream's own words (``API key not valid…``).

    It is ClewdR's ``Reason`` with kind ``UNKNOWN`` underneath, so the pool treats
    it like any other retirement; only its text differs.
    """

    def __str__(self) -> str:
        return str(self.raw)

    @classmethod
    def of(cls, text: str) -> TextReason:
        return cls(ReasonKind.UNKNOWN, raw=text)


def parse_key(text: str) -> str:
    """The key in user-supplied text, checked strictly.

    Raises:
        ValueError: it does not look like a Google API key.
    """
    key = text.strip().strip("\"'").strip()
    if not _KEY.fullmatch(key):
        raise ValueError(
            "not a Gemini API key (expected 'AIza' followed by 35 letters, digits, '-' or '_')"
        )
    return key


def mask_key(key: str) -> str:
    """``AIzaSyAB12…wxyz``: enough to tell keys apart, not enough to use one."""
    if len(key) < 20:
        return key[: len(key) // 4] + "…"
    return f"{key[:10]}…{key[-4:]}"


def key_id(key: str) -> str:
    """A short, stable, non-secret id for a key (first 12 hex digits of its SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One ``gemini_keys`` entry (see the module docstring)."""

    key: str
    count_403: int = 0
    reset_time: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def parked(self, until: float) -> Self:
        return replace(self, reset_time=until)

    def unparked(self) -> Self:
        return replace(self, reset_time=None)

    def with_usage(self, usage: TokenUsage) -> Self:
        return self  # keys carry no usage windows

    def refreshed(self, now: float) -> Self:
        return self

    def with_403(self) -> Self:
        return replace(self, count_403=self.count_403 + 1)


def count_403() -> Updated[KeyRecord]:
    """The update a route reports when a key answered 403 (ClewdR's counter)."""
    return Updated(lambda record: record.with_403(), "answered 403")


class GeminiKeys:
    """The :class:`~llmproxy.credentials.kinds.CredentialKind` of AI Studio keys."""

    name = "gemini key"

    def __init__(self) -> None:
        self.unusable: list[Any] = []
        """Entries of the file that are not keys, written back untouched."""

    def parse_key(self, text: str) -> str:
        return parse_key(text)

    def mask(self, key: str) -> str:
        return mask_key(key)

    def new_record(self, key: str) -> KeyRecord:
        return KeyRecord(key)

    def load(self, document: Mapping[str, Any], *, now: float) -> Loaded[KeyRecord]:
        """Read ``gemini_keys``; a key whose ``reset_time`` has passed starts valid."""
        warnings: list[str] = []
        found: dict[str, StoredCredential[KeyRecord]] = {}
        self.unusable = []
        value = document.get(GEMINI_KEYS) or ()
        if not isinstance(value, list | tuple):
            warnings.append(f"{GEMINI_KEYS} is not an array; ignored")
            value = ()
        for index, raw in enumerate(value):
            where = f"{GEMINI_KEYS}[{index}]"
            stored = _stored_from_entry(raw, where, now, warnings)
            if stored is None:
                self.unusable.append(raw)
            elif stored.record.key in found:
                warnings.append(f"{where}: {mask_key(stored.record.key)} listed twice; first kept")
            else:
                found[stored.record.key] = stored
        return Loaded(tuple(found.values()), tuple(warnings))

    def dump(self, credentials: Iterable[StoredCredential[KeyRecord]]) -> dict[str, Any]:
        """``{"gemini_keys": [{key, count_403, reset_time?, invalid?, …}, …]}``."""
        entries: list[Any] = []
        for stored in credentials:
            record = stored.record
            entry: dict[str, Any] = {"key": record.key, "count_403": record.count_403}
            if stored.state is State.EXHAUSTED and record.reset_time is not None:
                entry["reset_time"] = int(record.reset_time + 0.999)
            if stored.state is State.INVALID:
                entry["invalid"] = _reason_text(stored.reason)
            for name, extra in record.extra.items():
                entry.setdefault(name, extra)
            entries.append(entry)
        entries.extend(self.unusable)
        return {GEMINI_KEYS: entries}


def _reason_text(reason: Reason | None) -> str:
    if reason is None:
        return "invalid"
    if reason.kind is ReasonKind.UNKNOWN and isinstance(reason.raw, str):
        return reason.raw
    return str(reason)


def _stored_from_entry(
    raw: Any, where: str, now: float, warnings: list[str]
) -> StoredCredential[KeyRecord] | None:
    if isinstance(raw, str):
        raw = {"key": raw}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str):
        warnings.append(f"{where}: no key string; kept in the file, not used")
        return None
    key = raw["key"].strip()
    if not _LOOSE_KEY.fullmatch(key):
        warnings.append(f"{where}: {key[:6]!r}… is not a key; kept in the file, not used")
        return None
    if not _KEY.fullmatch(key):
        warnings.append(f"{where}: {mask_key(key)} does not look like a Gemini key; used anyway")
    count = raw.get("count_403", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        warnings.append(f"{where}: count_403 {count!r} is not a count; reset to 0")
        count = 0
    extra = {k: v for k, v in raw.items() if k not in ("key", "count_403", "reset_time", "invalid")}
    record = KeyRecord(key, count, None, extra)
    invalid = raw.get("invalid")
    if isinstance(invalid, str) and invalid:
        return StoredCredential(record, State.INVALID, TextReason.of(invalid))
    if invalid is not None:
        warnings.append(f"{where}: invalid {invalid!r} is not a reason text; ignored")
    reset = raw.get("reset_time")
    if isinstance(reset, int | float) and not isinstance(reset, bool) and reset > now:
        return StoredCredential(replace(record, reset_time=float(reset)), State.EXHAUSTED)
    if reset is not None and not isinstance(reset, int | float):
        warnings.append(f"{where}: reset_time {reset!r} is not a time; ignored")
    return StoredCredential(record, State.VALID)
