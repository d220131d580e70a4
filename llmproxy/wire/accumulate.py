"""Fold a canonical event stream into the one ``Message`` a non-streaming call returns.

DESIGN.md: "A non-streaming answer is the stream folded by one accumulator, so
there is one code path, not two." Every upstream adapter produces canonical
events (interfaces.md; protocols.md §1.8); for a client that asked for
``"stream": false`` the route feeds them to a :class:`MessageAccumulator` and
answers with :meth:`MessageAccumulator.message`, shaped as the Messages API
answers (protocols.md §1.7).

The folding follows what the official SDK's stream accumulator does, so a client
sees the same message whether it streamed or not:

- ``message_start``: its ``message`` is the skeleton; every key in it is kept
  (``container``, ``stop_details`` or whatever a newer server adds).
- ``content_block_start``: the block at ``index``, copied. Blocks are kept by
  index and listed in index order.
- ``content_block_delta``: ``text_delta`` appends to ``text``,
  ``thinking_delta`` to ``thinking``; ``signature_delta`` sets ``signature``
  (the API sends one, whole); ``citations_delta`` appends its ``citation`` to
  ``citations``; ``input_json_delta`` fragments are concatenated and the result
  is parsed into ``input`` (``{}`` when nothing came). A delta for a block that
  never started, or of a kind its block cannot take, is ignored.
- ``message_delta``: ``stop_reason``, ``stop_sequence`` and any other key of
  ``delta`` are set on the message; every non-null ``usage`` field replaces the
  one from ``message_start`` (``output_tokens`` is a running total, not an
  increment).
- ``message_stop``: the message is :attr:`~MessageAccumulator.complete`.
- ``error``: kept in :attr:`~MessageAccumulator.error`; the caller answers with
  it instead of a message.
- ``ping`` and anything unknown: ignored.

Tool input that is not valid JSON when the block ends (a stream cut inside a
tool call, or an upstream bug) leaves ``input`` as ``{}`` and records the raw
text in :attr:`~MessageAccumulator.invalid_tool_inputs`, so nothing is lost
silently.

Nothing here performs I/O; events are plain dicts.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MessageAccumulator"]

# Block types whose ``input`` is streamed as JSON fragments.
_TOOL_INPUT_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


class MessageAccumulator:
    """Collects canonical events; :meth:`message` builds the final ``Message``.

    Usage::

        acc = MessageAccumulator()
        for event in events:
            acc.feed(event)
        if acc.error is not None:
            ...  # answer with the error
        elif not acc.complete:
            ...  # the stream was cut: answer with an error too
        else:
            body = acc.message()
    """

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}  # tool-input fragments by block index
        self._complete = False
        self._error: dict[str, Any] | None = None
        self._invalid: dict[int, str] = {}

    @property
    def started(self) -> bool:
        """Whether ``message_start`` has arrived."""
        return self._message is not None

    @property
    def complete(self) -> bool:
        """Whether ``message_stop`` has arrived."""
        return self._complete

    @property
    def error(self) -> dict[str, Any] | None:
        """The ``error`` object of an ``error`` event (``{"type", "message"}``), if any."""
        return self._error

    @property
    def invalid_tool_inputs(self) -> dict[int, str]:
        """Block index -> raw tool-input text that did not parse as a JSON object."""
        self._parse_pending()
        return dict(self._invalid)

    def feed(self, event: Mapping[str, Any]) -> None:
        """Fold one canonical event in (see the module docstring for each type)."""
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if isinstance(message, Mapping) and self._message is None:
                self._message = copy.deepcopy(dict(message))
                usage = self._message.get("usage")
                self._message["usage"] = dict(usage) if isinstance(usage, Mapping) else {}
        elif kind == "content_block_start":
            self._block_start(event)
        elif kind == "content_block_delta":
            self._block_delta(event)
        elif kind == "content_block_stop":
            index = event.get("index")
            if isinstance(index, int):
                self._finish_input(index)
        elif kind == "message_delta":
            self._message_delta(event)
        elif kind == "message_stop":
            self._complete = True
        elif kind == "error":
            error = event.get("error")
            self._error = dict(error) if isinstance(error, Mapping) else {"type": "api_error"}

    def message(self) -> dict[str, Any]:
        """The ``Message`` as the non-streaming API returns it.

        It can be called at any time; before ``message_stop`` it is the message
        so far (``stop_reason`` still ``None``, tool input parsed from what has
        arrived). Each call returns a new dict.

        Raises:
            RuntimeError: No ``message_start`` has arrived, so there is no message.
        """
        if self._message is None:
            raise RuntimeError("no message_start has been fed to the accumulator")
        self._parse_pending()
        out = copy.deepcopy(self._message)
        out.setdefault("type", "message")
        out.setdefault("role", "assistant")
        out.setdefault("stop_reason", None)
        out.setdefault("stop_sequence", None)
        out["content"] = [copy.deepcopy(self._blocks[i]) for i in sorted(self._blocks)]
        return out

    # --- blocks -------------------------------------------------------------------

    def _block_start(self, event: Mapping[str, Any]) -> None:
        index = event.get("index")
        block = event.get("content_block")
        if self._message is None or not isinstance(index, int) or not isinstance(block, Mapping):
            return
        self._blocks[index] = copy.deepcopy(dict(block))
        if block.get("type") in _TOOL_INPUT_BLOCKS:
            self._json[index] = []

    def _block_delta(self, event: Mapping[str, Any]) -> None:
        index = event.get("index")
        delta = event.get("delta")
        if not isinstance(index, int) or not isinstance(delta, Mapping):
            return
        block = self._blocks.get(index)
        if block is None:
            return
        kind = delta.get("type")
        block_type = block.get("type")
        if kind == "text_delta" and block_type == "text":
            block["text"] = _str(block.get("text")) + _str(delta.get("text"))
        elif kind == "thinking_delta" and block_type == "thinking":
            block["thinking"] = _str(block.get("thinking")) + _str(delta.get("thinking"))
        elif kind == "signature_delta" and block_type == "thinking":
            block["signature"] = _str(delta.get("signature"))
        elif kind == "citations_delta" and block_type == "text":
            citations = block.get("citations")
            if not isinstance(citations, list):
                citations = block["citations"] = []
            citations.append(copy.deepcopy(delta.get("citation")))
        elif kind == "input_json_delta" and index in self._json:
            self._json[index].append(_str(delta.get("partial_json")))

    def _finish_input(self, index: int) -> None:
        fragments = self._json.pop(index, None)
        if fragments is None:
            return
        block = self._blocks[index]
        text = "".join(fragments)
        if not text.strip():
            block["input"] = block.get("input") if isinstance(block.get("input"), dict) else {}
            return
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            block["input"] = value
            self._invalid.pop(index, None)
        else:
            block["input"] = {}
            self._invalid[index] = text

    def _parse_pending(self) -> None:
        """Parse tool input of blocks whose ``content_block_stop`` has not come."""
        for index in list(self._json):
            fragments = self._json[index]
            self._finish_input(index)
            self._json[index] = fragments

    # --- message level --------------------------------------------------------------

    def _message_delta(self, event: Mapping[str, Any]) -> None:
        if self._message is None:
            return
        delta = event.get("delta")
        if isinstance(delta, Mapping):
            for key, value in delta.items():
                self._message[key] = copy.deepcopy(value)
        usage = event.get("usage")
        if isinstance(usage, Mapping):
            current = self._message["usage"]
            for key, value in usage.items():
                if value is not None:
                    current[key] = copy.deepcopy(value)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
