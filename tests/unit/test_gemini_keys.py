"""AI Studio keys in the generic pool: format, file round trip, rotation, cool-down, retirement."""

from __future__ import annotations

from typing import Any

import pytest

from llmproxy.config import Settings
from llmproxy.credentials import NoCredentialAvailable, Pool, State
from llmproxy.gemini.credentials import KEYS_ROUTE, GeminiCredentials
from llmproxy.gemini.failures import Holder, classify
from llmproxy.gemini.keys import (
    GEMINI_KEYS,
    GeminiKeys,
    KeyRecord,
    TextReason,
    count_403,
    key_id,
    mask_key,
    parse_key,
)
from tests.fakes.anthropic import ManualClock
from tests.fakes.gemini import Failure, make_key

A, B, C = make_key(1), make_key(2), make_key(3)
NOW = 1_800_000_000.0


def pool(entries: list[Any], clock: ManualClock | None = None) -> Pool[KeyRecord]:
    return Pool.from_document(GeminiKeys(), {GEMINI_KEYS: entries}, clock=clock or ManualClock(NOW))


def test_parse_key_is_strict_and_forgiving_about_blanks_and_quotes() -> None:
    assert parse_key(f'  "{A}"\n') == A
    for bad in ("", "AIza", A + "x", "sk-ant-" + A[7:], A.replace("S", "!")):
        with pytest.raises(ValueError, match="not a Gemini API key"):
            parse_key(bad)


def test_mask_and_id() -> None:
    assert mask_key(A) == f"{A[:10]}…{A[-4:]}"
    assert A[10:-4] not in mask_key(A)
    assert key_id(A) == key_id(A) != key_id(B)
    assert len(key_id(A)) == 12 and int(key_id(A), 16) >= 0


def test_clewdr_entries_and_plain_strings_load() -> None:
    loaded = GeminiKeys().load({GEMINI_KEYS: [{"key": A, "count_403": 2}, B]}, now=NOW)
    assert [(c.record.key, c.record.count_403, c.state) for c in loaded.credentials] == [
        (A, 2, State.VALID), (B, 0, State.VALID)
    ]
    assert loaded.warnings == ()


def test_state_round_trips_through_the_file() -> None:
    entries = [
        {"key": A, "count_403": 0, "reset_time": int(NOW) + 60},
        {"key": B, "count_403": 1, "invalid": "403 PERMISSION_DENIED: suspended", "note": "mine"},
        {"key": C, "count_403": 0, "reset_time": int(NOW) - 1},
    ]
    kind = GeminiKeys()
    loaded = kind.load({GEMINI_KEYS: entries}, now=NOW)
    states = {c.record.key: c.state for c in loaded.credentials}
    assert states == {A: State.EXHAUSTED, B: State.INVALID, C: State.VALID}
    dumped = kind.dump(loaded.credentials)[GEMINI_KEYS]
    assert dumped == [entries[0], entries[1], {"key": C, "count_403": 0}]


def test_entries_that_are_not_keys_are_kept_but_not_used() -> None:
    odd = [{"cookie": "x"}, 42, {"key": "has blanks in it"}, {"key": "shortkey-but-fine", "count_403": -1}]
    kind = GeminiKeys()
    loaded = kind.load({GEMINI_KEYS: odd}, now=NOW)
    assert [c.record.key for c in loaded.credentials] == ["shortkey-but-fine"]
    assert loaded.credentials[0].record.count_403 == 0
    assert len(loaded.warnings) == 5
    assert kind.dump(loaded.credentials)[GEMINI_KEYS][1:] == odd[:3]


def test_duplicates_keep_the_first() -> None:
    loaded = GeminiKeys().load({GEMINI_KEYS: [{"key": A, "count_403": 3}, A]}, now=NOW)
    assert len(loaded.credentials) == 1 and loaded.credentials[0].record.count_403 == 3


def test_rotation_is_least_busy_then_round_robin() -> None:
    keys = pool([A, B, C])
    first = keys.acquire_nowait(KEYS_ROUTE)
    second = keys.acquire_nowait(KEYS_ROUTE)
    third = keys.acquire_nowait(KEYS_ROUTE)
    assert [first.key, second.key, third.key] == [A, B, C]
    second.release()
    assert keys.acquire_nowait(KEYS_ROUTE).key == B  # the only idle one
    for lease in (first, third):
        lease.release()


