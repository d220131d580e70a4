"""clewdr.toml cookie tables: reasons, records, and a lossless round trip."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from llmproxy.credentials import (
    CLAUDE_COOKIES,
    AccountKind,
    Capabilities,
    CookieRecord,
    OAuthToken,
    Pool,
    PoolEvent,
    Reason,
    ReasonKind,
    State,
    StoredCredential,
    TokenUsage,
    UsageBucket,
)
from llmproxy.credentials.records import entry_from_record, record_from_entry

NOW = 1_785_000_000.0
A = "sk-ant-sid01-" + "a" * 90 + "-aaaaaaAA"
B = "sk-ant-sid02-" + "b" * 100 + "-bbbbbbAA"
C = "sk-ant-sid01-" + "c" * 86 + "-ccccccAA"
D = "d" * 95 + "-ddddddAA"  # a bare body, stored without prefix
E = "sk-ant-sid01-" + "e" * 90 + "-eeeeeeAA"

# What ClewdR v0.13 writes (toml crate, pretty): settings, then the tables. Every
# option that is None is absent; the five usage buckets are always present. Plus a
# field from a future ClewdR inside an entry and one at top level.
CLEWDR_WRITTEN = f"""
ip = "127.0.0.1"
port = 8484
password = "pw"
admin_password = "apw"
max_retries = 5
future_top_level_option = "kept by the config store"

[[cookie_array]]
cookie = "{A}"
count_tokens_allowed = true
session_resets_at = 1785010000
weekly_resets_at = 1785500000
weekly_sonnet_resets_at = 1785500000
resets_last_checked_at = 1784990000
session_has_reset = true
weekly_has_reset = true
weekly_sonnet_has_reset = true
weekly_opus_has_reset = false
future_entry_field = {{ nested = [1, 2, 3] }}

[cookie_array.token]
access_token = "sk-ant-oat01-access"
expires_in = 28800
refresh_token = "sk-ant-ort01-refresh"
expires_at = 1785116457.25

[cookie_array.token.organization]
uuid = "0b6f7c2e-1111-2222-3333-444455556666"

[cookie_array.session_usage]
total_input_tokens = 1200
total_output_tokens = 340
sonnet_input_tokens = 1000
sonnet_output_tokens = 300
opus_input_tokens = 200
opus_output_tokens = 40

[cookie_array.weekly_usage]
total_input_tokens = 9200
total_output_tokens = 1340
sonnet_input_tokens = 9000
sonnet_output_tokens = 1300
opus_input_tokens = 200
opus_output_tokens = 40

[cookie_array.weekly_sonnet_usage]
total_input_tokens = 9000
total_output_tokens = 1300
sonnet_input_tokens = 9000
sonnet_output_tokens = 1300
opus_input_tokens = 0
opus_output_tokens = 0

[cookie_array.weekly_opus_usage]
total_input_tokens = 200
total_output_tokens = 40
sonnet_input_tokens = 0
sonnet_output_tokens = 0
opus_input_tokens = 200
opus_output_tokens = 40

[cookie_array.lifetime_usage]
total_input_tokens = 18446744
total_output_tokens = 99999
sonnet_input_tokens = 18000000
sonnet_output_tokens = 90000
opus_input_tokens = 446744
opus_output_tokens = 9999

[[cookie_array]]
cookie = "{B}"
reset_time = 1785087657

[cookie_array.session_usage]
total_input_tokens = 0
total_output_tokens = 0
sonnet_input_tokens = 0
sonnet_output_tokens = 0
opus_input_tokens = 0
opus_output_tokens = 0

[cookie_array.weekly_usage]
total_input_tokens = 0
total_output_tokens = 0
sonnet_input_tokens = 0
sonnet_output_tokens = 0
opus_input_tokens = 0
opus_output_tokens = 0

[cookie_array.weekly_sonnet_usage]
total_input_tokens = 0
total_output_tokens = 0
sonnet_input_tokens = 0
sonnet_output_tokens = 0
opus_input_tokens = 0
opus_output_tokens = 0

[cookie_array.weekly_opus_usage]
total_input_tokens = 0
total_output_tokens = 0
sonnet_input_tokens = 0
sonnet_output_tokens = 0
opus_input_tokens = 0
opus_output_tokens = 0

