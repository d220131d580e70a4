"""Watching a Gemini or OpenAI-compatible stream before and while it reaches the client.

An empty answer is retried on another credential, but only while nothing has
been sent (clewdr-behaviour.md §7.4, ClewdR issue #30). So a stream is *held*
until its first real answer arrives, and only then *released* to the client:

=========  ===========================================================  ==========
state      how it gets there                                            next
=========  ===========================================================  ==========
HOLDING    start; events that carry no answer yet (usage only, a        any
           role-only delta) are kept back
RELEASED   an event with an answer (a candidate, a choice with content  (final)
           or a finish reason other than OTHER): the held events and
           this one go out, and every later event as it arrives
EMPTY      ``finishReason``/``finish_reason`` OTHER, or the end of the   (final)
           stream, while still holding: retry, or send what was held
FAILED     an ``{"error": …}`` event while holding: classified like an   (final)
           error status
=========  ===========================================================  ==========

Each watch takes decoded SSE items and returns the bytes to write now, which
keeps the framing each client needs:

- :class:`GeminiWatch` (google-genai reads only ``data:`` lines and blank
  lines; a comment or ``event:`` line is fatal to it): events are relayed as
  the upstream's exact bytes when they hold nothing else, else re-framed as
  ``data: …\\r\\n\\r\\n``; comments are dropped.
- :class:`ChatWatch`: chunks get ``id``/``object``/``created``/``model`` if
  Google left them out, and the stream ends with ``data: [DONE]``.

A watch also says whether the stream ended properly (a Gemini stream with a
``finishReason``, a chat stream with a finish reason or ``[DONE]``), so a relay
can tell the client about a stream that broke off. No I/O in this module.
"""

from __future__ import annotations

import abc
import enum
import json
from collections.abc import Mapping
from typing import Any

from ..wire.sse import SSEComment, SSEEvent
from .failures import google_error
from .openai_compat import fill_chunk

__all__ = ["ChatWatch", "GeminiWatch", "Watch", "WatchState", "reframe"]


class WatchState(enum.Enum):
    HOLDING = "holding"
    RELEASED = "released"
    EMPTY = "empty"
    FAILED = "failed"


def reframe(data: str, eol: bytes = b"\r\n") -> bytes:
    """One event of ``data:`` lines only, as google-genai reads it."""
    lines = data.encode().split(b"\n")
    return b"".join(b"data: " + line + eol for line in lines) + eol


def _data_only(raw: bytes) -> bool:
    return all(line.startswith(b"data: ") for line in raw.splitlines() if line)


def _json(event: SSEEvent) -> Any:
    try:
        return json.loads(event.data)
    except ValueError:
        return None


class Watch(abc.ABC):
    """The state machine both watches share; subclasses judge the events."""

    def __init__(self) -> None:
        self.state = WatchState.HOLDING
        self.error: Mapping[str, Any] | None = None
        """The error event that failed the stream while holding (its parsed JSON)."""
        self.complete = False
        """Whether the stream's own end marker has been seen."""
        self._held = bytearray()

    @property
    def released(self) -> bool:
        return self.state is WatchState.RELEASED

    @property
    def holding(self) -> bool:
        return self.state is WatchState.HOLDING

    @abc.abstractmethod
    def accept(self, item: SSEEvent | SSEComment) -> bytes:
        """Take one decoded item; return the bytes to send to the client now.

        Each stream format (native Gemini, OpenAI chunks) decides what counts as a
        real answer, an empty one or an error.
        """

    def end(self) -> bytes:
        """The stream is over: bytes still to send (a terminator), if released."""
        if self.holding:
            self.state = WatchState.EMPTY
        return b""

    def held(self) -> bytes:
        """Everything kept back, as a complete body to send when retries run out."""
        return bytes(self._held)

    def _hold(self, data: bytes) -> None:
        self._held += data

    def _release(self, data: bytes) -> bytes:
        self.state = WatchState.RELEASED
        out = bytes(self._held) + data
        self._held.clear()
        return out

    def _fail(self, error: Mapping[str, Any]) -> bytes:
        self.state = WatchState.FAILED
        self.error = error
        return b""


