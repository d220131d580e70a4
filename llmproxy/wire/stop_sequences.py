"""Stop sequences enforced on the proxy's side, sans-IO.

Why this exists
---------------

claude.ai ignores ``stop_sequences``, so for the web upstream the proxy has to
cut the answer itself. Clients expect what the real Messages API does: the text
before the sequence arrives, the sequence itself does not, and the message ends
with ``stop_reason: "stop_sequence"`` and ``stop_sequence`` naming the string
that matched. ClewdR gets close but leaks: it compares bytes, never holds text
back, so a sequence is already on the wire by the time it completes and it is
sent along with the stop; and it only works for streaming requests. Here the
matcher holds back exactly the text that might still turn into a match, and
because a non-streaming answer is the same event stream folded by the
accumulator, one filter serves both.

Two layers
----------

:class:`StopMatcher` works on text: :meth:`StopMatcher.feed` takes the next
piece of a text block and returns the part that is safe to show now, plus the
sequence if one completed. :class:`StopSequences` wraps it for the canonical
event stream (``llmproxy.wire`` dicts, protocols.md section 1.8): it rewrites
``text_delta`` events, releases held text before its block ends, and on a match
closes the message itself and raises :attr:`StopSequences.done`, which tells the
caller to cancel the upstream.

Matching rules
--------------

- Text is compared as Python strings, code point by code point, with no Unicode
  normalisation: ``"é"`` written as one code point does not match ``"e"``
  followed by a combining accent. A multi-byte character is one code point here,
  so a sequence never matches half of one.
- The earliest match wins, meaning the one whose *end* comes first: that is
  the first moment a streaming reader could know about it. When several end at
  the same place, the one that starts earliest (the longest) wins, so no part of
  any of them reaches the client.
- Only ``text_delta`` text is matched. Thinking, signatures and tool-input JSON
  pass untouched, as with the real API. Matching restarts with every text block:
  a sequence never straddles two blocks.
- Empty sequences are ignored and duplicates are harmless.

What is held back
-----------------

After each piece, the matcher keeps only the longest tail of the text seen so
far that is a proper prefix of some sequence: text that a later piece could
still turn into a match. Everything before it is returned at once. There is no
fixed look-behind of the longest sequence's length; with ``"</answer>"`` as the
only sequence, ``"a <"`` holds back just ``"<"``.

Cost
----

An Aho-Corasick automaton over code points tracks the held tail (its state *is*
the tail). While the automaton sits at its root, a compiled character class of
the sequences' first characters finds the next place a sequence could start, so
the common chunk that contains none of them is returned as the same string
object with no per-character Python work. Only characters inside a possible
match are stepped one by one, and each is stepped once.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from typing import Any

__all__ = ["StopMatcher", "StopSequences"]

Event = dict[str, Any]

_ROOT = 0


class StopMatcher:
    """Finds the first stop sequence in text that arrives in pieces.

    Args:
        sequences: The stop sequences. Empty strings are dropped, duplicates are
            merged. With none left, every piece is returned unchanged.

    Raises:
        TypeError: ``sequences`` is a single ``str`` (which would otherwise be
            read as a list of one-character sequences).
    """

    def __init__(self, sequences: Sequence[str]) -> None:
        if isinstance(sequences, str):
            raise TypeError("sequences must be a list of strings, not one string")
        patterns = sorted({s for s in sequences if s})
        # The automaton, one entry per node (node 0 is the root, the empty tail):
        #   _goto:  trie edges, character -> child node
        #   _fail:  the node of the longest proper suffix that is also in the trie
        #   _depth: length of the node's string (= length of the held tail)
        #   _hit:   the longest sequence that ends the node's string, if any
        self._goto: list[dict[str, int]] = [{}]
        self._depth: list[int] = [0]
        self._hit: list[str | None] = [None]
        self._fail: list[int] = [_ROOT]
        for pattern in patterns:
            self._insert(pattern)
        self._link()
        firsts = "".join(re.escape(char) for char in sorted(self._goto[_ROOT]))
        self._starts = re.compile(f"[{firsts}]") if firsts else None
        self._node = _ROOT
        self._held = ""
        self._matched: str | None = None

    @property
    def matched(self) -> str | None:
        """The sequence that matched, or ``None`` while none has."""
        return self._matched

    @property
    def pending(self) -> str:
        """The text held back because it may still become a sequence."""
        return self._held

    def feed(self, text: str) -> tuple[str, str | None]:
        """Take the next piece of text.

        Args:
            text: The next piece of the current text block.

        Returns:
            ``(safe, matched)``. Without a match, ``safe`` is everything that can
            no longer be part of a sequence (held text from earlier pieces first)
            and ``matched`` is ``None``; when nothing was held and nothing needs
            holding, ``safe`` is ``text`` itself. With a match, ``safe`` is all
            not yet returned text before the sequence, and ``matched`` is the
            sequence; the matcher is then finished.

        Raises:
            RuntimeError: A sequence already matched. The state does not change.
        """
        if self._matched is not None:
            raise RuntimeError(f"stop sequence {self._matched!r} already matched")
        starts = self._starts
        if starts is None:
            return text, None
        goto, fail, hit = self._goto, self._fail, self._hit
        node = self._node
        pos, end = 0, len(text)
        while pos < end:
            if node == _ROOT:
                # At the root nothing is held: skip ahead (in C) to the next
                # character that could begin a sequence.
                found = starts.search(text, pos)
                if found is None:
                    break
                pos = found.start()
            char = text[pos]
            pos += 1
            while node != _ROOT and char not in goto[node]:
                node = fail[node]
            node = goto[node].get(char, _ROOT)
            sequence = hit[node]
            if sequence is not None:
                return self._stop(text[:pos], sequence), sequence
        self._node = node
        return self._keep_tail(text, self._depth[node]), None

    def flush(self) -> str:
        """Return the held text and start afresh (call it when a text block ends).

        Returns:
            The held text, or ``""``. After a match this is always ``""``.
        """
        held, self._held, self._node = self._held, "", _ROOT
        return held

    def _keep_tail(self, text: str, keep: int) -> str:
        """Hold the last ``keep`` characters of held + ``text``; return the rest."""
        if not self._held:
            if keep == 0:
                return text
            self._held = text[-keep:]
            return text[:-keep]
        combined = self._held + text
        cut = len(combined) - keep
        self._held = combined[cut:]
        return combined[:cut]

    def _stop(self, upto: str, sequence: str) -> str:
        """Finish on ``sequence``, which ends ``held + upto``; return what precedes it."""
        combined = self._held + upto
        self._held, self._node, self._matched = "", _ROOT, sequence
        return combined[: len(combined) - len(sequence)]

    def _insert(self, pattern: str) -> None:
        node = _ROOT
        for char in pattern:
            child = self._goto[node].get(char)
            if child is None:
                child = len(self._goto)
                self._goto[node][char] = child
                self._goto.append({})
                self._depth.append(self._depth[node] + 1)
                self._hit.append(None)
                self._fail.append(_ROOT)
            node = child
        self._hit[node] = pattern

    def _link(self) -> None:
        """Set failure links breadth first, and inherit the longest suffix hit.

        The root's children keep their link to the root. Breadth-first order
        settles every node's link and hit before any deeper node needs them.
        """
        queue = deque(self._goto[_ROOT].values())
        while queue:
            node = queue.popleft()
            for char, child in self._goto[node].items():
                queue.append(child)
                target = self._fail[node]
                while target != _ROOT and char not in self._goto[target]:
                    target = self._fail[target]
                self._fail[child] = self._goto[target].get(char, _ROOT)
                if self._hit[child] is None:
                    # A node that is itself a sequence is the longest one ending
                    # here; otherwise the longest is found through the link.
                    self._hit[child] = self._hit[self._fail[child]]


# Events before which a held tail must go out: its block (or the message) ends.
_RELEASE_BEFORE = frozenset(
    {"content_block_start", "content_block_stop", "message_delta", "message_stop", "error"}
)


class StopSequences:
    """Applies stop sequences to a stream of canonical events.

    Feed every event in order and emit what :meth:`feed` returns in its place.
    Text deltas come back shortened, delayed or dropped (an empty ``text_delta``
    is never emitted); held text is released as its own ``text_delta`` just
    before the event that ends its block. Every other event is returned as the
    same object.

    On a match the filter emits, in place of the delta that completed it: the
    text before the sequence (if any), ``content_block_stop`` for that block,
    ``message_delta`` with ``delta: {"stop_reason": "stop_sequence",
    "stop_sequence": <seq>}`` and ``usage: {"output_tokens": 0}`` (a later stage
    fills in usage), and ``message_stop``. From then on :attr:`done` is true, the
    caller should cancel the upstream, and every further event is swallowed.

    Args:
        sequences: As for :class:`StopMatcher`; an empty list passes everything
            through.
    """

    def __init__(self, sequences: Sequence[str]) -> None:
        self._matcher = StopMatcher(sequences)
        self._index: Any = None  # index of the block whose tail is held
        self._done = False

    @property
    def done(self) -> bool:
        """True once a stop sequence ended the message."""
        return self._done

    @property
    def matched(self) -> str | None:
        """The sequence that ended the message, or ``None``."""
        return self._matcher.matched

    def feed(self, event: Event) -> list[Event]:
        """Take one canonical event; return the events to emit instead."""
        if self._done:
            return []
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                if isinstance(text, str):
                    return self._text(event, delta, text)
        elif kind in _RELEASE_BEFORE:
            return [*self.flush(), event]
        return [event]

    def flush(self) -> list[Event]:
        """Release held text as a ``text_delta`` (for a stream cut short).

        Returns:
            One event, or none when nothing is held.
        """
        held = self._matcher.flush()
        index, self._index = self._index, None
        if not held:
            return []
        return [_text_delta(index, held)]

    def _text(self, event: Event, delta: dict[str, Any], text: str) -> list[Event]:
        index = event.get("index")
        out = self.flush() if index != self._index else []
        self._index = index
        safe, sequence = self._matcher.feed(text)
        if safe:
            out.append(event if safe == text else {**event, "delta": {**delta, "text": safe}})
        if sequence is not None:
            self._done = True
            self._index = None
            out += _stop_events(index, sequence)
        return out


def _text_delta(index: Any, text: str) -> Event:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


def _stop_events(index: Any, sequence: str) -> list[Event]:
    """The events that end a message on ``sequence`` (protocols.md section 1.8)."""
    return [
        {"type": "content_block_stop", "index": index},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "stop_sequence", "stop_sequence": sequence},
            "usage": {"output_tokens": 0},
        },
        {"type": "message_stop"},
    ]
