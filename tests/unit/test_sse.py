"""The SSE decoder and encoder (llmproxy.wire.sse).

Every case in CASES runs three ways, like h11's ``tr()``: the whole input at once,
one byte at a time (checking that each item appears exactly when its last byte
arrives, and not before), and with an unfinished event left behind it. In every
run the items' ``raw`` slices must put the input back together.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import pathlib
import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmproxy.wire as wire
from llmproxy.wire import (
    COMMENT_PING,
    NEED_DATA,
    SSEComment,
    SSEDataReader,
    SSEDecoder,
    SSEEvent,
    anthropic_ping,
    encode_event,
)

Item = SSEEvent | SSEComment
BOM = b"\xef\xbb\xbf"


def E(
    data: str = "",
    event: str | None = None,
    *,
    id: str | None = None,
    retry: int | None = None,
) -> SSEEvent:
    return SSEEvent(event=event, data=data, id=id, retry=retry)


def C(text: str) -> SSEComment:
    return SSEComment(text=text)


def strip_raw(items: Sequence[Item]) -> list[Item]:
    return [dataclasses.replace(item, raw=b"") for item in items]


# (id, wire bytes, expected items, cut at EOF)
CASES: list[tuple[str, bytes, list[Item], bool]] = [
    # --- framing and line endings ---
    ("lf", b"event: a\ndata: 1\n\n", [E("1", "a")], False),
    ("crlf", b"event: a\r\ndata: 1\r\n\r\n", [E("1", "a")], False),
    ("cr", b"event: a\rdata: 1\r\r", [E("1", "a")], False),
    (
        "mixed-endings",
        b"data: 1\r\n\ndata: 2\r\r\ndata: 3\n\rdata: 4\r\r",
        [E("1"), E("2"), E("3"), E("4")],
        False,
    ),
    ("cr-then-crlf-blank", b"data: x\r\r\ndata: y\n\n", [E("x"), E("y")], False),
    ("two-events", b"data: a\n\ndata: b\n\n", [E("a"), E("b")], False),
    ("gemini-crlf", b'data: {"a":1}\r\n\r\n', [E('{"a":1}')], False),
    (
        "not-line-ends",
        "data: a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g\n\n".encode(),
        [E("a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g")],
        False,
    ),
    # --- BOM ---
    ("bom", BOM + b"data: x\n\n", [E("x")], False),
    ("bom-only-once", BOM + BOM + b"data: x\n\ndata: y\n\n", [E("y")], False),
    ("bom-later-is-data", b"data: x\n\n" + BOM + b"data: y\n\n", [E("x")], False),
    ("bom-in-value", b"data: " + BOM + b"\n\n", [E("\ufeff")], False),
    ("bom-then-blank", BOM + b"\n\ndata: x\n\n", [E("x")], False),
    ("half-bom", b"\xef\xbb", [], True),
    # --- comments ---
    ("comment", b": ping\n\n", [C("ping")], False),
    ("comment-empty", b":\n\n", [C("")], False),
    ("comment-no-space", b":OPENROUTER PROCESSING\r\n\r\n", [C("OPENROUTER PROCESSING")], False),
    ("comment-two-spaces", b":  x\n\n", [C(" x")], False),
    ("comment-lines", b": a\n: b\n\n", [C("a\nb")], False),
    ("comment-in-event", b": note\nevent: a\n: more\ndata: x\n\n", [E("x", "a")], False),
    ("comment-between", b"data: a\n\n: ping\n\ndata: b\n\n", [E("a"), C("ping"), E("b")], False),
    ("comment-and-unknown", b"foo: 1\n: hi\n\n", [C("hi")], False),
    # --- data ---
    ("data-lines", b"data: a\ndata: b\ndata:\n\n", [E("a\nb\n")], False),
    ("data-leading-blank", b"data:\ndata: x\n\n", [E("\nx")], False),
    ("data-no-colon", b"data\n\n", [E("")], False),
    ("data-empty", b"data:\n\n", [E("")], False),
    ("data-no-space", b"data:x\n\n", [E("x")], False),
    ("data-two-spaces", b"data:  x\n\n", [E(" x")], False),
    ("data-tab", b"data:\tx\n\n", [E("\tx")], False),
    ("data-trailing-space", b"data: x \n\n", [E("x ")], False),
    ("data-colons", b"data: a: b\ndata::c\n\n", [E("a: b\n:c")], False),
    ("data-nul", b"data: a\0b\n\n", [E("a\0b")], False),
    ("data-utf8", "data: héllo 日本 🎉\n\n".encode(), [E("héllo 日本 🎉")], False),
    ("data-bad-utf8", b"data: \xff\xfeok\n\n", [E("\ufffd\ufffdok")], False),
    ("data-json", b'data: {"type":"x","n":[1,2]}\n\n', [E('{"type":"x","n":[1,2]}')], False),
    # --- event ---
    ("event-only", b"event: ping\n\n", [E("", "ping")], False),
    ("event-last-wins", b"event: a\nevent: b\ndata: x\n\n", [E("x", "b")], False),
    ("event-empty", b"event:\ndata: x\n\n", [E("x")], False),
    ("event-empty-alone", b"event:\n\n", [], False),
    ("event-reset", b"event: a\ndata: 1\n\ndata: 2\n\n", [E("1", "a"), E("2")], False),
    ("event-space", b"event:  a \ndata: x\n\n", [E("x", " a ")], False),
    # --- id ---
    ("id", b"id: 7\ndata: x\n\n", [E("x", id="7")], False),
    ("id-nul", b"id: a\0b\ndata: x\n\n", [E("x")], False),
    ("id-only", b"id: 3\n\n", [E(id="3")], False),
    ("id-nul-only", b"id: \0\n\n", [], False),
    ("id-empty-alone", b"id:\n\n", [], False),
    ("id-empty-with-data", b"id:\ndata: x\n\n", [E("x", id="")], False),
    ("id-per-block", b"id: 1\ndata: a\n\ndata: b\n\n", [E("a", id="1"), E("b")], False),
    # --- retry ---
    ("retry", b"retry: 1500\ndata: x\n\n", [E("x", retry=1500)], False),
    ("retry-only", b"retry: 10\n\n", [E(retry=10)], False),
    ("retry-zero", b"retry: 0\ndata: x\n\n", [E("x", retry=0)], False),
    ("retry-letters", b"retry: 15x\ndata: x\n\n", [E("x")], False),
    ("retry-negative", b"retry: -1\ndata: x\n\n", [E("x")], False),
    ("retry-space", b"retry:  5\ndata: x\n\n", [E("x")], False),
    ("retry-non-ascii-digits", "retry: ١٢\ndata: x\n\n".encode(), [E("x")], False),
    ("retry-empty", b"retry:\ndata: x\n\n", [E("x")], False),
    ("retry-invalid-alone", b"retry: x\n\n", [], False),
    # --- fields ignored ---
    ("unknown-field", b"foo: bar\ndata: x\n\n", [E("x")], False),
    ("unknown-only", b"foo: bar\n\ndata: x\n\n", [E("x")], False),
    ("case-sensitive", b"Data: x\nEVENT: y\n\n", [], False),
    ("space-before-colon", b"data : x\n\n", [], False),
    ("spaces-line", b" \n\n", [], False),
    # --- blank lines ---
    ("leading-blanks", b"\n\r\n\rdata: x\n\n", [E("x")], False),
    ("extra-blanks", b"data: x\n\n\n\n\r\n", [E("x")], False),
    ("empty", b"", [], False),
    ("blanks-only", b"\n\r\n\r\r", [], False),
    # --- end of stream ---
    ("cut-no-eol", b"data: x", [], True),
    ("cut-one-eol", b"data: x\n", [], True),
    ("cut-after-event", b"data: a\n\ndata: b\n", [E("a")], True),
    ("cut-cr", b"data: x\r", [], True),
    ("cut-comment", b": ping\n", [], True),
    ("eof-cr-blank", b"data: x\n\r", [E("x")], False),
    ("eof-cr-cr", b"data: x\r\r", [E("x")], False),
    ("eof-crlf-cr", b"data: x\r\n\r", [E("x")], False),
]


def drain(decoder: SSEDecoder) -> list[Item]:
    items: list[Item] = []
    while True:
        item = decoder.next_event()
        if item is NEED_DATA:
            return items
        items.append(item)  # mypy narrows on `is NEED_DATA` (the sentinel is @final)


def check_raws(items: Sequence[Item], decoder: SSEDecoder, data: bytes) -> None:
    """Each raw is the next slice of the input; what is left is ``discarded``."""
    offset = 0
    for item in items:
        assert item.raw, item
        assert data[offset : offset + len(item.raw)] == item.raw
        offset += len(item.raw)
    assert decoder.discarded == data[offset:]


def available_after(data: bytes, items: Sequence[Item]) -> list[int | None]:
    """How many bytes must be fed before each item may appear (None: only at end()).

    An item is complete when its raw is; one whose raw ends in CR also needs the
    next byte, which tells whether that CR was the first half of a CRLF.
    """
    result: list[int | None] = []
    offset = 0
    for item in items:
        offset += len(item.raw)
        if item.raw.endswith(b"\r"):
            result.append(offset + 1 if offset < len(data) else None)
        else:
            result.append(offset)
    return result


@pytest.mark.parametrize(
    ("data", "expected", "cut"),
    [pytest.param(d, e, c, id=i) for i, d, e, c in CASES],
)
def test_whole(data: bytes, expected: list[Item], cut: bool) -> None:
    decoder = SSEDecoder()
    decoder.feed(data)
    items = drain(decoder)
    assert not decoder.cut
    assert decoder.discarded == b""
    decoder.end()
    items += drain(decoder)
    assert strip_raw(items) == expected
    assert decoder.cut is cut
    check_raws(items, decoder, data)
    assert decoder.next_event() is NEED_DATA


@pytest.mark.parametrize(
    ("data", "expected", "cut"),
    [pytest.param(d, e, c, id=i) for i, d, e, c in CASES],
)
def test_one_byte_at_a_time(data: bytes, expected: list[Item], cut: bool) -> None:
    decoder = SSEDecoder()
    items: list[Item] = []
    seen_at: list[int | None] = []
    for i in range(len(data)):
        decoder.feed(data[i : i + 1])
        got = drain(decoder)  # drain() stops at NEED_DATA
        items += got
        seen_at += [i + 1] * len(got)
    decoder.end()
    got = drain(decoder)
    items += got
    seen_at += [None] * len(got)
    assert strip_raw(items) == expected
    assert decoder.cut is cut
    check_raws(items, decoder, data)
    assert seen_at == available_after(data, items)


TRAILER = b"event: cut\ndata: partial"


@pytest.mark.parametrize(
    ("data", "expected", "cut"),
    [pytest.param(d, e, c, id=i) for i, d, e, c in CASES],
)
def test_with_trailing_partial_event(data: bytes, expected: list[Item], cut: bool) -> None:
    decoder = SSEDecoder()
    decoder.feed(data + TRAILER)
    items = drain(decoder)  # all of them, before end(): the trailer settles any last CR
    assert strip_raw(items) == expected
    decoder.end()
    assert drain(decoder) == []
    assert decoder.cut
    check_raws(items, decoder, data + TRAILER)
    assert decoder.discarded.endswith(TRAILER)


# --- a real Anthropic stream -------------------------------------------------------

# The composed example of protocols.md §1.8, with a non-ASCII text delta written
# both raw and \u-escaped (a json.dumps round trip would change one of them).
ANTHROPIC_STREAM = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_01","type":"message",'
    b'"role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,'
    b'"stop_sequence":null,"usage":{"input_tokens":377,"cache_creation_input_tokens":0,'
    b'"cache_read_input_tokens":0,"output_tokens":1}}}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":'
    b'{"type":"thinking","thinking":"","signature":""}}\n\n'
    b"event: ping\n"
    b'data: {"type": "ping"}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta",'
    b'"thinking":"User wants weather."}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta",'
    b'"signature":"EqQBCgIYAhIM+/=="}}\n\n'
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":0}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta",'
    b'"text":"Checking Par\\u00eds \xc3\xa9t\xc3\xa9."}}\n\n'
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":1}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use",'
    b'"id":"toolu_01","name":"get_weather","input":{}}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    b'"partial_json":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    b'"partial_json":"{\\"city\\": \\"Pa"}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    b'"partial_json":"ris\\"}"}}\n\n'
    b"event: content_block_stop\n"
    b'data: {"type":"content_block_stop","index":2}\n\n'
    b"event: message_delta\n"
    b'data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},'
    b'"usage":{"output_tokens":65}}\n\n'
    b"event: message_stop\n"
    b'data: {"type":"message_stop"}\n\n'
)

ANTHROPIC_NAMES = [
    "message_start",
    "content_block_start",
    "ping",
    "content_block_delta",
    "content_block_delta",
    "content_block_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_delta",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
]


@pytest.mark.parametrize("chunk", [1, 7, 64, len(ANTHROPIC_STREAM)])
def test_anthropic_stream(chunk: int) -> None:
    decoder = SSEDecoder()
    events: list[Item] = []
    for i in range(0, len(ANTHROPIC_STREAM), chunk):
        decoder.feed(ANTHROPIC_STREAM[i : i + chunk])
        events += decoder.events()
    decoder.end()
    assert list(decoder.events()) == []
    assert not decoder.cut
    assert all(isinstance(e, SSEEvent) for e in events)
    sse = [e for e in events if isinstance(e, SSEEvent)]
    assert [e.event for e in sse] == ANTHROPIC_NAMES
    bodies = [e.json() for e in sse]
    # The SSE name and the JSON type agree on every event.
    assert [b["type"] for b in bodies] == ANTHROPIC_NAMES
    assert b"".join(e.raw for e in sse) == ANTHROPIC_STREAM

    deltas = [b["delta"] for b in bodies if b["type"] == "content_block_delta"]
    assert [d["type"] for d in deltas] == [
        "thinking_delta",
        "signature_delta",
        "text_delta",
        "input_json_delta",
        "input_json_delta",
        "input_json_delta",
    ]
    assert deltas[1]["signature"] == "EqQBCgIYAhIM+/=="
    assert deltas[2]["text"] == "Checking París été."
    tool_input = "".join(d["partial_json"] for d in deltas if d["type"] == "input_json_delta")
    assert json.loads(tool_input) == {"city": "Paris"}
    assert bodies[0]["message"]["usage"]["input_tokens"] == 377
    assert bodies[-2]["usage"]["output_tokens"] == 65
    # Relaying raw keeps the escaped and the unescaped text exactly as sent.
    assert b"Par\\u00eds \xc3\xa9t\xc3\xa9." in sse[7].raw


def test_anthropic_error_event_and_cut_stream() -> None:
    decoder = SSEDecoder()
    decoder.feed(
        b"event: message_start\ndata: {}\n\n"
        b"event: error\n"
        b'data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
        b"\n\nevent: content_block_delta\ndata: {"
    )
    decoder.end()
    items = list(decoder.events())
    assert [i.event for i in items if isinstance(i, SSEEvent)] == ["message_start", "error"]
    assert isinstance(items[1], SSEEvent)
    assert items[1].json()["error"]["type"] == "overloaded_error"
    assert decoder.cut
    assert decoder.discarded == b"event: content_block_delta\ndata: {"


# --- the encoder ---------------------------------------------------------------------

# (data, event, wire): encode_event(data, event) == wire, and decoding wire gives
# back (event, data).
ENCODE_CASES: list[tuple[str, str | None, bytes]] = [
    ('{"type":"ping"}', None, b'data: {"type":"ping"}\n\n'),
    (
        '{"type":"message_stop"}',
        "message_stop",
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ),
    ("[DONE]", None, b"data: [DONE]\n\n"),
    ("", None, b"data: \n\n"),
    ("", "ping", b"event: ping\ndata: \n\n"),
    ("a\nb", None, b"data: a\ndata: b\n\n"),
    ("a\n", "x", b"event: x\ndata: a\ndata: \n\n"),
    ("\n", None, b"data: \ndata: \n\n"),
    (" lead", None, b"data:  lead\n\n"),
    ("é 🎉", "ünï", "event: ünï\ndata: é 🎉\n\n".encode()),
    (": not a comment", None, b"data: : not a comment\n\n"),
]


@pytest.mark.parametrize(("data", "event", "raw"), ENCODE_CASES)
def test_encode(data: str, event: str | None, raw: bytes) -> None:
    assert encode_event(data, event) == raw
    assert encode_event(data.encode(), event) == raw


@pytest.mark.parametrize(("data", "event", "raw"), ENCODE_CASES)
def test_decode_what_encode_writes(data: str, event: str | None, raw: bytes) -> None:
    decoder = SSEDecoder()
    decoder.feed(raw)
    assert list(decoder.events()) == [SSEEvent(event=event, data=data, raw=raw)]


@pytest.mark.parametrize(
    ("data", "wire_bytes", "decoded"),
    [
        ("a\r\nb", b"data: a\ndata: b\n\n", "a\nb"),
        ("a\rb", b"data: a\ndata: b\n\n", "a\nb"),
        ("a\r", b"data: a\ndata: \n\n", "a\n"),
        ("a\r\r\n", b"data: a\ndata: \ndata: \n\n", "a\n\n"),
    ],
)
def test_encode_splits_every_line_break(data: str, wire_bytes: bytes, decoded: str) -> None:
    assert encode_event(data) == wire_bytes
    decoder = SSEDecoder()
    decoder.feed(wire_bytes)
    assert [e.data for e in decoder.events() if isinstance(e, SSEEvent)] == [decoded]


def test_encode_without_event_name() -> None:
    assert encode_event("x", "") == encode_event("x") == b"data: x\n\n"


@pytest.mark.parametrize("name", ["a\nb", "a\r", "\r\n"])
def test_encode_refuses_line_break_in_event_name(name: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_event("x", name)


def test_pings() -> None:
    assert anthropic_ping() == b'event: ping\ndata: {"type": "ping"}\n\n'
    assert COMMENT_PING == b": ping\n\n"
    decoder = SSEDecoder()
    decoder.feed(anthropic_ping() + COMMENT_PING)
    assert list(decoder.events()) == [
        SSEEvent(event="ping", data='{"type": "ping"}', raw=anthropic_ping()),
        SSEComment(text="ping", raw=COMMENT_PING),
    ]


# --- the decoder's surface ---------------------------------------------------------


def test_need_data_is_its_own_type() -> None:
    assert type(NEED_DATA) is NEED_DATA
    assert repr(NEED_DATA) == "NEED_DATA"
    assert SSEDecoder().next_event() is NEED_DATA


def test_feed_after_end_is_refused_and_end_is_idempotent() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x\n\ndata: y")
    assert not decoder.ended
    decoder.end()
    decoder.end()
    assert decoder.ended
    assert decoder.cut
    assert decoder.discarded == b"data: y"
    with pytest.raises(RuntimeError, match="after end"):
        decoder.feed(b"\n\n")
    assert [e.data for e in decoder.events() if isinstance(e, SSEEvent)] == ["x"]


def test_empty_feed_is_not_eof() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x\r")
    decoder.feed(b"")
    assert decoder.next_event() is NEED_DATA
    decoder.feed(b"\r")
    assert decoder.next_event() is NEED_DATA  # the second CR may still be half a CRLF
    decoder.feed(b"\n")
    assert list(decoder.events()) == [SSEEvent(data="x", raw=b"data: x\r\r\n")]


def test_items_completed_before_end_survive_it() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n: c\n\ndata: b\r\r")
    decoder.end()
    assert strip_raw(list(decoder.events())) == [E("a"), C("c"), E("b")]


def test_last_event_id_is_sticky() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id is None
    decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\nid: \0\ndata: c\n\nid\n\n")
    events = [e for e in decoder.events() if isinstance(e, SSEEvent)]
    assert [e.id for e in events] == ["1", None, None]
    assert decoder.last_event_id == ""  # the bare `id` line reset it
    decoder.feed(b"id: 9\n\n")
    # The `id` block dispatched nothing, so its bytes open the next item's raw.
    assert drain(decoder) == [SSEEvent(id="9", raw=b"id\n\nid: 9\n\n")]
    assert decoder.last_event_id == "9"


def test_event_json_helper() -> None:
    assert SSEEvent(data='{"a": [1]}').json() == {"a": [1]}
    with pytest.raises(json.JSONDecodeError):
        SSEEvent(data="[DONE").json()


def test_events_are_frozen() -> None:
    event = SSEEvent(data="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = "y"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


def test_a_big_event_in_small_reads() -> None:
    data = "x" * 200_000
    raw = encode_event(data, "big")
    decoder = SSEDecoder()
    for i in range(0, len(raw), 1000):
        decoder.feed(raw[i : i + 1000])
        if i + 1000 < len(raw):
            assert decoder.next_event() is NEED_DATA
    assert list(decoder.events()) == [SSEEvent(event="big", data=data, raw=raw)]


# --- property tests ----------------------------------------------------------------

names = st.none() | st.text(
    st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), min_size=1, max_size=8
)
payloads = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def decode_chunks(chunks: list[bytes]) -> tuple[list[Item], bool, bytes]:
    decoder = SSEDecoder()
    items: list[Item] = []
    for chunk in chunks:
        decoder.feed(chunk)
        items += decoder.events()
    decoder.end()
    items += decoder.events()
    return items, decoder.cut, decoder.discarded


@settings(max_examples=300)
@given(
    events=st.lists(st.tuples(payloads, names), max_size=6),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0), max_size=12),
)
def test_encoded_stream_survives_any_split(
    events: list[tuple[str, str | None]], eol: bytes, cuts: list[int]
) -> None:
    stream = b"".join(encode_event(data, name) for data, name in events)
    stream = stream.replace(b"\n", eol)  # encoded lines never contain a line break
    items, cut, discarded = decode_chunks(split_at(stream, cuts))
    expected = [E(re.sub(r"\r\n|\r", "\n", data), name or None) for data, name in events]
    assert strip_raw(items) == expected
    assert not cut
    assert discarded == b""
    assert b"".join(i.raw for i in items) == stream


def reference_decode(data: bytes) -> tuple[list[Item], bool]:
    """A plain line-by-line reading of the same rules, for differential testing."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    *lines, rest = re.split(rb"\r\n|\r|\n", data)
    items: list[Item] = []
    event: str | None = None
    chunks: list[str] = []
    event_id: str | None = None
    retry: int | None = None
    comments: list[str] = []
    open_block = False
    for line in lines:
        if not line:
            if chunks or event or event_id or retry is not None:
                items.append(E("\n".join(chunks), event, id=event_id, retry=retry))
            elif comments:
                items.append(C("\n".join(comments)))
            event, chunks, event_id, retry, comments = None, [], None, None, []
            open_block = False
            continue
        open_block = True
        text = line.decode("utf-8", "replace")
        name, _, value = text.partition(":")
        value = value.removeprefix(" ")
        if not name:
            comments.append(value)
        elif name == "data":
            chunks.append(value)
        elif name == "event":
            event = value or None
        elif name == "id" and "\0" not in value:
            event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    return items, open_block or rest != b""


