"""claude.ai's completion stream, turned into the canonical event stream.

claude.ai answers ``…/completion`` with server-sent events that look like the
Messages API's but are not (protocols.md §4.5): ``message_start`` has no
``usage`` and a ``chatcompl_…`` id, blocks carry ``start_timestamp`` /
``stop_timestamp`` / ``flags`` / ``citations``, ``message_delta`` has no
``usage``, a ``message_limit`` event reports the account's quota, thinking
blocks stream ``thinking_summary_delta``, and claude.ai's own tools (web search,
artifacts) show up as ``tool_use`` and ``tool_result`` blocks. The official
SDK's ``messages.stream()`` helper rejects several of these (§1.11): it needs
``usage`` in ``message_start`` and ``message_delta``, an empty ``text`` /
``thinking`` in every block start, and block indices that are positions in the
final ``content`` list. Older accounts, and requests with ``rendering_mode:
"raw"``, get the legacy format instead: ``completion`` events carrying text
deltas and, on the last one, a ``stop_reason``.

:class:`WebStream` takes either format one parsed event at a time and returns
the canonical events (interfaces.md; protocols.md §1.8) to send on. It performs
no I/O and never raises on odd input: what it cannot use, it drops.

Rules
-----

``message_start``
    Rebuilt: ``id`` kept if it already looks like an API id (``msg_…``),
    otherwise made by ``message_id_factory``; ``model`` is the model the client
    asked for (claude.ai may name another); ``usage`` carries the caller's input
    estimate; claude.ai's ``uuid``, ``parent_uuid``, ``trace_id``,
    ``request_id`` and the like are dropped. A content event that arrives
    before any ``message_start`` gets one made up in front of it.
blocks
    ``text`` and ``thinking`` blocks pass, with only the API's fields; a start
    that already holds text becomes an empty start plus one delta. A
    ``redacted_thinking`` block passes whole. Every other block type is
    claude.ai's own machinery (its web-search and artifact ``tool_use`` calls,
    their ``tool_result`` blocks, knowledge cards): the block is dropped with
    all its deltas, because the client did not ask for those tools and could not
    answer them. A ``tool_use`` block is kept only when its name is one of
    ``client_tools``. Kept blocks are renumbered 0, 1, 2… in the order they are
    sent, whatever indices claude.ai used; a block still open when the next one
    starts, or when the message ends, is closed first.
deltas
    ``text_delta``, ``thinking_delta``, ``signature_delta`` and (for a kept
    ``tool_use``) ``input_json_delta`` pass with only their API fields, when they
    match their block's type. ``thinking_summary_delta``, ``citations_delta``
    (citations are not kept) and anything unknown are dropped. A text or
    thinking delta for a block that never started gets a start made up for it.
``message_delta``
    ``delta`` is reduced to ``stop_reason`` and ``stop_sequence``; a stop reason
    the API does not have, or none at all, becomes ``end_turn``, and
    ``tool_use`` becomes ``end_turn`` when no ``tool_use`` block was kept (the
    client has nothing to answer). ``usage`` is ``{"output_tokens": n}``, with
    ``n`` estimated (llmproxy.wire.estimate) over the text, thinking and tool
    input sent so far.
``message_stop``
    Passed, after a made-up ``message_delta`` if claude.ai sent none. Anything
    after it is dropped.
``message_limit``
    Consumed; the latest ``message_limit`` object is kept in :attr:`WebStream.limit`
    for the credential pool (:func:`parse_limit` reads it).
``ping``
    Passed as ``{"type": "ping"}``.
``error``
    Passed as ``{"type": "error", "error": {"type", "message"}}``; the stream is
    then :attr:`~WebStream.failed` and later events are dropped.
``completion`` (legacy)
    The first one makes up ``message_start`` and a text block; each non-empty
    ``completion`` string is a ``text_delta``; a non-null ``stop_reason`` ends the
    block and the message (``stop_sequence`` taken from ``stop``). A
    ``messageLimit`` object is kept like a ``message_limit`` event, and an object
    with an ``error`` key is an error. Both formats give the same canonical
    stream for the same text.

anything else
    Dropped.

A stream that stops without ``message_stop`` is not finished here: there is no
closing sequence made up, because the client must learn that the answer is
cut. :attr:`WebStream.truncated` says so, and the caller sends an ``error``
event (DESIGN.md: a stream that dies halfway ends with an error).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from llmproxy.wire.estimate import estimate_text

__all__ = [
    "EXCEEDED_FALLBACK_SECONDS",
    "Limit",
    "LimitWindow",
    "STOP_REASONS",
    "WebStream",
    "parse_limit",
]

STOP_REASONS: Final = frozenset(
    {
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    }
)
"""The ``stop_reason`` values the Messages API defines (protocols.md §1.7)."""

_API_ID = re.compile(r"msg_[0-9A-Za-z_-]{1,200}\Z")

Event = dict[str, Any]


def _random_message_id() -> str:
    """An API-shaped message id; the default ``message_id_factory``."""
    return "msg_web_" + secrets.token_hex(12)


class WebStream:
    """Turns one claude.ai completion stream into canonical events.

    Feed every SSE event of the response, in order, to :meth:`feed` and send on
    what it returns. After the upstream body ends, look at :attr:`finished`,
    :attr:`failed` and :attr:`truncated`.

    Args:
        model: The model name the client asked for; it goes into
            ``message_start`` whatever claude.ai reports.
        input_tokens: The input estimate for ``message_start.usage``
            (claude.ai reports none).
        message_id_factory: Makes a ``msg_…`` id when claude.ai's id does not
            look like one. Defaults to a random one.
        client_tools: Names of tools the client defined. A ``tool_use`` block
            naming one of them is passed on; every other ``tool_use`` is one of
            claude.ai's own tools and is dropped.
    """

    def __init__(
        self,
        model: str,
        input_tokens: int,
        *,
        message_id_factory: Callable[[], str] | None = None,
        client_tools: Collection[str] = (),
    ) -> None:
        self._model = model
        self._input_tokens = max(0, input_tokens)
        self._new_id = message_id_factory or _random_message_id
        self._client_tools = frozenset(client_tools)
        self._started = False
        self._finished = False
        self._failed = False
        self._delta_sent = False
        self._limit: dict[str, Any] | None = None
        self._stop_reason: str | None = None
        # upstream index -> our index, or None for a dropped block
        self._blocks: dict[Any, int | None] = {}
        # our index -> block type, for the blocks we started
        self._types: list[str] = []
        self._open: int | None = None  # our index of the block not yet stopped
        self._tool_use_sent = False
        self._legacy_started = False  # the made-up text block of the legacy format
        self._pieces: list[str] = []  # text, thinking and tool input sent so far
        self._estimated = (0, 0)  # (len(self._pieces), estimate) cache

    # --- what the caller reads --------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether ``message_start`` has been sent."""
        return self._started

    @property
    def finished(self) -> bool:
        """Whether ``message_stop`` has been sent: the answer is complete."""
        return self._finished

    @property
    def failed(self) -> bool:
        """Whether an ``error`` event has been returned.

        If it came before anything was started, nothing need have reached the
        client yet: the caller may answer with an HTTP error (or retry) instead.
        """
        return self._failed

    @property
    def truncated(self) -> bool:
        """Started, but neither finished nor failed: the caller owes an ``error`` event.

        A stream that never started (no usable event at all) is not truncated;
        nothing has been sent, so the caller can still answer with an HTTP error
        or retry.
        """
        return self._started and not self._finished and not self._failed

    @property
    def limit(self) -> dict[str, Any] | None:
        """The latest ``message_limit`` object (or legacy ``messageLimit``), if any."""
        return self._limit

    @property
    def stop_reason(self) -> str | None:
        """The stop reason sent in ``message_delta``, once there was one."""
        return self._stop_reason

    @property
    def output_tokens(self) -> int:
        """Estimated tokens of the text, thinking and tool input sent so far."""
        count, estimate = self._estimated
        if count != len(self._pieces):
            estimate = estimate_text("".join(self._pieces))
            self._estimated = (len(self._pieces), estimate)
        return estimate

    # --- the one entry point ----------------------------------------------------

    def feed(self, event_name: str | None, data: Mapping[str, Any]) -> list[Event]:
        """Take one upstream event; return the canonical events to send, in order.

        Args:
            event_name: The SSE ``event:`` name. ``None`` or ``""`` (2023-era
                streams had no names) falls back to ``data["type"]``.
            data: The event's parsed JSON object; pass ``{}`` when the data was
                empty or not a JSON object (claude.ai's ``ping`` may be either).

        Returns:
            Zero or more canonical events (fresh dicts the caller may keep).
        """
        if self._finished or self._failed:
            return []
        name = event_name or data.get("type")
        if name == "completion" or (not name and "completion" in data):
            return self._completion(data)
        handler = _HANDLERS.get(name) if isinstance(name, str) else None
        if handler is None:
            if not name and "error" in data:
                return self._error(data)
            return []
        return handler(self, data)

    # --- message-level events ---------------------------------------------------

    def _message_start(self, data: Mapping[str, Any]) -> list[Event]:
        if self._started:
            return []
        message = data.get("message")
        upstream_id = message.get("id") if isinstance(message, Mapping) else None
        return self._start(upstream_id)

    def _start(self, upstream_id: Any = None) -> list[Event]:
        self._started = True
        if isinstance(upstream_id, str) and _API_ID.match(upstream_id):
            message_id = upstream_id
        else:
            message_id = self._new_id()
        return [
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self._model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": self._input_tokens,
                        "output_tokens": 0,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            }
        ]

    def _ensure_started(self) -> list[Event]:
        return [] if self._started else self._start()

    def _message_delta(self, data: Mapping[str, Any]) -> list[Event]:
        out = self._ensure_started()
        out += self._close_open()
        delta = data.get("delta")
        delta = delta if isinstance(delta, Mapping) else {}
        out.append(self._delta_event(delta.get("stop_reason"), delta.get("stop_sequence")))
        return out

    def _delta_event(self, reason: Any, sequence: Any) -> Event:
        if reason not in STOP_REASONS:
            reason = "end_turn"
        elif reason == "tool_use" and not self._tool_use_sent:
            reason = "end_turn"
        if reason != "stop_sequence" or not isinstance(sequence, str):
            sequence = None
        self._stop_reason = reason
        self._delta_sent = True
        return {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": {"output_tokens": self.output_tokens},
        }

    def _message_stop(self, data: Mapping[str, Any]) -> list[Event]:
        out = self._ensure_started()
        out += self._close_open()
        if not self._delta_sent:
            out.append(self._delta_event(None, None))
        out.append({"type": "message_stop"})
        self._finished = True
        return out

    def _message_limit(self, data: Mapping[str, Any]) -> list[Event]:
        limit = data.get("message_limit")
        if isinstance(limit, Mapping):
            self._limit = dict(limit)
        return []

    def _ping(self, data: Mapping[str, Any]) -> list[Event]:
        return [{"type": "ping"}]

    def _error(self, data: Mapping[str, Any]) -> list[Event]:
        self._failed = True
        error = data.get("error")
        kind: Any = None
        message: Any = None
        if isinstance(error, Mapping):
            kind, message = error.get("type"), error.get("message")
        elif isinstance(error, str):
            message = error
        return [
            {
                "type": "error",
                "error": {
                    "type": kind if isinstance(kind, str) and kind else "api_error",
                    "message": message if isinstance(message, str) else "",
                },
            }
        ]

    # --- blocks -------------------------------------------------------------------

    def _block_start(self, data: Mapping[str, Any]) -> list[Event]:
        upstream = data.get("index")
        block = data.get("content_block")
        if not _hashable(upstream) or not isinstance(block, Mapping):
            return []
        if upstream in self._blocks:
            return []  # a second start for the same block: keep the first
        kind = block.get("type")
        if kind == "text":
            return self._open_block(upstream, {"type": "text", "text": ""}, block.get("text"))
        if kind == "thinking":
            signature = block.get("signature")
            shape = {
                "type": "thinking",
                "thinking": "",
                "signature": signature if isinstance(signature, str) else "",
            }
            return self._open_block(upstream, shape, block.get("thinking"))
        if kind == "redacted_thinking" and isinstance(block.get("data"), str):
            return self._open_block(upstream, {"type": "redacted_thinking", "data": block["data"]})
        if kind == "tool_use" and block.get("name") in self._client_tools:
            tool_id, name = block.get("id"), block.get("name")
            if isinstance(tool_id, str) and isinstance(name, str):
                self._tool_use_sent = True
                tool: Event = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
                return self._open_block(upstream, tool)
        self._blocks[upstream] = None  # claude.ai's own machinery: drop with its deltas
        return []

    def _open_block(self, upstream: Any, shape: Event, initial: Any = None) -> list[Event]:
        out = self._ensure_started()
        out += self._close_open()
        index = len(self._types)
        self._blocks[upstream] = index
        self._types.append(shape["type"])
        self._open = index
        out.append({"type": "content_block_start", "index": index, "content_block": shape})
        if isinstance(initial, str) and initial:
            delta_type, field = _DELTA_FOR_BLOCK[shape["type"]]
            self._pieces.append(initial)
            out.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": delta_type, field: initial},
                }
            )
        return out

    def _block_delta(self, data: Mapping[str, Any]) -> list[Event]:
        upstream = data.get("index")
        delta = data.get("delta")
        if not _hashable(upstream) or not isinstance(delta, Mapping):
            return []
        kind = delta.get("type")
        if upstream not in self._blocks:
            # A delta for a block that never started: make up the start if it is
            # text or thinking, which we know the shape of.
            if kind == "text_delta":
                out = self._open_block(upstream, {"type": "text", "text": ""})
            elif kind == "thinking_delta":
                shape = {"type": "thinking", "thinking": "", "signature": ""}
                out = self._open_block(upstream, shape)
            else:
                return []
            return out + self._block_delta(data)
        index = self._blocks[upstream]
        if index is None or index != self._open:
            return []  # dropped block, or one already closed
        rule = _DELTA_RULES.get(kind) if isinstance(kind, str) else None
        if rule is None or self._types[index] not in rule[0]:
            return []
        field = rule[1]
        value = delta.get(field)
        if not isinstance(value, str):
            return []
        if field != "signature":
            self._pieces.append(value)
        return [
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": kind, field: value},
            }
        ]

    def _block_stop(self, data: Mapping[str, Any]) -> list[Event]:
        upstream = data.get("index")
        if not _hashable(upstream):
            return []
        index = self._blocks.get(upstream)
        if index is None or index != self._open:
            return []
        return self._close_open()

    def _close_open(self) -> list[Event]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [{"type": "content_block_stop", "index": index}]

    # --- the legacy format --------------------------------------------------------

    def _completion(self, data: Mapping[str, Any]) -> list[Event]:
        if "error" in data and data.get("error") is not None:
            return self._error(data)
        limit = data.get("messageLimit")
        if isinstance(limit, Mapping):
            self._limit = dict(limit)
        out: list[Event] = []
        if not self._legacy_started:
            self._legacy_started = True
            out += self._open_block(_LEGACY_INDEX, {"type": "text", "text": ""})
        text = data.get("completion")
        if isinstance(text, str) and text:
            out += self._block_delta(
                {"index": _LEGACY_INDEX, "delta": {"type": "text_delta", "text": text}}
            )
        reason = data.get("stop_reason")
        if reason is not None:
            out += self._close_open()
            out.append(self._delta_event(reason, data.get("stop")))
            out += self._message_stop({})
        return out


