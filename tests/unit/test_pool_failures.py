"""Upstream error → what it means for the credential (§4.6), and reset-time parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmproxy.credentials import (
    CLAUDE_COOKIES,
    CookieRecord,
    Exhausted,
    Incapable,
    Pool,
    Reason,
    Retired,
    State,
    StoredCredential,
    classify_failure,
    parse_reset_time,
)
from llmproxy.credentials.failures import FAILURE_RULES

NOW = 1_785_000_000.0
RESETS_AT = 1_785_087_657


def error(message: Any, kind: str = "error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def claude_ai_429(resets_at: Any = RESETS_AT) -> dict[str, Any]:
    inner = {"type": "exceeded_limit", "resetsAt": resets_at, "remaining": None}
    return error(json.dumps(inner), "rate_limit_error")


OAUTH_DISALLOWED = "OAuth authentication is currently not allowed for this organization."

CASES: list[tuple[str, int, Any, dict[str, str], Any]] = [
    ("401 any body", 401, error("invalid x-api-key"), {}, Retired(Reason.NULL)),
    ("401 no body", 401, None, {}, Retired(Reason.NULL)),
    (
        "400 disabled",
        400,
        error("This organization has been disabled."),
        {},
        Retired(Reason.DISABLED),
    ),
    ("403 oauth disallowed", 403, error(OAUTH_DISALLOWED), {}, Incapable()),
    ("401 oauth disallowed (Clove)", 401, error(OAUTH_DISALLOWED.upper()), {}, Incapable()),
    (
        "429 resetsAt",
        429,
        claude_ai_429(),
        {},
        Exhausted(RESETS_AT, Reason.too_many_requests(RESETS_AT)),
    ),
    (
        "429 header",
        429,
        error("rate limited"),
        {"Anthropic-Ratelimit-Unified-Reset": str(RESETS_AT)},
        Exhausted(RESETS_AT, Reason.too_many_requests(RESETS_AT)),
    ),
    (
        "429 nothing",
        429,
        "<html>",
        {},
        Exhausted(NOW + 3600, Reason.too_many_requests(int(NOW) + 3600)),
    ),
    ("400 other", 400, error("max_tokens: too big"), {}, None),
    ("403 other", 403, error("permission denied"), {}, None),
    ("404", 404, error("model not found"), {}, None),
    ("500", 500, error("boom"), {}, None),
    ("529 overloaded", 529, error("Overloaded", "overloaded_error"), {}, None),
    ("302 blocked", 302, None, {}, None),
]


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_classification_table(
    status: int, body: Any, headers: dict[str, str], expected: Any
) -> None:
    assert classify_failure(status, body, headers, now=NOW) == expected


def test_the_table_is_read_in_order() -> None:
    # The OAuth rule must come before "401 → Null", or a 401 OAuth refusal would
    # retire an account that still works on the web route.
    statuses = [sorted(rule.statuses) for rule in FAILURE_RULES]
    assert statuses == [[401, 403], [400], [401], [429]]


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (claude_ai_429(), {}, RESETS_AT),
        (claude_ai_429(), {"anthropic-ratelimit-unified-reset": "1"}, RESETS_AT),  # body wins
        (claude_ai_429(RESETS_AT * 1000), {}, RESETS_AT),  # milliseconds
        (claude_ai_429(None), {"anthropic-ratelimit-unified-reset": "1785000600"}, 1785000600),
        (claude_ai_429("soon"), {}, NOW + 3600),
        (error({"resetsAt": RESETS_AT}), {}, RESETS_AT),  # already decoded
        (error("not json"), {"anthropic-ratelimit-unified-reset": "1785000600"}, 1785000600),
        (None, {"anthropic-ratelimit-unified-reset": "2026-07-25T18:00:00Z"}, 1785002400),
        (None, {"anthropic-ratelimit-unified-reset": "garbage"}, NOW + 3600),
        (None, {}, NOW + 3600),
        ({"error": "flat"}, {}, NOW + 3600),
        (error(json.dumps({"resetsAt": True})), {}, NOW + 3600),
    ],
)
def test_reset_time_sources(body: Any, headers: dict[str, str], expected: float) -> None:
    assert parse_reset_time(body, headers, now=NOW) == expected


def test_a_429_through_a_lease_parks_a_until_reset_and_b_answers() -> None:
    """The issue's end-to-end scenario, minus the network: the pool's half of it."""
    clock = [NOW]
    a = "sk-ant-sid01-" + "a" * 90 + "-aaaaaaAA"
    b = "sk-ant-sid01-" + "b" * 90 + "-bbbbbbAA"
    pool = Pool(
        CLAUDE_COOKIES,
        clock=lambda: clock[0],
        credentials=[StoredCredential(CookieRecord(cookie=k), State.VALID) for k in (a, b)],
    )
    tried: list[str] = []
    answered_by = None
    for _attempt in range(1 + 5):
        with pool.acquire_nowait("code", exclude=tried) as lease:
            tried.append(lease.key)
            status, body = (429, claude_ai_429()) if lease.key == a else (200, None)
            if status != 200:
                outcome = classify_failure(status, body, {}, now=clock[0])
                assert outcome is not None
                lease.report(outcome)
                continue
            lease.succeeded()
            answered_by = lease.key
            break
    assert answered_by == b
    (entry_a, entry_b) = pool.dump()["cookie_array"]
    assert entry_a["cookie"] == a
    assert entry_a["reset_time"] == RESETS_AT
    assert "reset_time" not in entry_b
