"""The three states of a pooled credential and every allowed move between them.

Rule: every change of a credential's state goes through :func:`next_state`, and the
table below is the whole of what is allowed. A test reads it line by line.

::

        add ─► VALID ──── park(until) ───► EXHAUSTED ──┐
                 ▲  ◄──── unpark (time passed) ───┘    │ park again: later time wins
                 │                                     │
                 └──── retire(reason) ─► INVALID ◄─────┘ retire
                                           │
                                           └─ park / retire again: stays, first reason kept

Why the self-loops on EXHAUSTED and INVALID are legal: a credential often serves
several requests at once, and each may come back with the same bad news. The second
``park`` of an exhausted credential, or a ``park`` arriving after another lease has
retired it, is not a bug. ``unpark`` of a credential that is not parked is one.

Adding and removing are not state changes: a credential either is in the pool, in
exactly one state, or is not there at all.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from llmproxy.credentials.errors import IllegalTransition

__all__ = ["TRANSITIONS", "Event", "State", "next_state"]


class State(enum.Enum):
    VALID = "valid"
    EXHAUSTED = "exhausted"
    INVALID = "invalid"


class Event(enum.Enum):
    PARK = "park"
    UNPARK = "unpark"
    RETIRE = "retire"


TRANSITIONS: Mapping[tuple[State, Event], State] = {
    (State.VALID, Event.PARK): State.EXHAUSTED,
    (State.VALID, Event.RETIRE): State.INVALID,
    (State.EXHAUSTED, Event.PARK): State.EXHAUSTED,
    (State.EXHAUSTED, Event.UNPARK): State.VALID,
    (State.EXHAUSTED, Event.RETIRE): State.INVALID,
    (State.INVALID, Event.PARK): State.INVALID,
    (State.INVALID, Event.RETIRE): State.INVALID,
}


def next_state(state: State, event: Event, masked_key: str = "?") -> State:
    """The state after ``event``.

    Raises:
        IllegalTransition: ``(state, event)`` is not in :data:`TRANSITIONS`.
    """
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event, masked_key) from None