[cookie_array.lifetime_usage]
total_input_tokens = 5000
total_output_tokens = 700
sonnet_input_tokens = 5000
sonnet_output_tokens = 700
opus_input_tokens = 0
opus_output_tokens = 0

[[wasted_cookie]]
cookie = "{C}"
reason = "Free"

[[wasted_cookie]]
cookie = "{D}"
reason = {{ Restricted = 1785999999 }}

[[wasted_cookie]]
cookie = "{E}"
reason = {{ TooManyRequest = 1784000000 }}
"""


def load(text: str, now: float = NOW) -> Pool[CookieRecord]:
    return Pool.from_document(CLAUDE_COOKIES, tomllib.loads(text), clock=lambda: now)


# --- reasons ------------------------------------------------------------------------

REASON_CASES = [
    (Reason.NORMAL_PRO, "NormalPro", "Normal Pro account"),
    (Reason.FREE, "Free", "Free account"),
    (Reason.DISABLED, "Disabled", "Organization Disabled"),
    (Reason.BANNED, "Banned", "Banned"),
    (Reason.NULL, "Null", "Null"),
    (
        Reason.restricted(1785087657),
        {"Restricted": 1785087657},
        "Restricted/Warning: until UTC 2026-07-26 17:40:57",
    ),
    (
        Reason.too_many_requests(0),
        {"TooManyRequest": 0},
        "429 Too many request: until UTC 1970-01-01 00:00:00",
    ),
]


@pytest.mark.parametrize(("reason", "serde", "display"), REASON_CASES)
def test_reason_serde_both_ways_and_display(reason: Reason, serde: Any, display: str) -> None:
    assert reason.to_serde() == serde
    assert Reason.from_serde(serde) == reason
    assert str(reason) == display


def test_reason_in_toml_is_the_serde_shape() -> None:
    doc = tomllib.loads('a = "Free"\nb = { Restricted = 5 }')
    assert Reason.from_serde(doc["a"]) == Reason.FREE
    assert Reason.from_serde(doc["b"]) == Reason.restricted(5)


def test_legacy_nonpro_reads_as_free() -> None:
    assert Reason.from_serde("NonPro") == Reason.FREE


@pytest.mark.parametrize(
    "raw", ["Shadowbanned", {"Suspended": 5}, {"Restricted": "soon"}, 7, {"A": 1, "B": 2}]
)
def test_unknown_reason_is_kept_verbatim(raw: Any) -> None:
    reason = Reason.from_serde(raw)
    assert reason.kind is ReasonKind.UNKNOWN
    assert reason.to_serde() == raw


def test_timed_reasons_need_a_time_and_others_refuse_one() -> None:
    with pytest.raises(ValueError, match="needs"):
        Reason(ReasonKind.RESTRICTED)
    with pytest.raises(ValueError, match="takes no"):
        Reason(ReasonKind.FREE, 5)


def test_invalid_date_display() -> None:
    assert str(Reason.restricted(10**20)) == "Restricted/Warning: until Invalid date"


# --- records ------------------------------------------------------------------------


def test_minimal_entry_gets_clewdr_defaults_and_writes_all_buckets() -> None:
    warnings: list[str] = []
    record = record_from_entry({"cookie": "sessionKey=" + A}, "e", warnings)
    assert record == CookieRecord(cookie=A)
    assert warnings == []
    written = entry_from_record(record)
    assert written["cookie"] == A
    assert set(written) == {
        "cookie",
        "session_usage",
        "weekly_usage",
        "weekly_sonnet_usage",
        "weekly_opus_usage",
        "lifetime_usage",
    }
    assert written["lifetime_usage"] == dict.fromkeys(
        [
            "total_input_tokens",
            "total_output_tokens",
            "sonnet_input_tokens",
            "sonnet_output_tokens",
            "opus_input_tokens",
            "opus_output_tokens",
        ],
        0,
    )


@pytest.mark.parametrize(
    "raw",
    [None, "just a string", {"no_cookie": 1}, {"cookie": 5}, {"cookie": "not a cookie"}],
)
def test_entries_without_a_usable_cookie_are_dropped_with_a_warning(raw: Any) -> None:
    warnings: list[str] = []
    assert record_from_entry(raw, "cookie_array[0]", warnings) is None
    assert len(warnings) == 1
    assert warnings[0].startswith("cookie_array[0]")


def test_a_broken_field_costs_only_that_field() -> None:
    warnings: list[str] = []
    raw = {
        "cookie": A,
        "reset_time": "tomorrow",
        "count_tokens_allowed": "yes",
        "session_usage": {"total_input_tokens": -5, "total_output_tokens": 7},
        "token": {"access_token": "x"},
        "weekly_usage": 3,
    }
    record = record_from_entry(raw, "cookie_array[0]", warnings)
    assert record is not None
    assert record.reset_time is None
    assert record.count_tokens_allowed is None
    assert record.session_usage == UsageBucket(total_output_tokens=7)
    assert record.token is None
    assert record.weekly_usage == UsageBucket()
    assert len(warnings) == 5
    assert all(A not in w for w in warnings)  # cookies are masked in warnings


def test_integral_float_counters_are_accepted() -> None:
    record = record_from_entry({"cookie": A, "reset_time": 5.0}, "e", [])
    assert record is not None
    assert record.reset_time == 5


def test_usage_goes_to_buckets_by_model_family() -> None:
    record = CookieRecord(cookie=A)
    record = record.with_usage(TokenUsage("claude-sonnet-4-5", 10, 2))
    record = record.with_usage(TokenUsage("claude-opus-4-1", 100, 20))
    record = record.with_usage(TokenUsage("claude-3-5-haiku", 1000, 200))
    for bucket in (record.session_usage, record.weekly_usage, record.lifetime_usage):
        assert bucket == UsageBucket(1110, 222, 10, 2, 100, 20)
    assert record.weekly_sonnet_usage == UsageBucket(10, 2, 10, 2, 0, 0)
    assert record.weekly_opus_usage == UsageBucket(100, 20, 0, 0, 100, 20)


def test_usage_saturates_at_the_toml_integer_limit() -> None:
    record = CookieRecord(cookie=A, lifetime_usage=UsageBucket(total_input_tokens=2**63 - 2))
    record = record.with_usage(TokenUsage("x", 10, 0))
    assert record.lifetime_usage.total_input_tokens == 2**63 - 1


def test_zero_usage_changes_nothing() -> None:
    record = CookieRecord(cookie=A)
    assert record.with_usage(TokenUsage("claude-sonnet-4", 0, 0)) is record


def test_parking_and_unparking_clear_window_usage_but_not_lifetime() -> None:
    used = CookieRecord(cookie=A).with_usage(TokenUsage("claude-sonnet-4", 5, 5))
    parked = used.parked(1000.2)
    assert parked.reset_time == 1001  # never earlier than asked
    assert parked.session_usage == parked.weekly_sonnet_usage == UsageBucket()
    assert parked.lifetime_usage == used.lifetime_usage
    back = parked.with_usage(TokenUsage("claude-sonnet-4", 1, 1)).unparked()
    assert back.reset_time is None
    assert back.session_usage == UsageBucket()
    assert back.lifetime_usage.total_input_tokens == 6


def test_window_rollover_only_for_tracked_windows_past_their_boundary() -> None:
    used = CookieRecord(
        cookie=A,
        session_has_reset=True,
        session_resets_at=100,
        weekly_has_reset=False,
        weekly_resets_at=100,
        weekly_sonnet_has_reset=True,
        weekly_sonnet_resets_at=500,
    ).with_usage(TokenUsage("claude-sonnet-4", 5, 5))
    assert used.refreshed(99) is used
    rolled = used.refreshed(200)
    assert rolled.session_usage == UsageBucket()
    assert rolled.session_resets_at == 200 + 5 * 3600
    assert rolled.weekly_usage == used.weekly_usage  # not tracked
    assert rolled.weekly_sonnet_usage == used.weekly_sonnet_usage  # not due yet
    assert rolled.refreshed(200) is rolled


def test_window_probe_needed_until_every_probed_window_is_known() -> None:
    record = CookieRecord(cookie=A)
    assert record.needs_window_probe(NOW)
    probed = record.with_probed_windows(
        {
            "five_hour": {"utilization": 12, "resets_at": "2026-07-25T18:00:00Z"},
            "seven_day": {"utilization": 3, "resets_at": None},
            "seven_day_sonnet": None,
        },
        NOW,
    )
    assert probed.session_has_reset is True
    assert probed.session_resets_at == 1785002400
    assert probed.weekly_has_reset is False
    assert probed.weekly_sonnet_has_reset is False
    assert probed.resets_last_checked_at == int(NOW)
    assert not probed.needs_window_probe(NOW)
    assert probed.needs_window_probe(1785002400)


def test_failed_probe_clears_due_tracked_windows_and_guesses_the_next_boundary() -> None:
    record = CookieRecord(
        cookie=A, session_has_reset=True, session_resets_at=10, weekly_has_reset=False
    ).with_usage(TokenUsage("m", 5, 5))
    after = record.with_probed_windows(None, NOW)
    assert after.session_usage == UsageBucket()
    assert after.session_resets_at == int(NOW) + 5 * 3600
    assert after.weekly_usage == record.weekly_usage


def test_token_from_a_token_response() -> None:
    token = OAuthToken.from_token_response(
        {"access_token": "at", "expires_in": 28800, "token_type": "Bearer"}, "org", NOW
    )
    assert token == OAuthToken("at", 28800, "org", "", NOW + 28800)
    assert not token.is_expired(NOW + 28800 - 301)
    assert token.is_expired(NOW + 28800 - 300)
    no_expiry = OAuthToken.from_token_response({"access_token": "at"}, "org", NOW)
    assert no_expiry.is_expired(NOW)
    with pytest.raises(ValueError, match="access_token"):
        OAuthToken.from_token_response({}, "org", NOW)


def test_an_integer_expires_at_still_loads() -> None:
    raw = {
        "cookie": A,
        "token": {
            "access_token": "a",
            "expires_in": 3600,
            "refresh_token": "r",
            "expires_at": 1785087657,
            "organization": {"uuid": "org"},
        },
    }
    record = record_from_entry(raw, "e", [])
    assert record is not None
    assert record.token is not None
    assert record.token.expires_at == 1785087657.0
    assert isinstance(entry_from_record(record)["token"]["expires_at"], float)


# --- the document -------------------------------------------------------------------


def test_a_clewdr_written_file_round_trips_exactly() -> None:
    original = tomllib.loads(CLEWDR_WRITTEN)
    pristine = copy.deepcopy(original)
    pool = Pool.from_document(CLAUDE_COOKIES, original, clock=lambda: NOW)
    dumped = pool.dump()
    assert dumped["cookie_array"] == pristine["cookie_array"]
    assert dumped["wasted_cookie"] == pristine["wasted_cookie"]
    assert dumped["cookie_meta"] == []
    assert original == pristine  # loading does not touch the caller's document


def test_round_trip_keeps_value_types_tomllib_would_read_back() -> None:
    dumped = load(CLEWDR_WRITTEN).dump()
    token = dumped["cookie_array"][0]["token"]
    assert type(token["expires_in"]) is int
    assert type(token["expires_at"]) is float
    assert type(dumped["cookie_array"][1]["reset_time"]) is int


def test_states_after_loading() -> None:
    stats = load(CLEWDR_WRITTEN).statistics()
    states = {c.key: c.state for c in stats.credentials}
    assert states == {
        A: State.VALID,
        B: State.EXHAUSTED,
        C: State.INVALID,
        D: State.INVALID,
        E: State.INVALID,
    }
    by_key = {c.key: c for c in stats.credentials}
    assert by_key[B].until == 1785087657
    assert by_key[C].reason == Reason.FREE
    assert by_key[D].reason == Reason.restricted(1785999999)
    record = by_key[A].record
    assert record.token is not None
    assert record.token.organization_uuid == "0b6f7c2e-1111-2222-3333-444455556666"
    assert record.extra == {"future_entry_field": {"nested": [1, 2, 3]}}


def test_a_past_reset_time_is_cleared_and_the_cookie_starts_valid() -> None:
    pool = load(CLEWDR_WRITTEN, now=1785087657.0)
    info = pool.get(B)
    assert info is not None
    assert info.state is State.VALID
    assert info.record.reset_time is None
    assert "reset_time" not in pool.dump()["cookie_array"][1]


def test_capabilities_round_trip_through_our_own_table() -> None:
    text = (
        CLEWDR_WRITTEN
        + f"""
