"""Proxy-side stop sequences (llmproxy.wire.stop_sequences).

The text-level cases run three ways, like h11's ``tr()``: the whole text in one
piece, one character at a time, and (with hypothesis) cut at random places. Every
run is checked against a plain ``str.find`` reference for the result, and after
every piece against a brute-force reference for how much text is held back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.wire.stop_sequences import StopMatcher, StopSequences

Event = dict[str, Any]


# --- references -------------------------------------------------------------


def reference_stop(text: str, sequences: Sequence[str]) -> tuple[str, str | None]:
    """The text up to the first match and the match, by the documented rule.

    First by where the match ends, then by where it starts (earliest = longest).
    """
    best: tuple[int, int, str] | None = None
    for sequence in set(sequences):
        if not sequence:
            continue
        start = text.find(sequence)
        if start < 0:
            continue
        key = (start + len(sequence), start, sequence)
        if best is None or key < best:
            best = key
    if best is None:
        return text, None
    return text[: best[1]], best[2]


def reference_hold(text: str, sequences: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of a sequence."""
    return max(
        (n for s in sequences for n in range(1, len(s)) if text.endswith(s[:n])),
        default=0,
    )


def run_pieces(sequences: Sequence[str], pieces: Sequence[str]) -> tuple[str, str | None]:
    """Feed ``pieces``, checking every step against the references."""
    matcher = StopMatcher(sequences)
    seen = ""
    emitted = ""
    for piece in pieces:
        seen += piece
        safe, matched = matcher.feed(piece)
        emitted += safe
        if matched is not None:
            assert (emitted, matched) == reference_stop(seen, sequences)
            assert matcher.matched == matched
            assert matcher.pending == ""
            assert matcher.flush() == ""
            return emitted, matched
        assert reference_stop(seen, sequences)[1] is None
        hold = reference_hold(seen, sequences)
        assert matcher.pending == seen[len(seen) - hold :]
        assert emitted == seen[: len(seen) - hold]
    emitted += matcher.flush()
    assert emitted == seen
    assert matcher.pending == ""
    return emitted, None


def three_ways(sequences: Sequence[str], text: str) -> tuple[str, str | None]:
    """Run whole and one character at a time; both must agree with the reference."""
    whole = run_pieces(sequences, [text])
    by_char = run_pieces(sequences, list(text))
    assert whole == by_char == reference_stop(text, sequences)
    return whole


# --- StopMatcher: table of cases ---------------------------------------------

# (id, sequences, text, expected text before the stop, expected match)
CASES: list[tuple[str, list[str], str, str, str | None]] = [
    ("simple", ["STOP"], "hello STOP world", "hello ", "STOP"),
    ("no match", ["STOP"], "hello STO", "hello STO", None),
    ("first char", ["h"], "hello", "", "h"),
    ("whole text", ["hello"], "hello", "", "hello"),
    ("last char", ["o"], "hello", "hell", "o"),
    ("human turn", ["\n\nHuman:"], "Sure.\n\nHuman: hi", "Sure.", "\n\nHuman:"),
    # "bc" ends before "abcd" does: earliest end wins even though "abcd" starts first.
    ("earliest end", ["abcd", "bc"], "xabcd", "xa", "bc"),
    ("overlap abc bcd", ["abc", "bcd"], "xbcdabc", "x", "bcd"),
    ("overlap abc bcd 2", ["abc", "bcd"], "xabcd", "x", "abc"),
    # Tie on the end: the one starting earliest (the longest) wins, nothing leaks.
    ("tie longest", ["c", "abc", "bc"], "xabcd", "x", "abc"),
    ("prefix of other", ["ab", "abc"], "xabc", "x", "ab"),
    ("aab", ["aab"], "aaaab", "aa", "aab"),
    ("aab tie", ["aab", "ab"], "aaab", "a", "aab"),
    ("abab", ["abac"], "ababac", "ab", "abac"),
    ("empty ignored", ["", "z"], "xyz", "xy", "z"),
    ("only empty", [""], "xyz", "xyz", None),
    ("no sequences", [], "xyz", "xyz", None),
    ("duplicates", ["z", "z"], "xyz", "xy", "z"),
    ("emoji", ["😀😀"], "a😀b😀😀c", "a😀b", "😀😀"),
    ("cjk", ["停止"], "你好停停止了", "你好停", "停止"),
    # Exact code points, no normalisation: precomposed é is not e + U+0301.
    ("combining not normalised", ["é"], "cafe\u0301", "cafe\u0301", None),
    ("combining mark", ["e\u0301"], "cafe\u0301!", "caf", "e\u0301"),
    ("zwj", ["\u200d"], "👨\u200d👩", "👨", "\u200d"),
    ("regex chars", ["]^-\\"], "a]^-\\b", "a", "]^-\\"),
    ("newline", ["\n"], "line\nnext", "line", "\n"),
    ("empty text", ["x"], "", "", None),
]


