"""Whose fault is a Google error: the key's, the service account's, or nobody's?

Every non-200 answer from the Gemini API or Vertex AI that arrives before a byte
went to the client is classified here. The rules, as a table read top to bottom
(first match wins):

======  =====================================  =========================  =====
status  when                                   verdict                    retry
======  =====================================  =========================  =====
400     ``API_KEY_INVALID`` / "API key not      retire, with the message   yes
        valid" / "API key expired"
401     an API key                             retire, with the message   yes
401     a service account (token refused)      forget the token           yes
403     any                                    retire (+ count_403)       yes
429     any                                    cool down (see below)      yes
5xx     500, 502, 503, 504                     nobody's fault             yes
other   anything else                          the client's problem       no
======  =====================================  =========================  =====

ClewdR only counted 403s and retried every error with the next key; here a dead
key leaves the rotation at once, and a request the upstream calls wrong (a 400
about a field) goes back to the client instead of being sent five more times.

Cool-down of a 429, in order: ``RetryInfo.retryDelay`` in the error details
(``"41s"``), else the ``Retry-After`` header, else :data:`DEFAULT_COOLDOWN`. When
a ``QuotaFailure`` names a per-day quota the key rests at least
:data:`DAILY_COOLDOWN`: Google's delay for those is often seconds, and asking again
every few seconds only burns attempts.

Google error bodies are ``{"error": {"code", "message", "status", "details"}}``;
the OpenAI-compatible endpoint wraps that in a one-element array. Both are read.
This module imports no I/O library.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from ..credentials.outcomes import Exhausted, Retired
from ..credentials.reasons import Reason
from .keys import TextReason

__all__ = [
    "DAILY_COOLDOWN",
    "DEFAULT_COOLDOWN",
    "Blame",
    "Failure",
    "Holder",
    "classify",
    "google_error",
    "retry_delay",
]

DEFAULT_COOLDOWN = 60.0
"""Seconds a rate-limited credential rests when Google does not say how long."""
DAILY_COOLDOWN = 3600.0
"""Least rest after a per-day quota ran out."""
TRANSIENT = frozenset({500, 502, 503, 504})
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)s\s*")
_INVALID_KEY_TEXT = ("api key not valid", "api key expired", "api_key_invalid")


class Holder(enum.Enum):
    """What kind of credential made the call."""

    KEY = "key"
    SERVICE_ACCOUNT = "service account"


class Blame(enum.Enum):
    CREDENTIAL = "credential"
    """Report ``outcome`` on the lease, then try another credential."""
    TRANSIENT = "transient"
    """Nobody's fault; another attempt may work."""
    CLIENT = "client"
    """The request itself is the problem; answer the client now."""


@dataclass(frozen=True, slots=True)
class Failure:
    """The verdict on one error answer.

    Attributes:
        blame: Who is at fault, and so whether to retry.
        outcome: What to report on the lease (for ``CREDENTIAL``).
        count_403: Also bump the key's ``count_403`` (ClewdR's counter).
        forget_token: Drop the cached access token of the service account.
        message: The upstream's message, for the log and the client.
        status_name: The upstream's ``google.rpc.Code`` name, if it gave one.
        retry_after: Seconds the client could wait (429 only).
    """

    blame: Blame
    outcome: Exhausted | Retired | None = None
    count_403: bool = False
    forget_token: bool = False
    message: str = ""
    status_name: str | None = None
    retry_after: float | None = None


def google_error(body: Any) -> Mapping[str, Any] | None:
    """The ``error`` object of a Google error body (plain or in a one-element array)."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error: Mapping[str, Any] = body["error"]
        return error
    return None


def _details(error: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    details = error.get("details") if error is not None else None
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, Mapping)]


def _of_type(detail: Mapping[str, Any], name: str) -> bool:
    kind = detail.get("@type")
    return isinstance(kind, str) and kind.endswith(name)


def retry_delay(error: Mapping[str, Any] | None) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "41s"``)."""
    for detail in _details(error):
        if not _of_type(detail, "google.rpc.RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str):
            found = _DURATION.fullmatch(delay)
            if found is not None:
                return float(found.group(1))
        elif isinstance(delay, Mapping):  # the proto form {"seconds": 41, "nanos": 0}
            seconds, nanos = delay.get("seconds", 0), delay.get("nanos", 0)
            if isinstance(seconds, int | str) and isinstance(nanos, int):
                try:
                    return float(seconds) + nanos / 1e9
                except ValueError:
                    return None
    return None


def _daily_quota(error: Mapping[str, Any] | None) -> bool:
    for detail in _details(error):
        if not _of_type(detail, "google.rpc.QuotaFailure"):
            continue
        for violation in detail.get("violations") or []:
            if isinstance(violation, Mapping):
                names = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
                if "perday" in names.lower().replace("_", "").replace("-", ""):
                    return True
    return False


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    value = None
    for name, found in headers.items():
        if name.lower() == "retry-after":
            value = found.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _text(error: Mapping[str, Any] | None, status: int, raw: bytes) -> str:
    message = error.get("message") if error is not None else None
    if isinstance(message, str) and message:
        return message
    snippet = raw[:200].decode("utf-8", "replace").strip()
    return f"HTTP {status}" + (f": {snippet}" if snippet else "")


def _is_invalid_key(error: Mapping[str, Any] | None, message: str) -> bool:
    lowered = message.lower()
    if any(text in lowered for text in _INVALID_KEY_TEXT):
        return True
    return any(
        _of_type(d, "google.rpc.ErrorInfo") and d.get("reason") == "API_KEY_INVALID"
        for d in _details(error)
    )


def classify(
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    *,
    holder: Holder,
    now: float,
) -> Failure:
    """Decide what an error answer means (see the table in the module docstring).

    Args:
        status: The upstream HTTP status (never 200 here).
        raw: The response body.
        headers: The response headers.
        holder: Whether an API key or a service account made the call.
        now: Epoch seconds, for cool-down times.
    """
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    error = google_error(body)
    message = _text(error, status, raw)
    name = error.get("status") if error is not None else None
    status_name = name if isinstance(name, str) else None
    why = f"{status} {status_name or ''}".rstrip() + f": {message}"
    if status == 400 and holder is Holder.KEY and _is_invalid_key(error, message):
        return Failure(Blame.CREDENTIAL, Retired(TextReason.of(why)), message=message,
                       status_name=status_name)
    if status == 401:
        if holder is Holder.KEY:
            return Failure(Blame.CREDENTIAL, Retired(TextReason.of(why)), message=message,
                           status_name=status_name)
        return Failure(Blame.TRANSIENT, forget_token=True, message=message, status_name=status_name)
    if status == 403:
        return Failure(
            Blame.CREDENTIAL,
            Retired(TextReason.of(why)),
            count_403=holder is Holder.KEY,
            message=message,
            status_name=status_name,
        )
    if status == 429:
        delay = retry_delay(error)
        if delay is None:
            delay = _retry_after(headers, now)
        if delay is None:
            delay = DEFAULT_COOLDOWN
        rest = max(1.0, delay)
        if _daily_quota(error):
            rest = max(rest, DAILY_COOLDOWN)
        until = now + rest
        outcome = Exhausted(until, Reason.too_many_requests(int(until + 0.999)))
        return Failure(Blame.CREDENTIAL, outcome, message=message, status_name=status_name,
                       retry_after=delay)
    if status in TRANSIENT:
        return Failure(Blame.TRANSIENT, message=message, status_name=status_name)
    return Failure(Blame.CLIENT, message=message, status_name=status_name)