def test_a_429_cools_the_key_for_its_retry_delay_then_it_returns() -> None:
    clock = ManualClock(NOW)
    keys = pool([A, B], clock)
    failure = classify(429, _body(Failure.rate_limited("41s")), {}, holder=Holder.KEY, now=clock())
    with keys.acquire_nowait(KEYS_ROUTE) as lease:
        assert failure.outcome is not None
        lease.report(failure.outcome)
    assert keys.get(A).state is State.EXHAUSTED  # type: ignore[union-attr]
    assert keys.next_reset() == NOW + 41
    with keys.acquire_nowait(KEYS_ROUTE) as lease:
        assert lease.key == B
    clock.advance(41)
    keys.sweep()
    assert keys.get(A).state is State.VALID  # type: ignore[union-attr]


def test_only_cooling_keys_left_is_503_with_retry_after() -> None:
    clock = ManualClock(NOW)
    keys = pool([A], clock)
    with keys.acquire_nowait(KEYS_ROUTE) as lease:
        lease.exhausted(NOW + 30)
    with pytest.raises(NoCredentialAvailable) as caught:
        keys.acquire_nowait(KEYS_ROUTE)
    assert caught.value.headers["retry-after"] == "30"


def test_an_invalid_key_is_retired_with_googles_words_and_counted_on_403() -> None:
    keys = pool([A, B])
    invalid = classify(400, _body(Failure.invalid_key()), {}, holder=Holder.KEY, now=NOW)
    forbidden = classify(403, _body(Failure.permission_denied()), {}, holder=Holder.KEY, now=NOW)
    with keys.acquire_nowait(KEYS_ROUTE) as lease:
        lease.report(invalid.outcome)  # type: ignore[arg-type]
    with keys.acquire_nowait(KEYS_ROUTE) as lease:
        assert forbidden.count_403
        lease.report(count_403())
        lease.report(forbidden.outcome)  # type: ignore[arg-type]
    info_a, info_b = keys.get(A), keys.get(B)
    assert info_a is not None and info_b is not None
    assert info_a.state is info_b.state is State.INVALID
    assert str(info_a.reason) == "400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    assert info_b.record.count_403 == 1
    dumped = keys.dump()[GEMINI_KEYS]
    assert dumped[1]["invalid"].startswith("403 PERMISSION_DENIED: Permission denied")
    with pytest.raises(NoCredentialAvailable):
        keys.acquire_nowait(KEYS_ROUTE)


def test_text_reason_reads_as_its_text() -> None:
    reason = TextReason.of("API key expired")
    assert str(reason) == "API key expired" and reason.to_serde() == "API key expired"


def test_credentials_from_settings_and_back() -> None:
    settings = Settings(gemini_keys=({"key": A, "count_403": 0, "extra": 1}, B), vertex={"location": "eu"})
    events: list[Any] = []
    gemini = GeminiCredentials.from_settings(settings, clock=ManualClock(NOW), on_event=events.append)
    assert gemini.dump() == {
        "gemini_keys": [{"key": A, "count_403": 0, "extra": 1}, {"key": B, "count_403": 0}],
        "vertex": {"location": "eu"},
    }
    assert gemini.location == "eu"
    results = gemini.add_keys([C, A, "junk"])
    assert [r.result for r in results] == ["added", "already_known", "invalid"]
    assert any(e.persist for e in events)
    assert gemini.find_key(id=key_id(C)) == C and gemini.find_key(key=f" {C} ") == C
    assert gemini.find_key(id="000000000000") is None
    assert gemini.remove_key(C) and not gemini.remove_key(C)
    assert gemini.next_reset() is None


def test_listing_groups_by_status() -> None:
    clock = ManualClock(NOW)
    gemini = GeminiCredentials.from_settings(Settings(gemini_keys=(A, B, C)), clock=clock, on_event=lambda e: None)
    with gemini.keys.acquire_nowait(KEYS_ROUTE) as lease:
        lease.exhausted(NOW + 90)
    with gemini.keys.acquire_nowait(KEYS_ROUTE) as lease:
        lease.retired(TextReason.of("gone"))
    held = gemini.keys.acquire_nowait(KEYS_ROUTE)
    listing = gemini.key_listing()
    assert [len(listing[g]) for g in ("valid", "cooling", "invalid")] == [1, 1, 1]
    assert listing["cooling"][0]["reset_time"] == int(NOW) + 90
    assert listing["invalid"][0]["reason"] == "gone"
    assert listing["valid"][0]["in_flight"] == 1
    assert gemini.next_reset() == NOW + 90
    held.release()


def _body(failure: Failure) -> bytes:
    import json

    return json.dumps(failure.error()).encode()