class GeminiWatch(Watch):
    """A ``streamGenerateContent?alt=sse`` stream (protocols.md §3.4)."""

    def accept(self, item: SSEEvent | SSEComment) -> bytes:
        if isinstance(item, SSEComment) or self.state in (WatchState.EMPTY, WatchState.FAILED):
            return b""
        out = item.raw if _data_only(item.raw) else reframe(item.data)
        body = _json(item)
        if not isinstance(body, Mapping):
            return out if self.released else self._keep(out)
        if "error" in body and self.holding:
            return self._fail(body)
        candidates = body.get("candidates")
        first = candidates[0] if isinstance(candidates, list) and candidates else None
        finish = first.get("finishReason") if isinstance(first, Mapping) else None
        if finish:
            self.complete = True
        if not self.holding:
            return out
        if first is None:
            return self._keep(out)
        if finish == "OTHER":
            self._hold(out)
            self.state = WatchState.EMPTY
            return b""
        return self._release(out)

    def _keep(self, out: bytes) -> bytes:
        self._hold(out)
        return b""


class ChatWatch(Watch):
    """An OpenAI ``chat.completion.chunk`` stream (protocols.md §2.5).

    Args:
        completion_id: The ``id`` for chunks that have none (one per stream).
        created: The ``created`` for chunks that have none.
        model: The ``model`` for chunks that have none (the client's model).
    """

    def __init__(self, *, completion_id: str, created: int, model: str) -> None:
        super().__init__()
        self._id, self._created, self._model = completion_id, created, model
        self.done = False

    def accept(self, item: SSEEvent | SSEComment) -> bytes:
        if self.state in (WatchState.EMPTY, WatchState.FAILED):
            return b""
        if isinstance(item, SSEComment):
            return item.raw if self.released else b""
        if item.data.strip() == "[DONE]":
            self.done = self.complete = True
            if self.holding:
                self.state = WatchState.EMPTY
                return b""
            return item.raw
        body = _json(item)
        if google_error(body) is not None or isinstance(body, dict) and "error" in body:
            return self._fail({"error": _error_of(body)}) if self.holding else item.raw
        if not isinstance(body, dict):
            return item.raw if self.released else self._keep(item.raw)
        out = item.raw
        if fill_chunk(
            body,
            object_name="chat.completion.chunk",
            completion_id=self._id,
            created=self._created,
            model=self._model,
        ):
            encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            out = b"data: " + encoded + b"\n\n"
        choices = body.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        reason = first.get("finish_reason") if isinstance(first, Mapping) else None
        if isinstance(reason, str) and reason:
            self.complete = True
        if not self.holding:
            return out
        if isinstance(reason, str) and reason.upper() == "OTHER":
            self._hold(out)
            self.state = WatchState.EMPTY
            return b""
        if reason or _has_content(first):
            return self._release(out)
        return self._keep(out)

    def end(self) -> bytes:
        super().end()
        if self.released and not self.done:
            self.done = True
            return b"data: [DONE]\n\n"
        return b""

    def held(self) -> bytes:
        return super().held() + b"data: [DONE]\n\n"

    def _keep(self, out: bytes) -> bytes:
        self._hold(out)
        return b""


_ANSWER_FIELDS = ("content", "tool_calls", "reasoning_content", "refusal")


def _error_of(body: Any) -> Any:
    found = google_error(body)
    return found if found is not None else body.get("error")


def _has_content(choice: Any) -> bool:
    if not isinstance(choice, Mapping):
        return False
    delta = choice.get("delta")
    if not isinstance(delta, Mapping):
        return False
    return any(delta.get(name) for name in _ANSWER_FIELDS)