# The upstream "index" of the legacy format's one text block; a tuple, so that it
# cannot collide with an index claude.ai sends.
_LEGACY_INDEX: Final = ("completion",)
# delta type -> (block types it may extend, the field that carries it)
_DELTA_RULES: Final[Mapping[str, tuple[frozenset[str], str]]] = {
    "text_delta": (frozenset({"text"}), "text"),
    "thinking_delta": (frozenset({"thinking"}), "thinking"),
    "signature_delta": (frozenset({"thinking"}), "signature"),
    "input_json_delta": (frozenset({"tool_use"}), "partial_json"),
}
# block type -> the delta that carries text into it
_DELTA_FOR_BLOCK: Final[Mapping[str, tuple[str, str]]] = {
    "text": ("text_delta", "text"),
    "thinking": ("thinking_delta", "thinking"),
}
_HANDLERS: Final[Mapping[str, Callable[[WebStream, Mapping[str, Any]], list[Event]]]] = {
    "message_start": WebStream._message_start,
    "content_block_start": WebStream._block_start,
    "content_block_delta": WebStream._block_delta,
    "content_block_stop": WebStream._block_stop,
    "message_delta": WebStream._message_delta,
    "message_stop": WebStream._message_stop,
    "message_limit": WebStream._message_limit,
    "ping": WebStream._ping,
    "error": WebStream._error,
}