@pytest.mark.parametrize(
    ("sequences", "text", "before", "matched"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_cases(sequences: list[str], text: str, before: str, matched: str | None) -> None:
    assert three_ways(sequences, text) == (before, matched)


def test_holds_only_the_shortest_tail() -> None:
    matcher = StopMatcher(["</answer>", "\n\nHuman:"])
    assert matcher.feed("a <") == ("a ", None)
    assert matcher.pending == "<"
    assert matcher.feed("/ans") == ("", None)
    assert matcher.pending == "</ans"
    # "</ans<" is no longer a prefix, but "<" is again: "</ans" goes out.
    assert matcher.feed("<") == ("</ans", None)
    assert matcher.feed("b\n") == ("<b", None)
    assert matcher.pending == "\n"
    assert matcher.feed("\nHum") == ("", None)
    assert matcher.feed("an: x") == ("", "\n\nHuman:")


def test_tail_inside_held_text_is_kept() -> None:
    # Held "ab" (for "abx") plus "c" becomes held "bc" (for "bcd"); only "a" goes.
    matcher = StopMatcher(["abx", "bcd"])
    assert matcher.feed("ab") == ("", None)
    assert matcher.feed("c") == ("a", None)
    assert matcher.pending == "bc"
    assert matcher.feed("d") == ("", "bcd")


def test_match_starting_in_held_text() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("hi ST") == ("hi ", None)
    assert matcher.feed("OP and more") == ("", "STOP")


def test_no_candidate_returns_the_same_object() -> None:
    matcher = StopMatcher(["\n\nHuman:", "</answer>"])
    chunk = "plain words without any starting character" * 100
    safe, matched = matcher.feed(chunk)
    assert safe is chunk
    assert matched is None
    # A candidate that turns out not to match also costs no copy.
    chunk2 = "one\ntwo <b> three"
    assert matcher.feed(chunk2)[0] is chunk2


def test_feed_after_match_raises() -> None:
    matcher = StopMatcher(["x"])
    assert matcher.feed("ax") == ("a", "x")
    with pytest.raises(RuntimeError, match="already matched"):
        matcher.feed("more")
    assert matcher.matched == "x"
    assert matcher.flush() == ""


def test_flush_restarts_matching() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("one ST") == ("one ", None)
    assert matcher.flush() == "ST"
    # A new block: the old "ST" does not combine with "OP".
    assert matcher.feed("OP") == ("OP", None)
    assert matcher.feed(" STOP") == (" ", "STOP")


def test_single_string_is_rejected() -> None:
    with pytest.raises(TypeError):
        StopMatcher("STOP")


ALPHABET = "ab\n😀é"


@settings(max_examples=400, deadline=None)
@given(
    sequences=st.lists(st.text(ALPHABET, max_size=4), max_size=4),
    text=st.text(ALPHABET, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=8),
)
def test_random_splits(sequences: list[str], text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert run_pieces(sequences, pieces) == reference_stop(text, sequences)
    assert run_pieces(sequences, list(text)) == reference_stop(text, sequences)


# --- StopSequences: events ------------------------------------------------------


def text_delta(text: str, index: int = 0) -> Event:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


def block_start(index: int, kind: str = "text") -> Event:
    blocks: dict[str, dict[str, Any]] = {
        "text": {"type": "text", "text": ""},
        "thinking": {"type": "thinking", "thinking": "", "signature": ""},
        "tool_use": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    }
    return {"type": "content_block_start", "index": index, "content_block": blocks[kind]}


def block_stop(index: int) -> Event:
    return {"type": "content_block_stop", "index": index}


MESSAGE_START: Event = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    },
}
END_TURN: Event = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    "usage": {"output_tokens": 7},
}
MESSAGE_STOP: Event = {"type": "message_stop"}


