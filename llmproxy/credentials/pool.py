"""The credential pool: hands out credentials, takes back their news, never awaits.

Theory of operation
-------------------
The pool is a synchronous state machine (sans-IO, like h11's ``Connection``). Every
method runs to completion without awaiting, so under trio (one thread, cooperative)
no other task can see a half-made change; there is no lock. The clock is injected
(``clock() -> epoch seconds``) so tests move time by hand.

A request borrows a credential with :meth:`Pool.acquire_nowait`, which returns a
:class:`Lease`. The lease counts as one request in flight on that credential until
it is released, and it is a context manager, so leaving the ``with`` block in any
way (return, exception, trio cancellation) releases it. While holding it, the
request reports what it learned (:mod:`.outcomes`): success with token usage, a
rate limit, a dead account, a route the account may not use.

Choosing a credential, in order:

1. credentials whose parking time has passed go back to valid (on every pick, and
   on :meth:`Pool.sweep` for a timer);
2. if the request has a sticky key (a hash of its cached system prompt) and the
   credential remembered for it can serve, that one (prompt caching is per account);
3. otherwise the valid credential allowed on the route with the fewest requests in
   flight, ties broken by least recently picked (round robin among equals). With
   ``max_concurrent_per_credential`` > 0, a credential at the cap is skipped.

ClewdR picks plain round robin, blind to load; with long streams that piles requests
on one account while another idles. Fewest-in-flight is round robin when requests
are short and spreads them evenly when they are not.

Nothing to pick raises :class:`~llmproxy.errors.NoCredentialAvailable` with
``retry_after`` = seconds until the earliest parked credential that could serve the
route returns (``None`` if none ever will), or :class:`CredentialsBusy` when usable
credentials exist but all are at the cap.

Every change worth saving bumps :attr:`Pool.version` and is announced as a
:class:`PoolEvent` through the injected ``on_event`` callable, with the credential
masked and a ready log message. The saver task listens to those (or polls
``version``), coalesces bursts, and writes :meth:`Pool.dump` to the config file.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from llmproxy.credentials.capabilities import AccountKind, Capabilities
from llmproxy.credentials.errors import CredentialsBusy, NoCredentialAvailable, UnknownCredential
from llmproxy.credentials.kinds import CredentialKind, PoolRecord, StoredCredential
from llmproxy.credentials.outcomes import (
    Exhausted,
    Incapable,
    Learned,
    Outcome,
    Retired,
    Succeeded,
    TokenUsage,
    Updated,
)
from llmproxy.credentials.reasons import Reason, ReasonKind, format_utc
from llmproxy.credentials.states import Event, State, next_state
from llmproxy.credentials.sticky import StickyMemo

__all__ = [
    "AddResult",
    "CredentialInfo",
    "EventKind",
    "Lease",
    "Pool",
    "PoolEvent",
    "PoolStatistics",
    "RemoveResult",
]

R = TypeVar("R", bound=PoolRecord)

# Retry-After hint when every usable credential is busy: a lease usually ends soon.
_BUSY_RETRY_AFTER = 1.0


class EventKind(enum.Enum):
    ADDED = "added"
    ALREADY_KNOWN = "already_known"
    REMOVED = "removed"
    PARKED = "parked"
    UNPARKED = "unparked"
    RETIRED = "retired"
    LEARNED = "learned"
    UPDATED = "updated"
    USAGE = "usage"
    LOAD_WARNING = "load_warning"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class PoolEvent:
    """Something happened in the pool.

    Attributes:
        kind: What happened.
        credential: The credential, masked (never the secret itself).
        message: A complete log line, masked.
        level: A :mod:`logging` level for it.
        persist: The saved document changed; the saver should write.
        version: :attr:`Pool.version` after the change.
    """

    kind: EventKind
    credential: str
    message: str
    level: int
    persist: bool
    version: int


@dataclass(frozen=True, slots=True)
class AddResult:
    """``added`` is False when the key was already known; ``state`` is where it is."""

    key: str
    added: bool
    state: State
    message: str


@dataclass(frozen=True, slots=True)
class RemoveResult:
    """``state`` is the state it was removed from, ``None`` if it was not there."""

    key: str
    removed: bool
    state: State | None
    message: str


@dataclass(frozen=True, slots=True)
class CredentialInfo(Generic[R]):
    """A snapshot of one credential, for the admin page."""

    key: str
    masked: str
    state: State
    record: R
    reason: Reason | None
    capabilities: Capabilities
    in_flight: int
    until: float | None


@dataclass(frozen=True, slots=True)
class PoolStatistics(Generic[R]):
    """Counts per state, requests in flight, and a snapshot of every credential."""

    valid: int
    exhausted: int
    invalid: int
    in_flight: int
    version: int
    credentials: tuple[CredentialInfo[R], ...]

    @property
    def in_flight_by_key(self) -> dict[str, int]:
        return {c.key: c.in_flight for c in self.credentials}


@dataclass(slots=True, eq=False)
class _Entry(Generic[R]):
    """The pool's private, mutable bookkeeping for one credential."""

    record: R
    state: State
    reason: Reason | None
    capabilities: Capabilities
    order: int
    in_flight: int = 0
    last_pick: int = 0
    park_reason: Reason | None = field(default=None)

    @property
    def key(self) -> str:
        return self.record.key


