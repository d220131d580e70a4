"""The pool's state machine, selection, leases and bookkeeping, on an injected clock."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from llmproxy.credentials import (
    CLAUDE_COOKIES,
    AccountKind,
    CookieFormatError,
    CookieRecord,
    CredentialsBusy,
    EventKind,
    Exhausted,
    IllegalTransition,
    Incapable,
    Learned,
    NoCredentialAvailable,
    OAuthToken,
    Pool,
    PoolEvent,
    Reason,
    Retired,
    State,
    StoredCredential,
    Succeeded,
    TokenUsage,
    UnknownCredential,
    UsageBucket,
    token_stored,
)
from llmproxy.credentials.states import TRANSITIONS, Event, next_state
from llmproxy.credentials.sticky import StickyMemo

T0 = 1_785_000_000.0


def cookie(n: int) -> str:
    return f"sk-ant-sid01-{n:04d}" + "x" * 86 + "-abcdefAA"


A, B, C, D = (cookie(i) for i in range(4))


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, *keys: str, cap: int = 0) -> None:
        self.clock = Clock()
        self.events: list[PoolEvent] = []
        self.pool = Pool(
            CLAUDE_COOKIES,
            clock=self.clock,
            credentials=[StoredCredential(CookieRecord(cookie=k), State.VALID) for k in keys],
            max_concurrent_per_credential=cap,
            on_event=self.events.append,
        )

    def state(self, key: str) -> State:
        info = self.pool.get(key)
        assert info is not None
        return info.state

    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.events]


def pick(pool: Pool[CookieRecord], route: str = "code", **kw: Any) -> str:
    with pool.acquire_nowait(route, **kw) as lease:
        return lease.key


# --- the transition table --------------------------------------------------------------


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_every_state_event_pair_is_in_the_table_or_illegal(state: State, event: Event) -> None:
    if (state, event) in TRANSITIONS:
        assert next_state(state, event) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(IllegalTransition) as info:
            next_state(state, event, "sk-ant-sid01-xxxx…")
        assert info.value.state is state
        assert info.value.event is event
        assert "sk-ant-sid01-xxxx…" in str(info.value)


def test_only_unpark_of_a_non_parked_credential_is_illegal() -> None:
    missing = set(itertools.product(State, Event)) - set(TRANSITIONS)
    assert missing == {(State.VALID, Event.UNPARK), (State.INVALID, Event.UNPARK)}


# --- transitions through the pool -------------------------------------------------------


def test_valid_to_exhausted_clears_window_usage_and_is_saved() -> None:
    h = Harness(A, B)
    with h.pool.acquire_nowait("code") as lease:
        assert lease.key == A
        lease.succeeded(TokenUsage("claude-sonnet-4", 10, 5))
        lease.exhausted(T0 + 600)
    info = h.pool.get(A)
    assert info is not None
    assert info.state is State.EXHAUSTED
    assert info.until == T0 + 600
    assert info.reason == Reason.too_many_requests(int(T0 + 600))
    assert info.record.session_usage == UsageBucket()
    assert info.record.lifetime_usage.total_input_tokens == 10
    assert h.kinds() == [EventKind.USAGE, EventKind.PARKED]
    assert h.pool.version == 2
    assert all(e.persist for e in h.events)


def test_exhausted_to_exhausted_keeps_the_later_time() -> None:
    h = Harness(A)
    h.pool.park(A, T0 + 600)
    h.pool.park(A, T0 + 300)  # earlier news: nothing changes
    assert h.pool.version == 1
    h.pool.park(A, T0 + 900)
    info = h.pool.get(A)
    assert info is not None
    assert info.until == T0 + 900
    assert h.pool.version == 2


def test_exhausted_to_valid_when_the_time_passes_on_the_next_pick() -> None:
    h = Harness(A)
    h.pool.park(A, T0 + 600)
    h.clock.now = T0 + 599
    with pytest.raises(NoCredentialAvailable):
        h.pool.acquire_nowait("code")
    h.clock.now = T0 + 600
    assert pick(h.pool) == A
    info = h.pool.get(A)
    assert info is not None
    assert info.state is State.VALID
    assert info.record.reset_time is None
    assert h.kinds()[-1] is EventKind.UNPARKED


def test_exhausted_to_valid_by_sweep() -> None:
    h = Harness(A, B, C)
    h.pool.park(A, T0 + 100)
    h.pool.park(B, T0 + 50)
    h.pool.park(C, T0 + 200)
    assert h.pool.next_reset() == T0 + 50
    h.clock.now = T0 + 50
    assert h.pool.sweep() == 1
    assert [h.state(k) for k in (A, B, C)] == [State.EXHAUSTED, State.VALID, State.EXHAUSTED]
    h.clock.now = T0 + 150
    assert h.pool.sweep() == 1
    assert h.state(A) is State.VALID
    assert h.pool.sweep() == 0
    assert h.pool.next_reset() == T0 + 200


def test_valid_to_invalid() -> None:
    h = Harness(A, B)
    with h.pool.acquire_nowait("web") as lease:
        lease.retired(Reason.NULL)
    assert h.state(A) is State.INVALID
    assert pick(h.pool, "web") == B
    assert h.kinds() == [EventKind.RETIRED]


def test_exhausted_to_invalid() -> None:
    h = Harness(A)
    h.pool.park(A, T0 + 100)
    h.pool.retire(A, Reason.BANNED)
    info = h.pool.get(A)
    assert info is not None
    assert info.state is State.INVALID
    assert info.reason == Reason.BANNED
    h.clock.now = T0 + 1000
    assert h.pool.sweep() == 0
    assert h.state(A) is State.INVALID


def test_invalid_stays_invalid_and_keeps_its_first_reason() -> None:
    h = Harness(A)
    h.pool.retire(A, Reason.DISABLED)
    version = h.pool.version
    h.pool.retire(A, Reason.NULL)
    h.pool.park(A, T0 + 100)
    info = h.pool.get(A)
    assert info is not None
    assert info.state is State.INVALID
    assert info.reason == Reason.DISABLED
    assert h.pool.version == version
    assert h.kinds()[-2:] == [EventKind.IGNORED, EventKind.IGNORED]


@pytest.mark.parametrize("setup", ["valid", "invalid"])
def test_unpark_of_a_credential_that_is_not_parked_raises(setup: str) -> None:
    h = Harness(A)
    if setup == "invalid":
        h.pool.retire(A, Reason.FREE)
    with pytest.raises(IllegalTransition):
        h.pool.unpark(A)


def test_unpark_early_by_hand() -> None:
    h = Harness(A)
    h.pool.park(A, T0 + 100)
    h.pool.unpark(A)
    assert h.state(A) is State.VALID
    assert "early" in h.events[-1].message


def test_timed_reason_parks_instead_of_retiring_as_clewdr() -> None:
    h = Harness(A)
    with h.pool.acquire_nowait("web") as lease:
        lease.report(Retired(Reason.restricted(int(T0) + 3600)))
    info = h.pool.get(A)
    assert info is not None
    assert info.state is State.EXHAUSTED
    assert info.until == T0 + 3600
    assert info.reason == Reason.restricted(int(T0) + 3600)


def test_normal_pro_changes_nothing() -> None:
    h = Harness(A)
    with h.pool.acquire_nowait("web") as lease:
        lease.retired(Reason.NORMAL_PRO)
    assert h.state(A) is State.VALID
    assert h.pool.version == 0


def test_state_change_messages_mask_the_cookie() -> None:
    h = Harness(A)
    h.pool.park(A, T0 + 10)
    h.clock.now = T0 + 10
    h.pool.sweep()
    h.pool.retire(A, Reason.BANNED)
    h.pool.remove(A)
    assert len(h.events) == 4
    for event in h.events:
        assert A not in event.message
        assert event.credential == "sk-ant-sid01-0000xxxx…"
        assert event.credential in event.message


# --- membership --------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(State))
def test_adding_a_known_cookie_changes_nothing_and_says_so(state: State) -> None:
    h = Harness(A)
    if state is State.EXHAUSTED:
        h.pool.park(A, T0 + 100)
    elif state is State.INVALID:
        h.pool.retire(A, Reason.FREE)
    version, before = h.pool.version, h.pool.dump()
    result = h.pool.add("sessionKey=" + A)
    assert not result.added
    assert result.state is state
    assert f"already known ({state.value})" in result.message
    assert h.pool.version == version
    assert h.pool.dump() == before
    assert h.events[-1].kind is EventKind.ALREADY_KNOWN
    assert not h.events[-1].persist


def test_adding_a_new_cookie() -> None:
    h = Harness()
    result = h.pool.add("  sessionKey=" + A + ";")
    assert result.added
    assert result.key == A
    assert result.state is State.VALID
    assert h.pool.version == 1
    assert pick(h.pool) == A


def test_adding_garbage_raises_the_format_error() -> None:
    h = Harness()
    with pytest.raises(CookieFormatError):
        h.pool.add("hello")
    assert len(h.pool) == 0


@pytest.mark.parametrize("state", list(State))
def test_removing_finds_the_cookie_in_any_state(state: State) -> None:
    h = Harness(A, B)
    if state is State.EXHAUSTED:
        h.pool.park(A, T0 + 100)
    elif state is State.INVALID:
        h.pool.retire(A, Reason.FREE)
    result = h.pool.remove("sessionKey=" + A)
    assert result.removed
    assert result.state is state
    assert A not in h.pool
    dumped = h.pool.dump()
    assert [e["cookie"] for e in dumped["cookie_array"]] == [B]
    assert dumped["wasted_cookie"] == []


def test_removing_an_unknown_cookie_says_so() -> None:
    h = Harness(A)
    result = h.pool.remove(B)
    assert not result.removed
    assert result.state is None
    assert h.pool.remove("not even a cookie").removed is False
    assert h.pool.version == 0


def test_reports_about_a_removed_cookie_are_ignored() -> None:
    h = Harness(A)
    lease = h.pool.acquire_nowait("code")
    h.pool.remove(A)
    h.pool.add(A)  # same key, a new credential
    lease.exhausted(T0 + 100)
    lease.release()
    assert h.state(A) is State.VALID
    info = h.pool.get(A)
    assert info is not None
    assert info.in_flight == 0
    assert h.kinds()[-1] is EventKind.IGNORED


def test_admin_operations_on_an_unknown_key_raise() -> None:
    h = Harness(A)
    with pytest.raises(UnknownCredential, match="sk-ant-sid01-0001xxxx…"):
        h.pool.park(B, T0)
    with pytest.raises(KeyError):
        h.pool.retire(B, Reason.NULL)


def test_duplicate_initial_credentials_keep_the_first() -> None:
    events: list[PoolEvent] = []
    pool = Pool(
        CLAUDE_COOKIES,
        clock=Clock(),
        on_event=events.append,
        credentials=[
            StoredCredential(CookieRecord(cookie=A), State.VALID),
            StoredCredential(CookieRecord(cookie=A), State.INVALID, Reason.NULL),
        ],
    )
    assert len(pool) == 1
    info = pool.get(A)
    assert info is not None
    assert info.state is State.VALID
    assert [e.kind for e in events] == [EventKind.LOAD_WARNING]


def test_exhausted_without_a_time_starts_valid() -> None:
    pool = Pool(
        CLAUDE_COOKIES,
        clock=Clock(),
        credentials=[StoredCredential(CookieRecord(cookie=A), State.EXHAUSTED)],
    )
    info = pool.get(A)
    assert info is not None
    assert info.state is State.VALID


# --- selection ---------------------------------------------------------------------------


def test_round_robin_among_idle_credentials() -> None:
    h = Harness(A, B, C)
    assert [pick(h.pool) for _ in range(7)] == [A, B, C, A, B, C, A]


def test_fewest_in_flight_wins_over_round_robin_order() -> None:
    h = Harness(A, B, C)
    long_a = h.pool.acquire_nowait("code")
    long_b = h.pool.acquire_nowait("code")
    assert (long_a.key, long_b.key) == (A, B)
    assert [pick(h.pool) for _ in range(3)] == [C, C, C]
    long_a.release()
    assert pick(h.pool) == A
    long_b.release()


@pytest.mark.parametrize("n", [1, 3, 4, 7])
def test_fairness_under_100_concurrent_leases(n: int) -> None:
    keys = [cookie(i) for i in range(n)]
    h = Harness(*keys)
    leases = [h.pool.acquire_nowait("code") for _ in range(100)]
    spread = Counter(lease.key for lease in leases)
    assert set(spread) == set(keys)
    assert max(spread.values()) - min(spread.values()) <= 1
    assert h.pool.statistics().in_flight == 100
    assert sorted(h.pool.statistics().in_flight_by_key.values()) == sorted(spread.values())
    for lease in leases:
        lease.release()
    assert h.pool.statistics().in_flight == 0


def test_release_in_any_order_keeps_the_spread_even() -> None:
    h = Harness(A, B, C, D)
    leases = [h.pool.acquire_nowait("code") for _ in range(100)]
    for lease in leases[::3]:
        lease.release()
    for _ in range(len(leases[::3])):
        leases.append(h.pool.acquire_nowait("code"))
    held = Counter(lease.key for lease in leases if not lease.released)
    assert max(held.values()) - min(held.values()) <= 1


def test_per_credential_cap() -> None:
    h = Harness(A, B, cap=2)
    leases = [h.pool.acquire_nowait("code") for _ in range(4)]
    assert Counter(lease.key for lease in leases) == {A: 2, B: 2}
    with pytest.raises(CredentialsBusy) as info:
        h.pool.acquire_nowait("code")
    assert info.value.retry_after == 1.0
    assert isinstance(info.value, NoCredentialAvailable)
    leases[0].release()
    assert pick(h.pool) == leases[0].key


def test_cap_can_change_at_runtime() -> None:
    h = Harness(A, cap=1)
    lease = h.pool.acquire_nowait("code")
    with pytest.raises(CredentialsBusy):
        h.pool.acquire_nowait("code")
    h.pool.max_concurrent_per_credential = 0
    assert pick(h.pool) == A
    lease.release()
    with pytest.raises(ValueError, match="0"):
        h.pool.max_concurrent_per_credential = -1


def test_exclude_skips_credentials_this_request_already_tried() -> None:
    h = Harness(A, B)
    assert pick(h.pool, exclude={A}) == B
    with pytest.raises(NoCredentialAvailable, match="2 already tried") as info:
        h.pool.acquire_nowait("code", exclude={A, B})
    assert info.value.retry_after is None


# --- capabilities per route ---------------------------------------------------------------


def test_an_incapable_credential_is_skipped_for_that_route_only() -> None:
    h = Harness(A, B)
    with h.pool.acquire_nowait("code") as lease:
        assert lease.key == A
        lease.incapable(account=AccountKind.FREE)  # route defaults to the lease's
    assert [pick(h.pool, "code") for _ in range(3)] == [B, B, B]
    assert {pick(h.pool, "web") for _ in range(4)} == {A, B}
    info = h.pool.get(A)
    assert info is not None
    assert info.state is State.VALID
    assert info.capabilities.account is AccountKind.FREE
    assert info.capabilities.denied_routes == {"code"}
    assert h.pool.dump()["cookie_meta"] == [
        {"cookie": A, "account": "free", "routes": {"code": False}}
    ]


def test_nothing_for_a_route_everyone_is_denied_means_no_retry_after() -> None:
    h = Harness(A)
    h.pool.learn(A, routes={"code": False})
    with pytest.raises(NoCredentialAvailable, match="1 not allowed") as info:
        h.pool.acquire_nowait("code")
    assert info.value.retry_after is None
    assert "retry-after" not in info.value.headers
    assert pick(h.pool, "web") == A


def test_learning_the_same_thing_twice_is_not_a_change() -> None:
    h = Harness(A)
    h.pool.learn(A, AccountKind.PRO, {"code": True})
    h.pool.learn(A, AccountKind.PRO, {"code": True})
    assert h.pool.version == 1
    with h.pool.acquire_nowait("code") as lease:
        lease.report(Learned(routes={"web": True}))
    assert h.pool.version == 2


def test_incapable_without_any_route_is_a_caller_bug() -> None:
    h = Harness(A)
    with pytest.raises(ValueError, match="route"):
        h.pool._apply_outcome(h.pool._entry(A), None, Incapable())


# --- retry_after ----------------------------------------------------------------------------


def test_retry_after_is_the_earliest_reset_that_could_serve_the_route() -> None:
    h = Harness(A, B, C, D)
    h.pool.park(A, T0 + 300)
    h.pool.park(B, T0 + 120)
    h.pool.park(C, T0 + 60)
    h.pool.learn(C, routes={"code": False})  # back soonest, but not for "code"
    h.pool.retire(D, Reason.BANNED)
    h.clock.now = T0 + 20
    with pytest.raises(NoCredentialAvailable) as info:
        h.pool.acquire_nowait("code")
    assert info.value.retry_after == 100
    assert info.value.headers["retry-after"] == "100"
    assert info.value.status == 503
    assert "2 exhausted" in info.value.message
    assert "1 invalid" in info.value.message
    with pytest.raises(NoCredentialAvailable) as info:
        h.pool.acquire_nowait("web")
    assert info.value.retry_after == 40


def test_all_invalid_means_no_retry_after() -> None:
    h = Harness(A)
    h.pool.retire(A, Reason.NULL)
    with pytest.raises(NoCredentialAvailable) as info:
        h.pool.acquire_nowait("code")
    assert info.value.retry_after is None


def test_empty_pool() -> None:
    with pytest.raises(NoCredentialAvailable, match="no cookie configured") as info:
        Harness().pool.acquire_nowait("code")
    assert info.value.retry_after is None


# --- sticky routing -----------------------------------------------------------------------


def test_sticky_key_prefers_the_credential_that_served_it() -> None:
    h = Harness(A, B, C)
    first = pick(h.pool, sticky_key="prefix-1")
    busy = h.pool.acquire_nowait("code", sticky_key="prefix-1")  # more in flight: still it
    assert busy.key == first
    assert pick(h.pool, sticky_key="prefix-1") == first
    busy.release()
    assert pick(h.pool, sticky_key="prefix-2") != first


@pytest.mark.parametrize("why", ["exhausted", "invalid", "denied", "capped", "removed"])
def test_sticky_credential_that_cannot_serve_is_replaced_and_remembered(why: str) -> None:
    h = Harness(A, B, C, cap=1)
    assert pick(h.pool, sticky_key="p") == A
    held = None
    if why == "exhausted":
        h.pool.park(A, T0 + 60)
    elif why == "invalid":
        h.pool.retire(A, Reason.NULL)
    elif why == "denied":
        h.pool.learn(A, routes={"code": False})
    elif why == "capped":
        held = h.pool.acquire_nowait("code", sticky_key="p")
        assert held.key == A
    else:
        h.pool.remove(A)
    replacement = pick(h.pool, sticky_key="p")
    assert replacement != A
    assert pick(h.pool, sticky_key="p") == replacement
    if held is not None:
        held.release()


def test_sticky_memo_forgets_after_an_hour_idle() -> None:
    h = Harness(A, B)
    assert pick(h.pool, sticky_key="p") == A
    h.clock.now = T0 + 3599
    assert pick(h.pool, sticky_key="p") == A  # refreshed
    h.clock.now = T0 + 3599 + 3600
    # Round robin is on B now; the memo for "p" has expired, so "p" follows it.
    assert pick(h.pool, sticky_key="p") == B


def test_memo_holds_1000_keys_and_evicts_the_least_recently_used() -> None:
    memo = StickyMemo()
    for i in range(1000):
        memo.put(f"k{i}", A, now=T0 + i)
    assert memo.get("k0", now=T0 + 1000) == A  # k0 is now the most recent
    memo.put("k1000", B, now=T0 + 1001)
    assert len(memo) == 1000
    assert "k1" not in memo  # the least recently used went
    assert "k0" in memo
    assert "k2" in memo
    assert memo.get("k1000", T0 + 1002) == B


def test_memo_idle_expiry_boundary() -> None:
    memo = StickyMemo(capacity=10, idle_seconds=3600)
    memo.put("a", A, now=0)
    memo.put("b", B, now=100)
    assert memo.get("a", now=3599.9) == A
    assert memo.get("b", now=3700) is None  # exactly 1 h idle: gone
    assert memo.get("a", now=3599.9 + 3599) == A
    assert memo.expire(now=10**6) == 1
    assert len(memo) == 0


def test_memo_rejects_zero_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        StickyMemo(capacity=0)


def test_sweep_expires_idle_sticky_keys() -> None:
    h = Harness(A)
    pick(h.pool, sticky_key="p")
    h.clock.now = T0 + 3600
    h.pool.sweep()
    assert len(h.pool._memo) == 0


# --- leases -------------------------------------------------------------------------------


def test_lease_is_returned_on_success() -> None:
    h = Harness(A)
    with h.pool.acquire_nowait("code") as lease:
        assert h.pool.statistics().in_flight_by_key == {A: 1}
        lease.succeeded()
    assert lease.released
    assert h.pool.statistics().in_flight == 0


def test_lease_is_returned_on_error() -> None:
    h = Harness(A)
    with pytest.raises(RuntimeError), h.pool.acquire_nowait("code"):
        raise RuntimeError("upstream blew up")
    assert h.pool.statistics().in_flight == 0


def test_lease_is_returned_on_base_exception() -> None:
    class Cancelled(BaseException):
        pass

    h = Harness(A)
    with pytest.raises(Cancelled), h.pool.acquire_nowait("code"):
        raise Cancelled
    assert h.pool.statistics().in_flight == 0


def test_release_is_idempotent() -> None:
    h = Harness(A)
    other = h.pool.acquire_nowait("code")
    lease = h.pool.acquire_nowait("code")
    lease.release()
    lease.release()
    with lease:
        pass
    assert h.pool.statistics().in_flight == 1
    other.release()


def test_reports_after_release_still_count() -> None:
    h = Harness(A)
    with h.pool.acquire_nowait("code") as lease:
        pass
    lease.succeeded(TokenUsage("claude-opus-4", 3, 4))
    info = h.pool.get(A)
    assert info is not None
    assert info.record.weekly_opus_usage.opus_output_tokens == 4


def test_lease_record_follows_updates_and_repr_is_masked() -> None:
    h = Harness(A)
    token = OAuthToken("at", 3600, "org", "rt", T0 + 3600)
    with h.pool.acquire_nowait("code") as lease:
        assert lease.record.token is None
        lease.report(token_stored(token))
        assert lease.record.token == token
        assert A not in repr(lease)
        assert lease.masked in repr(lease)
    assert h.events[-1].message.endswith("OAuth token stored")
    assert h.pool.dump()["cookie_array"][0]["token"]["access_token"] == "at"


def test_an_update_may_not_change_the_key() -> None:
    h = Harness(A)
    with pytest.raises(ValueError, match="key"):
        h.pool.update(A, lambda r: CookieRecord(cookie=B), "swap")


def test_an_update_that_changes_nothing_is_not_saved() -> None:
    h = Harness(A)
    h.pool.update(A, lambda r: r, "nothing")
    with h.pool.acquire_nowait("code") as lease:
        lease.report(Succeeded())
        lease.report(Succeeded(TokenUsage("m", 0, 0)))
    assert h.pool.version == 0
    assert h.events == []


def test_outcomes_reported_by_value() -> None:
    h = Harness(A, B)
    with h.pool.acquire_nowait("code") as lease:
        lease.report(Exhausted(T0 + 5))
    assert h.state(A) is State.EXHAUSTED


# --- statistics and upkeep ------------------------------------------------------------------


def test_statistics_is_a_frozen_snapshot() -> None:
    h = Harness(A, B, C)
    h.pool.park(B, T0 + 10)
    h.pool.retire(C, Reason.FREE)
    lease = h.pool.acquire_nowait("code")
    stats = h.pool.statistics()
    assert (stats.valid, stats.exhausted, stats.invalid, stats.in_flight) == (1, 1, 1, 1)
    assert stats.version == h.pool.version
    assert stats.in_flight_by_key == {A: 1, B: 0, C: 0}
    with pytest.raises(AttributeError):
        stats.valid = 5  # type: ignore[misc]
    lease.release()
    assert stats.in_flight == 1


def test_sweep_rolls_usage_windows_over_and_saves() -> None:
    h = Harness(A)
    h.pool.update(
        A,
        lambda r: CookieRecord(
            cookie=A, session_has_reset=True, session_resets_at=int(T0) + 10
        ).with_usage(TokenUsage("m", 5, 5)),
        "seed",
    )
    version = h.pool.version
    h.pool.sweep()
    assert h.pool.version == version
    h.clock.now = T0 + 10
    h.pool.sweep()
    info = h.pool.get(A)
    assert info is not None
    assert info.record.session_usage == UsageBucket()
    assert h.pool.version == version + 1


def test_version_counts_only_saved_changes() -> None:
    h = Harness(A, B)
    for _ in range(5):
        pick(h.pool)
    assert h.pool.version == 0
    h.pool.add(C)
    h.pool.park(A, T0 + 1)
    assert h.pool.version == 2
    assert [e.version for e in h.events] == [1, 2]


# --- the package surface ---------------------------------------------------------------


def test_public_names_are_all_exported_and_exist() -> None:
    import llmproxy.credentials as package

    for name in package.__all__:
        assert hasattr(package, name), name
    public = {n for n in vars(package) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(package, n)).__name__ == "module"}
    assert public - modules == set(package.__all__)


def test_the_credentials_package_does_no_io() -> None:
    import ast
    import pathlib

    import llmproxy.credentials as package

    forbidden = {"trio", "anyio", "httpx", "asyncio", "socket", "os", "pathlib"}
    for path in pathlib.Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