def stop_tail(index: int, sequence: str) -> list[Event]:
    return [
        {"type": "content_block_stop", "index": index},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "stop_sequence", "stop_sequence": sequence},
            "usage": {"output_tokens": 0},
        },
        {"type": "message_stop"},
    ]


def feed_all(filt: StopSequences, events: Sequence[Event]) -> list[Event]:
    out: list[Event] = []
    for event in events:
        out += filt.feed(event)
    return out


def text_of(events: Sequence[Event], index: int) -> str:
    return "".join(
        e["delta"]["text"]
        for e in events
        if e["type"] == "content_block_delta"
        and e["index"] == index
        and e["delta"]["type"] == "text_delta"
    )


def assert_no_empty_text(events: Sequence[Event]) -> None:
    for e in events:
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta":
            assert e["delta"]["text"] != ""


def test_events_match_across_deltas() -> None:
    filt = StopSequences(["END"])
    events = [
        MESSAGE_START,
        block_start(0),
        text_delta("Hello E"),
        text_delta("N"),
        text_delta("D!"),
    ]
    out = feed_all(filt, events)
    assert out == [MESSAGE_START, block_start(0), text_delta("Hello "), *stop_tail(0, "END")]
    assert out[0] is MESSAGE_START
    assert filt.done
    assert filt.matched == "END"
    # Everything afterwards is swallowed, whatever it is.
    for later in [text_delta("more"), block_stop(0), END_TURN, MESSAGE_STOP, {"type": "ping"}]:
        assert filt.feed(later) == []


def test_match_in_first_delta_at_first_character() -> None:
    filt = StopSequences(["H"])
    out = feed_all(filt, [MESSAGE_START, block_start(0), text_delta("Hi")])
    assert out == [MESSAGE_START, block_start(0), *stop_tail(0, "H")]


def test_held_text_released_before_block_stop() -> None:
    filt = StopSequences(["\n\nHuman:"])
    events = [
        MESSAGE_START,
        block_start(0),
        text_delta("Done.\n"),
        {"type": "ping"},
        text_delta("\n"),
        block_stop(0),
        END_TURN,
        MESSAGE_STOP,
    ]
    out = feed_all(filt, events)
    assert out == [
        MESSAGE_START,
        block_start(0),
        text_delta("Done."),
        {"type": "ping"},
        text_delta("\n\n"),
        block_stop(0),
        END_TURN,
        MESSAGE_STOP,
    ]
    # The upstream's own ending passes through as the same objects.
    assert out[-2] is END_TURN
    assert out[-1] is MESSAGE_STOP
    assert not filt.done
    assert filt.matched is None


def test_whole_delta_held_is_dropped_not_emptied() -> None:
    filt = StopSequences(["STOP"])
    assert filt.feed(text_delta("ST")) == []
    assert filt.feed(text_delta("O")) == []
    assert filt.feed(text_delta("x")) == [text_delta("STOx")]
    assert filt.feed(text_delta("")) == []


def test_unchanged_delta_is_the_same_object() -> None:
    filt = StopSequences(["STOP"])
    event = text_delta("nothing to see")
    assert filt.feed(event)[0] is event


def test_rewritten_delta_keeps_other_fields_and_input_untouched() -> None:
    filt = StopSequences(["STOP"])
    event: Event = {
        "type": "content_block_delta",
        "index": 3,
        "extra": 1,
        "delta": {"type": "text_delta", "text": "a ST", "x": 2},
    }
    out = filt.feed(event)
    assert out == [
        {
            "type": "content_block_delta",
            "index": 3,
            "extra": 1,
            "delta": {"type": "text_delta", "text": "a ", "x": 2},
        }
    ]
    assert event["delta"]["text"] == "a ST"


