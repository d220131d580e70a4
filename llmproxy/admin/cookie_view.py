"""The cookie pool as the admin API shows it, and the many ways to paste cookies in.

``GET /api/cookies`` keeps ClewdR's shape (clewdr-behaviour.md §5.7):
``{"valid": [...], "exhausted": [...], "invalid": [...]}``, where usable entries are
the ``cookie_array`` record without its OAuth token plus RFC 3339 window boundaries
(``session_resets_at``, ``seven_day_resets_at``, ``seven_day_sonnet_resets_at``), and
invalid entries are ``{"cookie", "reason"}`` with ClewdR's serde reason. Every entry
also carries what the page needs and ClewdR lacks: ``masked``, ``state``,
``reason_text``, ``account``, ``denied_routes``, ``in_flight`` and ``has_token``.

Unlike ClewdR (#63: "a cookie went into cooldown but the page did not refresh"),
the listing is built from the pool on every call; there is no cache to go stale.

Bulk add accepts ClewdR's ``{"cookie": "..."}``, ``{"cookies": [...]}``, a JSON array,
or plain text with one cookie per line, and answers one result per line: added,
already known (in which state), or invalid with the reason. A reason never repeats
the pasted text, which may be a secret with a typo in it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..credentials import CookieRecord, CredentialInfo, Pool, PoolStatistics, State
from ..credentials.records import entry_from_record
from ..errors import BadRequest

__all__ = ["AddLine", "add_cookies", "cookie_entry", "cookie_listing", "parse_cookie_input"]

# Record window -> the name ClewdR's listing gives its RFC 3339 boundary.
_LISTED_WINDOWS = (
    ("session_resets_at", "session_resets_at"),
    ("weekly_resets_at", "seven_day_resets_at"),
    ("weekly_sonnet_resets_at", "seven_day_sonnet_resets_at"),
)


def _rfc3339(epoch: int) -> str | None:
    try:
        return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def cookie_entry(info: CredentialInfo[CookieRecord]) -> dict[str, Any]:
    """One listing entry, in ClewdR's shape plus the page's fields."""
    record = info.record
    if info.state is State.INVALID:
        reason = info.reason
        entry: dict[str, Any] = {
            "cookie": record.cookie,
            "reason": reason.to_serde() if reason is not None else "Null",
        }
    else:
        entry = entry_from_record(record)
        entry.pop("token", None)  # a live OAuth token is a secret of its own
        for field_name, listed_name in _LISTED_WINDOWS:
            boundary = getattr(record, field_name)
            if boundary is not None:
                entry[listed_name] = _rfc3339(boundary)
    entry.update(
        masked=info.masked,
        state=info.state.value,
        reason_text=str(info.reason) if info.reason is not None else None,
        account=info.capabilities.account.value,
        denied_routes=sorted(info.capabilities.denied_routes),
        in_flight=info.in_flight,
        has_token=record.token is not None,
    )
    return entry


def cookie_listing(stats: PoolStatistics[CookieRecord]) -> dict[str, list[dict[str, Any]]]:
    """``{"valid", "exhausted", "invalid"}``; exhausted ones soonest back first."""
    listing: dict[str, list[dict[str, Any]]] = {"valid": [], "exhausted": [], "invalid": []}
    infos = sorted(
        stats.credentials,
        key=lambda i: i.until if i.state is State.EXHAUSTED and i.until is not None else 0.0,
    )
    for info in infos:
        listing[info.state.value].append(cookie_entry(info))
    return listing


def parse_cookie_input(body: bytes) -> list[tuple[int, str]]:
    """The pasted cookies as ``(line number, text)``, blank and ``#`` lines skipped.

    Line numbers count from 1 over the whole input (blank lines included), so the
    page can put each result beside the line it came from.

    Raises:
        BadRequest: The body is JSON of an unexpected shape, or holds no cookie.
    """
    items: list[str]
    text = body.decode("utf-8-sig", errors="replace")
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        value = text  # plain text, one cookie per line
    if isinstance(value, Mapping):
        if "cookies" in value:
            value = value["cookies"]
        elif "cookie" in value:
            value = value["cookie"]
        else:
            raise BadRequest(
                'expected {"cookie": "..."}, {"cookies": [...]} or one cookie per line'
            )
    if isinstance(value, str):
        items = value.splitlines()
    elif isinstance(value, Sequence):
        items = [_item_text(item, n) for n, item in enumerate(value, start=1)]
    else:
        raise BadRequest('expected {"cookie": "..."}, {"cookies": [...]} or one cookie per line')
    lines = [
        (number, item.strip())
        for number, item in enumerate(items, start=1)
        if item.strip() and not item.strip().startswith("#")
    ]
    if not lines:
        raise BadRequest("no cookie in the request")
    return lines


def _item_text(item: Any, number: int) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("cookie"), str):
        return str(item["cookie"])  # ClewdR's cookie-status object
    raise BadRequest(f'cookies[{number - 1}]: expected a string or {{"cookie": "..."}}')


@dataclass(frozen=True, slots=True)
class AddLine:
    """What became of one pasted line."""

    line: int
    status: str
    """``added``, ``already_known`` or ``invalid``."""
    cookie: str | None
    """The cookie, masked; ``None`` for an invalid line."""
    state: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "status": self.status,
            "cookie": self.cookie,
            "state": self.state,
            "message": self.message,
        }


def add_cookies(pool: Pool[CookieRecord], lines: list[tuple[int, str]]) -> list[AddLine]:
    """Add each line to the pool; a line that is not a cookie is reported, not raised."""
    results = []
    for number, text in lines:
        try:
            added = pool.add(text)
        except ValueError as exc:
            results.append(AddLine(number, "invalid", None, None, str(exc)))
            continue
        results.append(
            AddLine(
                number,
                "added" if added.added else "already_known",
                pool.kind.mask(added.key),
                added.state.value,
                added.message,
            )
        )
    return results
