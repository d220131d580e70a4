"""Claude Messages response -> OpenAI Chat Completions response, whole or streamed.

The proxy's answers are canonical events (the Anthropic Messages stream); the
OpenAI routes turn them into ``chat.completion.chunk`` objects with
:class:`ChatStream`, or, for a non-streaming request, turn the accumulated Claude
``Message`` into one ``chat.completion`` with :func:`chat_completion`. Sans-IO: the
caller passes the clock (``created``) in, writes each returned dict as a ``data:``
line (``llmproxy.asgi.families.dumps``), and writes ``data: [DONE]`` at the end.

What a client sees (protocols.md §2.4-2.5, §2.9), and how it differs from ClewdR,
whose chunks have no ``id``/``object`` and are silently dropped by openai-python's
``.stream()`` helper (clewdr-behaviour.md §8.2):

* ``id`` is ``chatcmpl-`` + the Claude message id, the same in every chunk;
  ``created`` and ``model`` (the name the client asked for) likewise.
* The first chunk, sent as soon as ``message_start`` arrives, has
  ``delta: {"role": "assistant", "content": ""}``; ``role`` never repeats (the SDK
  concatenates repeated strings).
* Text -> ``delta.content``. Thinking -> ``delta.reasoning_content`` (DeepSeek's
  field, which most OpenAI-compatible frontends read), or, with ``think_tags``,
  inside ``delta.content`` between :data:`THINK_OPEN` and :data:`THINK_CLOSE`: the
  open tag goes with the first thinking delta, the close tag with the next text
  delta or, failing that, just before the finish chunk. Signatures and
  ``redacted_thinking`` have no OpenAI slot and are dropped.
* A ``tool_use`` block -> one ``tool_calls`` entry with its own 0-based ``index``;
  its first fragment carries ``id`` (the Claude id, which the client sends back
  as ``tool_call_id``), ``type`` and ``function.name`` with ``arguments: ""``;
  ``input_json_delta`` fragments follow as ``function.arguments`` strings, byte
  for byte. Server-tool blocks (``server_tool_use``, search results) are not the
  client's to call and are left out.
* ``message_stop`` -> a chunk with ``delta: {}`` and ``finish_reason``
  (:func:`finish_reason`), then, with ``include_usage``, a chunk with
  ``choices: []`` and ``usage``. With ``include_usage`` every other chunk carries
  ``"usage": null``, as OpenAI's do.
* A canonical ``error`` event -> :func:`error_chunk`, after which the stream
  accepts nothing more.

Usage (protocols.md §5.5): ``prompt_tokens`` = input + cache creation + cache read
tokens (OpenAI's prompt count includes cached tokens), ``cached_tokens`` = cache
read, ``completion_tokens`` = output tokens, ``reasoning_tokens`` = Claude's
``output_tokens_details.thinking_tokens`` when given, else an estimate of
thinking characters / 4 (never more than the output), 0 without thinking.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "THINK_CLOSE",
    "THINK_OPEN",
    "ChatStream",
    "chat_completion",
    "error_chunk",
    "finish_reason",
    "message_from_completion",
]

THINK_OPEN: Final = "<think>\n"
"""Opens the thinking section in ``think_tags`` mode (DeepSeek-R1's spelling)."""

THINK_CLOSE: Final = "\n</think>\n\n"
"""Closes it; the blank line keeps Markdown renderers from gluing the answer on."""

_FINISH: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_STOP_REASON: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_CHUNK: Final = "chat.completion.chunk"
_CHARS_PER_TOKEN: Final = 4


def finish_reason(stop_reason: str | None) -> str:
    """OpenAI's ``finish_reason`` for a Claude ``stop_reason`` (protocols.md §5.4).

    A missing or unknown reason is ``"stop"``: the answer did end.
    """
    if stop_reason is None:
        return "stop"
    return _FINISH.get(stop_reason, "stop")


def error_chunk(
    message: str,
    type: str = "server_error",
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """The ``data:`` object that reports an error once a stream has started.

    openai-python raises ``APIError`` for any chunk with a truthy ``error``
    (protocols.md §2.9), with ``message`` as its text.
    """
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(usage: Mapping[str, Any], thinking_chars: int) -> dict[str, Any]:
    """OpenAI usage from Claude usage (see the module doc)."""
    cached = _count(usage.get("cache_read_input_tokens"))
    prompt = (
        _count(usage.get("input_tokens"))
        + _count(usage.get("cache_creation_input_tokens"))
        + cached
    )
    completion = _count(usage.get("output_tokens"))
    details = usage.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, Mapping) else None
    if isinstance(thinking, int) and not isinstance(thinking, bool):
        reasoning = thinking
    else:
        reasoning = min(completion, -(-thinking_chars // _CHARS_PER_TOKEN))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {"name": block.get("name"), "arguments": _json(block.get("input") or {})},
    }


# --- whole responses -------------------------------------------------------------------


def chat_completion(
    message: Mapping[str, Any], *, model: str, created: int, think_tags: bool = False
) -> dict[str, Any]:
    """One ``chat.completion`` for a whole Claude ``Message``.

    Args:
        message: The Claude response (for a streamed upstream, the accumulated one).
        model: The model name the client asked for (``-thinking`` suffix and all).
        created: Unix seconds, from the caller's clock.
        think_tags: Put thinking in ``content`` inside ``<think>`` tags rather than
            in ``reasoning_content``; the text is the same as a streamed answer's
            deltas joined.
    """
    content: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking_chars = 0
    in_think = False
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            text = block.get("text") or ""
            if text and in_think:
                content.append(THINK_CLOSE)
                in_think = False
            content.append(text)
        elif kind == "thinking":
            text = block.get("thinking") or ""
            thinking_chars += len(text)
            if not text:
                continue
            if not think_tags:
                reasoning.append(text)
                continue
            if not in_think:
                content.append(THINK_OPEN)
                in_think = True
            content.append(text)
        elif kind == "tool_use":
            calls.append(_tool_call(block))
    if in_think:
        content.append(THINK_CLOSE)
    text = "".join(content)
    reply: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not calls else None,
        "refusal": None,
    }
    if calls:
        reply["tool_calls"] = calls
    if reasoning:
        reply["reasoning_content"] = "".join(reasoning)
    usage = message.get("usage")
    return {
        "id": f"chatcmpl-{message.get('id') or ''}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": finish_reason(message.get("stop_reason")),
            }
        ],
        "usage": _usage(usage if isinstance(usage, Mapping) else {}, thinking_chars),
    }