[[cookie_meta]]
cookie = "{A}"
account = "free"
routes = {{ code = false, web = true }}
future_meta = 1

[[cookie_meta]]
cookie = "{C}"
account = "pro"
"""
    )
    original = tomllib.loads(text)
    pool = Pool.from_document(CLAUDE_COOKIES, original, clock=lambda: NOW)
    a = pool.get(A)
    assert a is not None
    assert a.capabilities == Capabilities(
        AccountKind.FREE, {"code": False, "web": True}, {"future_meta": 1}
    )
    assert pool.dump()["cookie_meta"] == original["cookie_meta"]


def test_loading_is_lenient_and_says_what_it_dropped() -> None:
    events: list[PoolEvent] = []
    document = {
        "cookie_array": [{"cookie": A}, {"cookie": "garbage"}, {"cookie": A}, 5],
        "wasted_cookie": [{"cookie": B}, {"cookie": A, "reason": "Banned"}, {"reason": "Free"}],
        "cookie_meta": [{"cookie": C, "account": "pro"}, {"cookie": B, "routes": {"x": 1}}],
    }
    pool = Pool.from_document(CLAUDE_COOKIES, document, clock=lambda: NOW, on_event=events.append)
    assert {c.key: c.state for c in pool.statistics().credentials} == {
        A: State.INVALID,  # listed in both tables: stays retired
        B: State.INVALID,  # no reason: retired as Null, not lost
    }
    info = pool.get(B)
    assert info is not None
    assert info.reason == Reason.NULL
    warnings = [e.message for e in events]
    assert len(warnings) == 8, warnings  # 3 + 3 + 2, one per problem
    assert all(A not in w and B not in w for w in warnings)
    assert pool.version == 0  # loading is not a change to save


def test_tables_of_the_wrong_type_are_ignored_with_a_warning() -> None:
    loaded = CLAUDE_COOKIES.load({"cookie_array": {"cookie": A}, "wasted_cookie": "x"}, now=NOW)
    assert loaded.credentials == ()
    assert len(loaded.warnings) == 2


def test_tables_may_be_tuples_as_the_settings_object_holds_them() -> None:
    loaded = CLAUDE_COOKIES.load(
        {"cookie_array": ({"cookie": A},), "wasted_cookie": ({"cookie": B, "reason": "Free"},)},
        now=NOW,
    )
    assert [(c.record.key, c.state) for c in loaded.credentials] == [
        (A, State.VALID),
        (B, State.INVALID),
    ]
    assert loaded.warnings == ()


def test_an_empty_document_is_an_empty_pool() -> None:
    pool = Pool.from_document(CLAUDE_COOKIES, {}, clock=lambda: NOW)
    assert len(pool) == 0
    assert pool.dump() == {"cookie_array": [], "wasted_cookie": [], "cookie_meta": []}


def test_retired_cookie_is_written_as_clewdr_wasted_entry() -> None:
    pool = Pool(
        CLAUDE_COOKIES,
        clock=lambda: NOW,
        credentials=[StoredCredential(CookieRecord(cookie=A), State.VALID)],
    )
    pool.retire(A, Reason.BANNED)
    assert pool.dump()["wasted_cookie"] == [{"cookie": A, "reason": "Banned"}]
    assert pool.dump()["cookie_array"] == []


def test_parked_cookie_is_written_with_its_reset_time() -> None:
    pool = Pool(
        CLAUDE_COOKIES,
        clock=lambda: NOW,
        credentials=[StoredCredential(CookieRecord(cookie=A), State.VALID)],
    )
    pool.park(A, NOW + 60.5)
    (entry,) = pool.dump()["cookie_array"]
    assert entry["reset_time"] == int(NOW) + 61
    reloaded = Pool.from_document(CLAUDE_COOKIES, pool.dump(), clock=lambda: NOW)
    info = reloaded.get(A)
    assert info is not None
    assert info.state is State.EXHAUSTED