class Lease(Generic[R]):
    """One request's hold on one credential. Release it exactly once: use ``with``.

    Reports (:meth:`report` and the shorthands) may be made while holding the lease
    or after releasing it; a report about a credential that has since been removed
    from the pool is ignored.
    """

    __slots__ = ("_entry", "_pool", "_released", "route")

    def __init__(self, pool: Pool[R], entry: _Entry[R], route: str) -> None:
        self._pool = pool
        self._entry = entry
        self._released = False
        self.route = route

    @property
    def key(self) -> str:
        """The credential itself (the cookie value to send upstream)."""
        return self._entry.key

    @property
    def masked(self) -> str:
        return self._pool.kind.mask(self._entry.key)

    @property
    def record(self) -> R:
        """The credential's current record (immutable; change it by reporting)."""
        return self._entry.record

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Return the credential. Calling it again does nothing."""
        if not self._released:
            self._released = True
            self._entry.in_flight = max(0, self._entry.in_flight - 1)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"<Lease {self.masked} route={self.route!r} {state}>"

    def report(self, outcome: Outcome[R]) -> None:
        """Tell the pool what this request learned about the credential."""
        self._pool._apply_outcome(self._entry, self.route, outcome)

    def succeeded(self, usage: TokenUsage | None = None) -> None:
        self.report(Succeeded(usage))

    def exhausted(self, until: float, reason: Reason | None = None) -> None:
        self.report(Exhausted(until, reason))

    def retired(self, reason: Reason) -> None:
        self.report(Retired(reason))

    def incapable(self, route: str | None = None, account: AccountKind | None = None) -> None:
        self.report(Incapable(route, account))

    def learned(
        self, account: AccountKind | None = None, routes: Mapping[str, bool] | None = None
    ) -> None:
        self.report(Learned(account, dict(routes or {})))

    def update(self, change: Callable[[R], R], what: str) -> None:
        self.report(Updated(change, what))


class Pool(Generic[R]):
    """A pool of credentials of one kind. See the module docstring.

    Args:
        kind: The credential kind (parsing, masking, file format).
        clock: Returns the current time in epoch seconds.
        credentials: The initial credentials, e.g. ``kind.load(doc, now=…).credentials``.
        max_concurrent_per_credential: Requests in flight per credential; 0 = no cap.
        on_event: Called synchronously with every :class:`PoolEvent`. Keep it quick
            and non-raising (log it, set a trio Event for the saver).
        sticky_capacity: How many sticky keys to remember.
        sticky_idle_seconds: How long an unused sticky key is remembered.
    """

    def __init__(
        self,
        kind: CredentialKind[R],
        *,
        clock: Callable[[], float],
        credentials: Iterable[StoredCredential[R]] = (),
        max_concurrent_per_credential: int = 0,
        on_event: Callable[[PoolEvent], None] | None = None,
        sticky_capacity: int = 1000,
        sticky_idle_seconds: float = 3600.0,
    ) -> None:
        self.kind = kind
        self._clock = clock
        self._on_event = on_event
        self._entries: dict[str, _Entry[R]] = {}
        self._memo = StickyMemo(capacity=sticky_capacity, idle_seconds=sticky_idle_seconds)
        self._version = 0
        self._picks = 0
        self._orders = 0
        self._next_due: float | None = None
        self.max_concurrent_per_credential = max_concurrent_per_credential
        for stored in credentials:
            self._insert(stored)

    @classmethod
    def from_document(
        cls,
        kind: CredentialKind[R],
        document: Mapping[str, Any],
        *,
        clock: Callable[[], float],
        on_event: Callable[[PoolEvent], None] | None = None,
        **options: Any,
    ) -> Pool[R]:
        """Build a pool from a parsed config document; load warnings become events."""
        loaded = kind.load(document, now=clock())
        pool = cls(kind, clock=clock, on_event=on_event, **options)
        for warning in loaded.warnings:
            pool._emit(EventKind.LOAD_WARNING, "-", warning, logging.WARNING, persist=False)
        for stored in loaded.credentials:
            pool._insert(stored)
        return pool

    # --- reading -------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Increases by one with every change the saved document should reflect."""
        return self._version

    @property
    def max_concurrent_per_credential(self) -> int:
        return self._cap

    @max_concurrent_per_credential.setter
    def max_concurrent_per_credential(self, value: int) -> None:
        if value < 0:
            raise ValueError("max_concurrent_per_credential must be 0 (no cap) or more")
        self._cap = value

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def get(self, key: str) -> CredentialInfo[R] | None:
        entry = self._entries.get(key)
        return None if entry is None else self._info(entry)

    def statistics(self) -> PoolStatistics[R]:
        infos = tuple(self._info(e) for e in self._entries.values())
        count = {state: 0 for state in State}
        for info in infos:
            count[info.state] += 1
        return PoolStatistics(
            valid=count[State.VALID],
            exhausted=count[State.EXHAUSTED],
            invalid=count[State.INVALID],
            in_flight=sum(i.in_flight for i in infos),
            version=self._version,
            credentials=infos,
        )

    def next_reset(self) -> float | None:
        """The earliest time a parked credential returns (for the sweeper's sleep)."""
        times = [_until(e) for e in self._entries.values() if e.state is State.EXHAUSTED]
        return min(times) if times else None

    def export(self) -> tuple[StoredCredential[R], ...]:
        """Every credential as it should be persisted, in insertion order."""
        return tuple(
            StoredCredential(e.record, e.state, e.reason, e.capabilities)
            for e in self._entries.values()
        )

    def dump(self) -> dict[str, Any]:
        """The kind's tables for the config writer (plain dicts, lists, scalars)."""
        return self.kind.dump(self.export())

    # --- membership ------------------------------------------------------------------

    def add(self, text: str) -> AddResult:
        """Add a credential from user text; a known one (in any state) is left alone.

        Raises:
            ValueError: ``text`` is not a credential of this kind (for cookies,
                :class:`~llmproxy.credentials.errors.CookieFormatError`).
        """
        key = self.kind.parse_key(text)
        masked = self.kind.mask(key)
        existing = self._entries.get(key)
        if existing is not None:
            message = f"{self.kind.name} {masked} is already known ({existing.state.value});"
            message += " nothing changed"
            self._emit(EventKind.ALREADY_KNOWN, masked, message, logging.INFO, persist=False)
            return AddResult(key, False, existing.state, message)
        self._insert(StoredCredential(self.kind.new_record(key), State.VALID))
        message = f"{self.kind.name} {masked} added{self._counts()}"
        self._emit(EventKind.ADDED, masked, message, logging.INFO, persist=True)
        return AddResult(key, True, State.VALID, message)

    def remove(self, text: str) -> RemoveResult:
        """Remove a credential from whichever state holds it.

        ``text`` may be the stored key or any accepted form of it. Leases still held
        on it finish normally; their reports are ignored.
        """
        try:
            key = self.kind.parse_key(text)
        except ValueError:
            key = text
        masked = self.kind.mask(key)
        entry = self._entries.pop(key, None)
        if entry is None:
            return RemoveResult(key, False, None, f"{self.kind.name} {masked} is not in the pool")
        message = f"{self.kind.name} {masked} removed (was {entry.state.value}){self._counts()}"
        self._emit(EventKind.REMOVED, masked, message, logging.INFO, persist=True)
        return RemoveResult(key, True, entry.state, message)

    # --- handing out -----------------------------------------------------------------

    def acquire_nowait(
        self, route: str, sticky_key: str | None = None, *, exclude: Collection[str] = ()
    ) -> Lease[R]:
        """Lend a credential for one request on ``route``.

        Args:
            route: The route or capability name (``"code"``, ``"web"``); credentials
                denied on it are skipped.
            sticky_key: A hash of the request's cached prompt prefix, if any.
            exclude: Keys this request already tried (the retry loop's memory).

        Returns:
            A held :class:`Lease`; use it as a context manager.

        Raises:
            CredentialsBusy: Every usable credential is at the concurrency cap.
            NoCredentialAvailable: Nothing can serve now; ``retry_after`` says when
                the first parked credential returns, ``None`` if none will.
        """
        now = self._clock()
        self._unpark_due(now)
        chosen: _Entry[R] | None = None
        if sticky_key is not None:
            remembered = self._memo.get(sticky_key, now)
            if remembered is not None and remembered not in exclude:
                entry = self._entries.get(remembered)
                if entry is not None and self._can_serve(entry, route):
                    chosen = entry
        if chosen is None:
            for entry in self._entries.values():
                if entry.key in exclude or not self._can_serve(entry, route):
                    continue
                if chosen is None or (entry.in_flight, entry.last_pick, entry.order) < (
                    chosen.in_flight,
                    chosen.last_pick,
                    chosen.order,
                ):
                    chosen = entry
            if chosen is None:
                raise self._unavailable(route, now, exclude)
            if sticky_key is not None:
                self._memo.put(sticky_key, chosen.key, now)
        self._picks += 1
        chosen.last_pick = self._picks
        chosen.in_flight += 1
        return Lease(self, chosen, route)

    def sweep(self) -> int:
        """Time-based upkeep for a background timer; returns how many were unparked.

        Unparks credentials whose time has passed, lets records roll over their usage
        windows, and forgets idle sticky keys.
        """
        now = self._clock()
        unparked = self._unpark_due(now)
        for entry in self._entries.values():
            refreshed = entry.record.refreshed(now)
            if refreshed is not entry.record:
                entry.record = refreshed
                masked = self.kind.mask(entry.key)
                self._emit(
                    EventKind.UPDATED,
                    masked,
                    f"{self.kind.name} {masked}: usage window rolled over",
                    logging.DEBUG,
                    persist=True,
                )
        self._memo.expire(now)
        return unparked

    # --- changing state by key (admin) -----------------------------------------------

    def park(self, key: str, until: float, reason: Reason | None = None) -> None:
        self._apply_outcome(self._entry(key), None, Exhausted(until, reason))

    def retire(self, key: str, reason: Reason) -> None:
        self._apply_outcome(self._entry(key), None, Retired(reason))

    def unpark(self, key: str) -> None:
        """Return a parked credential to valid now.

        Raises:
            IllegalTransition: It is not exhausted.
        """
        self._unpark(self._entry(key), early=True)

    def learn(
        self,
        key: str,
        account: AccountKind | None = None,
        routes: Mapping[str, bool] | None = None,
    ) -> None:
        self._apply_outcome(self._entry(key), None, Learned(account, dict(routes or {})))

    def update(self, key: str, change: Callable[[R], R], what: str) -> None:
        self._apply_outcome(self._entry(key), None, Updated(change, what))

    # --- internals -------------------------------------------------------------------

    def _entry(self, key: str) -> _Entry[R]:
        entry = self._entries.get(key)
        if entry is None:
            raise UnknownCredential(f"no {self.kind.name} {self.kind.mask(key)} in the pool")
        return entry

    def _insert(self, stored: StoredCredential[R]) -> None:
        key = stored.record.key
        masked = self.kind.mask(key)
        if key in self._entries:
            message = f"{self.kind.name} {masked} listed twice; the first entry is kept"
            self._emit(EventKind.LOAD_WARNING, masked, message, logging.WARNING, persist=False)
            return
        state, record = stored.state, stored.record
        if state is State.EXHAUSTED and record.reset_time is None:
            state = State.VALID  # parked without a time: nothing to wait for
        self._orders += 1
        self._entries[key] = _Entry(
            record, state, stored.reason, stored.capabilities, order=self._orders
        )
        if state is State.EXHAUSTED:
            self._note_due(_until(self._entries[key]))

    def _can_serve(self, entry: _Entry[R], route: str) -> bool:
        return (
            entry.state is State.VALID
            and entry.capabilities.allows(route)
            and (self._cap == 0 or entry.in_flight < self._cap)
        )

    def _unavailable(self, route: str, now: float, exclude: Collection[str]) -> Exception:
        name = self.kind.name
        candidates = [
            e
            for e in self._entries.values()
            if e.capabilities.allows(route) and e.key not in exclude
        ]
        denied = sum(1 for e in self._entries.values() if not e.capabilities.allows(route))
        busy = [e for e in candidates if e.state is State.VALID]
        # Every resting credential counts for Retry-After, including ones this request
        # already tried: the client's retry is a new request with a fresh memory.
        parked = [
            _until(e)
            for e in self._entries.values()
            if e.capabilities.allows(route) and e.state is State.EXHAUSTED
        ]
        invalid = sum(1 for e in self._entries.values() if e.state is State.INVALID)
        if not self._entries:
            return NoCredentialAvailable(f"no {name} configured", retry_after=None)
        if busy:
            return CredentialsBusy(
                f"every usable {name} for the {route!r} route is serving"
                f" {self._cap} requests already",
                retry_after=_BUSY_RETRY_AFTER,
            )
        parts = []
        retry_after = None
        if parked:
            retry_after = max(0.0, min(parked) - now)
            parts.append(f"{len(parked)} exhausted (the first returns in {retry_after:.0f} s)")
        if invalid:
            parts.append(f"{invalid} invalid")
        if denied:
            parts.append(f"{denied} not allowed on this route")
        if exclude:
            parts.append(f"{len(exclude)} already tried")
        detail = ", ".join(parts) or "none usable"
        return NoCredentialAvailable(
            f"no {name} can serve the {route!r} route now: {detail}", retry_after=retry_after
        )

    def _note_due(self, until: float) -> None:
        if self._next_due is None or until < self._next_due:
            self._next_due = until

    def _unpark_due(self, now: float) -> int:
        if self._next_due is None or now < self._next_due:
            return 0
        self._next_due = None
        unparked = 0
        for entry in list(self._entries.values()):
            if entry.state is not State.EXHAUSTED:
                continue
            until = _until(entry)
            if until <= now:
                self._unpark(entry, early=False)
                unparked += 1
            else:
                self._note_due(until)
        return unparked

    def _unpark(self, entry: _Entry[R], *, early: bool) -> None:
        masked = self.kind.mask(entry.key)
        entry.state = next_state(entry.state, Event.UNPARK, masked)
        entry.record = entry.record.unparked()
        entry.park_reason = None
        why = "returned early by request" if early else "its reset time has passed"
        message = f"{self.kind.name} {masked} is valid again: {why}{self._counts()}"
        self._emit(EventKind.UNPARKED, masked, message, logging.INFO, persist=True)

    def _apply_outcome(self, entry: _Entry[R], route: str | None, outcome: Outcome[R]) -> None:
        masked = self.kind.mask(entry.key)
        if self._entries.get(entry.key) is not entry:
            message = f"{self.kind.name} {masked} was removed; report ignored"
            self._emit(EventKind.IGNORED, masked, message, logging.DEBUG, persist=False)
            return
        match outcome:
            case Succeeded(usage=None):
                pass
            case Succeeded(usage=TokenUsage() as usage):
                self._replace_record(
                    entry,
                    entry.record.with_usage(usage),
                    EventKind.USAGE,
                    f"usage +{usage.input_tokens} in, +{usage.output_tokens} out ({usage.model})",
                    logging.DEBUG,
                )
            case Exhausted(until=until, reason=reason):
                self._park(entry, until, reason)
            case Retired(reason=reason) if reason.until is not None:
                self._park(entry, reason.until, reason)  # ClewdR: timed reasons park
            case Retired(reason=reason) if reason.kind is ReasonKind.NORMAL_PRO:
                message = f"{self.kind.name} {masked}: {reason}; kept valid (ClewdR's rule)"
                self._emit(EventKind.IGNORED, masked, message, logging.DEBUG, persist=False)
            case Retired(reason=reason):
                self._retire(entry, reason)
            case Incapable(route=denied, account=account):
                target = denied or route
                if target is None:
                    raise ValueError("Incapable() without a route needs a lease to name one")
                self._learn(entry, account, {target: False})
            case Learned(account=account, routes=routes):
                self._learn(entry, account, routes)
            case Updated(change=change, what=what):
                self._replace_record(
                    entry, change(entry.record), EventKind.UPDATED, what, logging.INFO
                )

    def _park(self, entry: _Entry[R], until: float, reason: Reason | None) -> None:
        masked = self.kind.mask(entry.key)
        before = entry.state
        after = next_state(before, Event.PARK, masked)
        if before is State.INVALID:
            message = f"{self.kind.name} {masked} is retired; a later rate limit changes nothing"
            self._emit(EventKind.IGNORED, masked, message, logging.DEBUG, persist=False)
            return
        if before is State.EXHAUSTED:
            until = max(until, _until(entry))
            if until == _until(entry):
                return  # the same news twice
        reason = reason or Reason.too_many_requests(int(until))
        entry.state = after
        entry.record = entry.record.parked(until)
        entry.park_reason = reason
        self._note_due(_until(entry))
        message = (
            f"{self.kind.name} {masked} exhausted until {format_utc(_until(entry))}"
            f" ({reason}){self._counts()}"
        )
        self._emit(EventKind.PARKED, masked, message, logging.WARNING, persist=True)

    def _retire(self, entry: _Entry[R], reason: Reason) -> None:
        masked = self.kind.mask(entry.key)
        before = entry.state
        after = next_state(before, Event.RETIRE, masked)
        if before is State.INVALID:
            message = f"{self.kind.name} {masked} is already retired ({entry.reason}); kept"
            self._emit(EventKind.IGNORED, masked, message, logging.DEBUG, persist=False)
            return
        entry.state = after
        entry.reason = reason
        entry.park_reason = None
        message = f"{self.kind.name} {masked} retired: {reason}{self._counts()}"
        self._emit(EventKind.RETIRED, masked, message, logging.WARNING, persist=True)

    def _learn(
        self, entry: _Entry[R], account: AccountKind | None, routes: Mapping[str, bool]
    ) -> None:
        learned = entry.capabilities.learned(account=account, routes=routes)
        if learned == entry.capabilities:
            return
        entry.capabilities = learned
        masked = self.kind.mask(entry.key)
        facts = [f"account {learned.account.value}"]
        facts += [f"route {r!r} {'allowed' if ok else 'denied'}" for r, ok in routes.items()]
        message = f"{self.kind.name} {masked} learned: {', '.join(facts)}"
        self._emit(EventKind.LEARNED, masked, message, logging.INFO, persist=True)

    def _replace_record(
        self, entry: _Entry[R], record: R, kind: EventKind, what: str, level: int
    ) -> None:
        if record.key != entry.key:
            raise ValueError("a record update must not change the credential's key")
        if record == entry.record:
            return
        entry.record = record
        masked = self.kind.mask(entry.key)
        self._emit(kind, masked, f"{self.kind.name} {masked}: {what}", level, persist=True)

    def _info(self, entry: _Entry[R]) -> CredentialInfo[R]:
        return CredentialInfo(
            key=entry.key,
            masked=self.kind.mask(entry.key),
            state=entry.state,
            record=entry.record,
            reason=entry.reason if entry.state is State.INVALID else entry.park_reason,
            capabilities=entry.capabilities,
            in_flight=entry.in_flight,
            until=_until(entry) if entry.state is State.EXHAUSTED else None,
        )

    def _counts(self) -> str:
        count = {state: 0 for state in State}
        for entry in self._entries.values():
            count[entry.state] += 1
        return (
            f" [valid {count[State.VALID]}, exhausted {count[State.EXHAUSTED]},"
            f" invalid {count[State.INVALID]}]"
        )

    def _emit(
        self, kind: EventKind, masked: str, message: str, level: int, *, persist: bool
    ) -> None:
        if persist:
            self._version += 1
        if self._on_event is not None:
            self._on_event(PoolEvent(kind, masked, message, level, persist, self._version))


def _until(entry: _Entry[Any]) -> float:
    reset = entry.record.reset_time
    return float(reset) if reset is not None else 0.0