def message_from_completion(completion: Mapping[str, Any]) -> dict[str, Any]:
    """The Claude ``Message`` a ``chat.completion`` stands for: the inverse of
    :func:`chat_completion` (without ``think_tags``), for the tests' tables.

    What OpenAI cannot carry comes back empty: a thinking block's ``signature``
    is ``""``, cache creation tokens count as plain input tokens.
    """
    choice = completion["choices"][0]
    reply = choice["message"]
    content: list[dict[str, Any]] = []
    if reply.get("reasoning_content"):
        content.append(
            {"type": "thinking", "thinking": reply["reasoning_content"], "signature": ""}
        )
    if reply.get("content"):
        content.append({"type": "text", "text": reply["content"]})
    for call in reply.get("tool_calls") or ():
        content.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": call["function"]["name"],
                "input": json.loads(call["function"]["arguments"] or "{}"),
            }
        )
    usage = completion.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    claude_usage: dict[str, Any] = {
        "input_tokens": usage.get("prompt_tokens", 0) - cached,
        "output_tokens": usage.get("completion_tokens", 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
    if reasoning:
        claude_usage["output_tokens_details"] = {"thinking_tokens": reasoning}
    return {
        "id": completion["id"].removeprefix("chatcmpl-"),
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": content,
        "stop_reason": _STOP_REASON.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": claude_usage,
    }


# --- streams ---------------------------------------------------------------------------


class ChatStream:
    """Turns canonical events into ``chat.completion.chunk`` dicts, one event at a time.

    Feed every event of one answer, in order, to :meth:`feed` and send what it
    returns. It keeps only small counters and maps between calls (which block is
    which tool call, usage so far, whether a ``<think>`` section is open); events
    are read, never copied or mutated, and a chunk holds the client's delta
    strings as they came.

    Args:
        model: The model name the client asked for.
        created: Unix seconds for every chunk, from the caller's clock.
        completion_id: The chunks' ``id``; by default ``chatcmpl-`` + the Claude
            message id from ``message_start``.
        include_usage: ``stream_options.include_usage`` of the request.
        think_tags: Thinking inside ``content`` in ``<think>`` tags.
    """

    __slots__ = (
        "_created",
        "_done",
        "_closed",
        "_id",
        "_in_think",
        "_include_usage",
        "_model",
        "_pending",
        "_started",
        "_stop_reason",
        "_think_tags",
        "_thinking_chars",
        "_tools",
        "_usage",
    )

    def __init__(
        self,
        *,
        model: str,
        created: int,
        completion_id: str | None = None,
        include_usage: bool = False,
        think_tags: bool = False,
    ) -> None:
        self._model = model
        self._created = created
        self._id = completion_id
        self._include_usage = include_usage
        self._think_tags = think_tags
        self._started = False
        self._done = False
        self._closed = False
        self._in_think = False
        self._tools: dict[Any, int] = {}  # content block index -> tool call index
        self._pending: dict[Any, Any] = {}  # block index -> input given whole at block start
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._thinking_chars = 0

    @property
    def done(self) -> bool:
        """True once ``message_stop`` has produced the finish (and usage) chunks."""
        return self._done

    @property
    def usage(self) -> Mapping[str, Any]:
        """The Claude ``usage`` so far: ``message_start``'s, updated by each ``message_delta``."""
        return self._usage

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Translate one canonical event.

        Args:
            event: The parsed ``data`` of one Anthropic stream event.

        Returns:
            The chunks to send, in order; often none (pings, block starts and
            stops, ``message_delta``). After ``message_stop`` or an ``error``
            event every further event returns ``[]``.
        """
        if self._closed:
            return []
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_stop":
            if self._pending:
                return self._flush_input(event.get("index"))
            return []
        if kind == "message_start":
            return self._message_start(event)
        if kind == "message_delta":
            self._message_delta(event)
            return []
        if kind == "message_stop":
            return self._message_stop()
        if kind == "error":
            self._closed = True
            error = event.get("error")
            error = error if isinstance(error, Mapping) else {}
            return [
                error_chunk(
                    str(error.get("message") or "upstream error"),
                    str(error.get("type") or "api_error"),
                )
            ]
        return []  # ping, and event types this version does not know

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": _CHUNK,
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def _start(self) -> list[dict[str, Any]]:
        """The role chunk; also sent first if content arrives without ``message_start``."""
        self._started = True
        if self._id is None:
            self._id = "chatcmpl-"
        return [self._chunk({"role": "assistant", "content": ""})]

    def _message_start(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        message = event.get("message")
        if isinstance(message, Mapping):
            if self._id is None:
                self._id = f"chatcmpl-{message.get('id') or ''}"
            self._take_usage(message.get("usage"))
        return [] if self._started else self._start()

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, Mapping):
            for key, value in usage.items():
                if value is not None:
                    self._usage[key] = value

    def _message_delta(self, event: Mapping[str, Any]) -> None:
        delta = event.get("delta")
        if isinstance(delta, Mapping) and delta.get("stop_reason") is not None:
            self._stop_reason = delta["stop_reason"]
        self._take_usage(event.get("usage"))

    def _message_stop(self) -> list[dict[str, Any]]:
        out = [] if self._started else self._start()
        if self._in_think:
            self._in_think = False
            out.append(self._chunk({"content": THINK_CLOSE}))
        out.append(self._chunk({}, finish_reason(self._stop_reason)))
        if self._include_usage:
            out.append(
                {
                    "id": self._id,
                    "object": _CHUNK,
                    "created": self._created,
                    "model": self._model,
                    "choices": [],
                    "usage": _usage(self._usage, self._thinking_chars),
                }
            )
        self._done = self._closed = True
        return out

    def _delta(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        delta = event.get("delta")
        if not isinstance(delta, Mapping):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(delta.get("text"))
        if kind == "thinking_delta":
            return self._thinking(delta.get("thinking"))
        if kind == "input_json_delta":
            index = event.get("index")
            call = self._tools.get(index)
            if call is None:
                return []  # a server tool's input, or a block we never saw start
            if self._pending:
                self._pending.pop(index, None)
            fragment = delta.get("partial_json")
            if not fragment:
                return []
            return [
                self._chunk({"tool_calls": [{"index": call, "function": {"arguments": fragment}}]})
            ]
        return []  # signature_delta, citations_delta: no OpenAI slot

    def _text(self, text: Any) -> list[dict[str, Any]]:
        if not text or not isinstance(text, str):
            return []
        out = [] if self._started else self._start()
        if self._in_think:
            self._in_think = False
            text = THINK_CLOSE + text
        out.append(self._chunk({"content": text}))
        return out

    def _thinking(self, text: Any) -> list[dict[str, Any]]:
        if not text or not isinstance(text, str):
            return []
        out = [] if self._started else self._start()
        self._thinking_chars += len(text)
        if not self._think_tags:
            out.append(self._chunk({"reasoning_content": text}))
        elif self._in_think:
            out.append(self._chunk({"content": text}))
        else:
            self._in_think = True
            out.append(self._chunk({"content": THINK_OPEN + text}))
        return out

    def _block_start(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        block = event.get("content_block")
        if not isinstance(block, Mapping):
            return []
        kind = block.get("type")
        if kind == "text":
            return self._text(block.get("text"))
        if kind == "thinking":
            return self._thinking(block.get("thinking"))
        if kind != "tool_use":
            return []
        index = event.get("index")
        call = len(self._tools)
        self._tools[index] = call
        if block.get("input"):
            # A source that gives the input whole at the start, with no deltas.
            self._pending[index] = block["input"]
        out = [] if self._started else self._start()
        out.append(
            self._chunk(
                {
                    "tool_calls": [
                        {
                            "index": call,
                            "id": block.get("id"),
                            "type": "function",
                            "function": {"name": block.get("name"), "arguments": ""},
                        }
                    ]
                }
            )
        )
        return out

    def _flush_input(self, index: Any) -> list[dict[str, Any]]:
        """Arguments of a tool call whose input came whole in ``content_block_start``."""
        given = self._pending.pop(index, None)
        if given is None:
            return []
        return [
            self._chunk(
                {
                    "tool_calls": [
                        {
                            "index": self._tools[index],
                            "function": {"arguments": _json(given)},
                        }
                    ]
                }
            )
        ]