tokens = st.sampled_from(
    [
        b"data",
        b"event",
        b"id",
        b"retry",
        b":",
        b": ",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"x",
        b"12",
        b"\0",
        BOM,
        "é".encode(),
        b"\xe2\x80",
        b"\xff",
    ]
)


@settings(max_examples=500)
@given(parts=st.lists(tokens, max_size=40), cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_matches_a_line_by_line_reading(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    items, cut, discarded = decode_chunks(split_at(data, cuts))
    expected, expected_cut = reference_decode(data)
    assert strip_raw(items) == expected
    assert cut is expected_cut
    assert b"".join(i.raw for i in items) + discarded == data


@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_any_bytes_any_split_same_result(data: bytes, cuts: list[int]) -> None:
    whole = decode_chunks([data])
    assert decode_chunks(split_at(data, cuts)) == whole
    items, _, discarded = whole
    assert b"".join(i.raw for i in items) + discarded == data


# --- SSEDataReader: just each event's name and data ------------------------------------


def read_chunks(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    reader = SSEDataReader()
    out: list[tuple[str | None, str]] = []
    for chunk in chunks:
        out += reader.feed(chunk)
    return out + reader.end()


def dispatched(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    """What SSEDecoder dispatches, as (event, data), events with empty data left out."""
    items, _, _ = decode_chunks(chunks)
    return [(i.event, i.data) for i in items if isinstance(i, SSEEvent) and i.data]


@pytest.mark.parametrize(("name", "data", "expected", "cut"), CASES, ids=[c[0] for c in CASES])
def test_data_reader_agrees_with_the_decoder(
    name: str, data: bytes, expected: list[Item], cut: bool
) -> None:
    want = [(i.event, i.data) for i in expected if isinstance(i, SSEEvent) and i.data]
    assert read_chunks([data]) == want
    assert read_chunks([data[i : i + 1] for i in range(len(data))]) == want


def test_data_reader_reads_the_anthropic_shape_and_anything_else_on_lf_streams() -> None:
    reader = SSEDataReader()
    assert reader.feed(b'event: message_start\ndata: {"a":1}\n\nevent: ping\nda') == [
        ("message_start", '{"a":1}')
    ]
    more = b"ta: x\n\n: note\n\ndata: a\ndata:b\nid: 7\n\nevent:\ndata: c\n\n"
    assert reader.feed(more) == [
        ("ping", "x"),
        (None, "a\nb"),
        (None, "c"),
    ]
    # no data, or empty data: nothing for a reader of data
    assert reader.feed(b"event: e\n\nevent: e\ndata: \n\ndata\n\n") == []
    invalid = b"event: \xff\ndata: caf\xc3\xa9 \xe2\x80\n\n"
    assert reader.feed(invalid) == [("\ufffd", "café \ufffd")]
    assert reader.feed(b"data: unfinished") == []
    assert reader.end() == []


def test_data_reader_hands_a_cr_or_a_bom_stream_to_the_decoder() -> None:
    reader = SSEDataReader()
    assert reader.feed(b"data: 1\n\ndata: 2") == [(None, "1")]
    assert reader.feed(b"\r\n\r\nevent: x\rdata: 3\r") == [(None, "2")]
    assert reader.feed(b"\n") == []  # a CR last may be half of a CRLF: the decoder waits
    assert reader.end() == []  # "event: x\rdata: 3\r\n" has no blank line after it
    reader = SSEDataReader()
    assert reader.feed(BOM + b"data: 1\n\n") == [(None, "1")]
    reader = SSEDataReader()
    assert reader.feed(b"data: 1\r\r") == []  # the last CR may still become a CRLF
    assert reader.end() == [(None, "1")]  # it did not: the blank line ended there


lf_tokens = st.sampled_from(
    [b"data", b"event", b"id", b":", b": ", b" ", b"\n", b"\n\n", b"x", b"{}"]
    + ["é".encode(), b"\xe2\x80"]
)


@settings(max_examples=500)
@given(parts=st.lists(lf_tokens, max_size=40), cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_data_reader_matches_the_decoder_on_lf_streams(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    assert read_chunks(split_at(data, cuts)) == dispatched([data])


@settings(max_examples=300)
@given(parts=st.lists(tokens, max_size=40), cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_data_reader_matches_the_decoder_on_any_stream(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    assert read_chunks(split_at(data, cuts)) == dispatched([data])


# --- the package ---------------------------------------------------------------------


def test_public_names_are_all_exported_and_exist() -> None:
    for name in wire.__all__:
        assert hasattr(wire, name), name
    public = {n for n in vars(wire) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(wire, n)).__name__ == "module"}
    assert public - modules == set(wire.__all__)
    assert set(wire.sse.__all__) == set(wire.__all__)


def test_the_wire_package_does_no_io() -> None:
    forbidden = {"trio", "anyio", "httpx", "asyncio", "socket", "os", "pathlib", "time"}
    for path in pathlib.Path(wire.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found = [node.module or ""]
            else:
                continue
            for name in found:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