def _hashable(value: Any) -> bool:
    return isinstance(value, int | str | tuple) and not isinstance(value, bool)


# --- message_limit ----------------------------------------------------------------


class LimitWindow(NamedTuple):
    """One usage window of a ``message_limit``: how full, and when it resets."""

    utilization: float | None
    """Fraction used, 0.0-1.0 as claude.ai reports it (``None`` if absent)."""
    resets_at: float | None
    """Epoch seconds when the window resets (``None`` if absent)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """What a ``message_limit`` object says about the account (protocols.md §4.5).

    Attributes:
        type: ``within_limit``, ``approaching_limit``, ``exceeded_limit``, or
            whatever newer value claude.ai sends (``""`` when absent).
        exceeded: Whether ``type`` is ``exceeded_limit``: the cookie is out of
            quota until :attr:`resets_at`.
        resets_at: Epoch seconds when the limit lifts: ``resetsAt``, else the
            representative window's ``resets_at``, else the latest reset among
            exceeded windows; for an exceeded limit with none of those, one hour
            from ``now`` (ClewdR's fallback for a 429 without a reset time).
            ``None`` for a limit that is not exceeded and names no time.
        windows: Each window by claude.ai's name (``"5h"``, ``"7d"``, …).
        representative: ``representativeClaim`` (``"five_hour"``, …), if given.
    """

    type: str
    exceeded: bool
    resets_at: float | None
    windows: Mapping[str, LimitWindow]
    representative: str | None


EXCEEDED_FALLBACK_SECONDS: Final = 3600.0
"""How long an exceeded limit without any reset time is assumed to last."""

# representativeClaim -> the window name that claim refers to
_CLAIM_WINDOWS: Final[Mapping[str, str]] = {
    "five_hour": "5h",
    "seven_day": "7d",
    "seven_day_opus": "7d_opus",
    "seven_day_sonnet": "7d_sonnet",
}


def parse_limit(limit: Mapping[str, Any], now: float) -> Limit:
    """Read a ``message_limit`` object (see :attr:`WebStream.limit`).

    Malformed fields are ignored rather than raising: a quota hint must never
    break an answer that has already been delivered.

    Args:
        limit: The object, e.g. ``{"type": "within_limit", "resetsAt": null,
            "representativeClaim": "five_hour", "windows": {"5h": {"status":
            "within_limit", "resets_at": 1777560000, "utilization": 0.65}}}``.
        now: The current time in epoch seconds (for the fallback reset time).

    Returns:
        The parsed :class:`Limit`.
    """
    kind = limit.get("type")
    kind = kind if isinstance(kind, str) else ""
    exceeded = kind == "exceeded_limit"
    windows: dict[str, LimitWindow] = {}
    exceeded_resets: list[float] = []
    raw_windows = limit.get("windows")
    if isinstance(raw_windows, Mapping):
        for name, window in raw_windows.items():
            if not isinstance(name, str) or not isinstance(window, Mapping):
                continue
            utilization = _number(window.get("utilization"))
            resets_at = _epoch(window.get("resets_at"))
            windows[name] = LimitWindow(utilization, resets_at)
            if window.get("status") == "exceeded_limit" and resets_at is not None:
                exceeded_resets.append(resets_at)
    claim = limit.get("representativeClaim")
    representative = claim if isinstance(claim, str) else None
    resets_at = _epoch(limit.get("resetsAt"))
    if resets_at is None and representative is not None:
        window = windows.get(_CLAIM_WINDOWS.get(representative, representative))
        resets_at = window.resets_at if window is not None else None
    if resets_at is None and exceeded_resets:
        resets_at = max(exceeded_resets)
    if resets_at is None and exceeded:
        resets_at = now + EXCEEDED_FALLBACK_SECONDS
    return Limit(kind, exceeded, resets_at, windows, representative)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    return None


def _epoch(value: Any) -> float | None:
    """Epoch seconds from seconds, milliseconds (values past year 5138) or RFC 3339."""
    number = _number(value)
    if number is not None:
        return number / 1000.0 if number > 1e11 else number
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None