def test_thinking_and_tool_json_are_never_matched() -> None:
    filt = StopSequences(["STOP"])
    thinking = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "I must STOP"},
    }
    signature = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "STOP"},
    }
    tool_json = {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '"STOP"'},
    }
    events = [
        MESSAGE_START,
        block_start(0, "thinking"),
        thinking,
        signature,
        block_stop(0),
        block_start(1),
        text_delta("calling ST", 1),
        block_stop(1),
        block_start(2, "tool_use"),
        tool_json,
        block_stop(2),
        END_TURN,
        MESSAGE_STOP,
    ]
    out = feed_all(filt, events)
    assert out == [
        MESSAGE_START,
        block_start(0, "thinking"),
        thinking,
        signature,
        block_stop(0),
        block_start(1),
        text_delta("calling ", 1),
        text_delta("ST", 1),
        block_stop(1),
        block_start(2, "tool_use"),
        tool_json,
        block_stop(2),
        END_TURN,
        MESSAGE_STOP,
    ]
    for got, sent in zip(out[2:5], [thinking, signature, block_stop(0)], strict=True):
        assert got == sent
    assert out[2] is thinking
    assert out[10] is tool_json
    assert not filt.done


def test_sequence_does_not_straddle_text_blocks() -> None:
    filt = StopSequences(["STOP"])
    events = [
        block_start(0),
        text_delta("ST", 0),
        block_stop(0),
        block_start(1),
        text_delta("OP", 1),
        block_stop(1),
    ]
    out = feed_all(filt, events)
    assert text_of(out, 0) == "ST"
    assert text_of(out, 1) == "OP"
    assert not filt.done


def test_match_in_second_text_block() -> None:
    filt = StopSequences(["STOP"])
    events = [
        block_start(0),
        text_delta("a"),
        block_stop(0),
        block_start(1),
        text_delta("b S", 1),
        text_delta("TOP c", 1),
    ]
    out = feed_all(filt, events)
    assert out == [
        block_start(0),
        text_delta("a"),
        block_stop(0),
        block_start(1),
        text_delta("b ", 1),
        *stop_tail(1, "STOP"),
    ]


def test_message_end_without_block_stop_releases_tail() -> None:
    filt = StopSequences(["STOP"])
    out = feed_all(filt, [block_start(0), text_delta("a S"), END_TURN, MESSAGE_STOP])
    assert out == [block_start(0), text_delta("a "), text_delta("S"), END_TURN, MESSAGE_STOP]


def test_error_event_releases_tail() -> None:
    filt = StopSequences(["STOP"])
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    out = feed_all(filt, [block_start(0), text_delta("a S"), error])
    assert out == [block_start(0), text_delta("a "), text_delta("S"), error]
    assert out[-1] is error


def test_flush_for_a_cut_stream() -> None:
    filt = StopSequences(["STOP"])
    assert filt.feed(text_delta("a ST", 4)) == [text_delta("a ", 4)]
    assert filt.flush() == [text_delta("ST", 4)]
    assert filt.flush() == []


def test_empty_list_passes_everything_through() -> None:
    filt = StopSequences([])
    events = [
        MESSAGE_START,
        block_start(0),
        text_delta("STOP"),
        block_stop(0),
        END_TURN,
        MESSAGE_STOP,
    ]
    out = feed_all(filt, events)
    assert out == events
    assert all(a is b for a, b in zip(out, events, strict=True))
    assert not filt.done


def test_unknown_events_pass_through() -> None:
    filt = StopSequences(["x"])
    odd = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "citations_delta", "citation": {}},
    }
    other = {"type": "something_new", "x": "x"}
    assert filt.feed(odd)[0] is odd
    assert filt.feed(other)[0] is other


@settings(max_examples=300, deadline=None)
@given(
    sequences=st.lists(st.text(ALPHABET, min_size=1, max_size=3), min_size=1, max_size=3),
    text=st.text(ALPHABET, max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=25), max_size=6),
)
def test_events_random_splits(sequences: list[str], text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    deltas = [text_delta(text[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    filt = StopSequences(sequences)
    out = feed_all(
        filt, [MESSAGE_START, block_start(0), *deltas, block_stop(0), END_TURN, MESSAGE_STOP]
    )
    before, matched = reference_stop(text, sequences)
    assert text_of(out, 0) == before
    assert_no_empty_text(out)
    assert filt.matched == matched
    assert filt.done == (matched is not None)
    tail = stop_tail(0, matched) if matched is not None else [block_stop(0), END_TURN, MESSAGE_STOP]
    assert out[-len(tail) :] == tail
    assert [e["type"] for e in out].count("message_stop") == 1
