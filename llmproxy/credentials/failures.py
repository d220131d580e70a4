"""Whose fault is an upstream error: the credential's, or nobody's business of ours?

The retry loop asks :func:`classify_failure` about every non-2xx answer from
api.anthropic.com / claude.ai that arrived *before* any byte went to the client. An
outcome means "the credential is the problem": report it on the lease and try the
next credential. ``None`` means the request itself or the upstream is the problem,
and the error goes to the client unchanged (another account would fail the same).

The rules are ClewdR's (clewdr-behaviour.md §4.6), as a table read top to bottom,
first match wins:

======  ==================================================  ======================
status  when                                                outcome
======  ==================================================  ======================
401/403 message contains "oauth authentication is            Incapable (this route)
        currently not allowed for this organization"
400     message is "This organization has been disabled."  Retired(Disabled)
401     any body                                           Retired(Null)
429     any body                                           Exhausted(reset time)
======  ==================================================  ======================

Deviations from ClewdR, each on purpose:

- OAuth-not-allowed *retires* the cookie in ClewdR (``Null``), although the same
  account still works on the claude.ai web route. Here it only loses the route the
  request was for. Clove sees this message with 401, ClewdR with 403: both match.
- A 429 whose body is not the ``{"error": {"message": …}}`` shape is passed to the
  client by ClewdR; here every 429 parks the credential (the reset time then comes
  from the header or the one-hour fallback), because a 429 is always about the
  account and another account may well answer.

Reset time of a 429, in order: ``resetsAt`` (epoch seconds) inside the JSON string
that claude.ai puts in ``error.message``; else the ``anthropic-ratelimit-unified-reset``
header (epoch seconds); else one hour from now.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmproxy.credentials.outcomes import Exhausted, Incapable, Retired
from llmproxy.credentials.reasons import Reason

__all__ = [
    "FAILURE_RULES",
    "FALLBACK_COOLDOWN",
    "RESET_HEADER",
    "FailureRule",
    "classify_failure",
    "error_message",
    "parse_reset_time",
]

RESET_HEADER = "anthropic-ratelimit-unified-reset"
FALLBACK_COOLDOWN = 3600.0
_OAUTH_NOT_ALLOWED = "oauth authentication is currently not allowed for this organization"
_ORG_DISABLED = "this organization has been disabled."
# Above this a timestamp is in milliseconds, not seconds (year 33658 in seconds).
_MILLISECONDS_THRESHOLD = 1e12

CredentialFailure = Exhausted | Retired | Incapable


@dataclass(frozen=True, slots=True)
class FailureRule:
    """One row: statuses, a test on the lower-cased error message, and the verdict."""

    statuses: frozenset[int]
    matches: Callable[[str], bool]
    verdict: Callable[[Any, Mapping[str, str], float], CredentialFailure]
    why: str


def _any(message: str) -> bool:
    return True


FAILURE_RULES: tuple[FailureRule, ...] = (
    FailureRule(
        frozenset({401, 403}),
        lambda message: _OAUTH_NOT_ALLOWED in message,
        lambda body, headers, now: Incapable(),
        "OAuth is not allowed for this organization: skip it on this route only",
    ),
    FailureRule(
        frozenset({400}),
        lambda message: message.strip() == _ORG_DISABLED,
        lambda body, headers, now: Retired(Reason.DISABLED),
        "organization disabled",
    ),
    FailureRule(
        frozenset({401}),
        _any,
        lambda body, headers, now: Retired(Reason.NULL),
        "session invalid or expired",
    ),
    FailureRule(
        frozenset({429}),
        _any,
        lambda body, headers, now: _exhausted(parse_reset_time(body, headers, now=now)),
        "rate limited until the reset time",
    ),
)


def _exhausted(until: float) -> Exhausted:
    return Exhausted(until, Reason.too_many_requests(int(until)))


def error_message(body: Any) -> str | None:
    """``error.message`` of an Anthropic-shaped error body, if it is a string."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            message = error.get("message")
            if isinstance(message, str):
                return message
    return None


def classify_failure(
    status: int, body: Any, headers: Mapping[str, str], *, now: float
) -> CredentialFailure | None:
    """Say what a failed upstream answer means for the credential that got it.

    Args:
        status: The upstream HTTP status.
        body: The parsed JSON body, or ``None`` if it was not JSON.
        headers: The response headers (any mapping; names matched case-insensitively).
        now: Epoch seconds, for the reset-time fallback.

    Returns:
        An outcome to report on the lease, or ``None`` when the credential is not to
        blame and the error belongs to the client.
    """
    message = (error_message(body) or "").lower()
    for rule in FAILURE_RULES:
        if status in rule.statuses and rule.matches(message):
            return rule.verdict(body, headers, now)
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, found in headers.items():
        if key.lower() == name:
            return found
    return None


def _epoch_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                seconds = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    else:
        return None
    if seconds != seconds or seconds <= 0:  # NaN or nonsense
        return None
    return seconds / 1000 if seconds > _MILLISECONDS_THRESHOLD else seconds


def parse_reset_time(body: Any, headers: Mapping[str, str], *, now: float) -> float:
    """When a rate-limited credential may be used again, in epoch seconds.

    claude.ai puts a JSON *string* in ``error.message``, e.g.
    ``'{"type":"exceeded_limit","resetsAt":1785087657,…}'``; its ``resetsAt`` wins.
    Then the ``anthropic-ratelimit-unified-reset`` header. Then ``now + 3600``.
    """
    message: Any = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        message = body["error"].get("message")
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            message = None
    if isinstance(message, Mapping):
        found = _epoch_seconds(message.get("resetsAt"))
        if found is not None:
            return found
    header = _header(headers, RESET_HEADER)
    if header is not None:
        found = _epoch_seconds(header)
        if found is not None:
            return found
    return now + FALLBACK_COOLDOWN
