"""Tests for llmproxy.config.toml_writer: exact layout, round-trip, refusals."""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.config.toml_writer import dumps

UTC = dt.UTC
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
PST = dt.timezone(dt.timedelta(hours=-8))


def same(a: Any, b: Any) -> bool:
    """Strict structural equality: ``==`` plus types, float bits, nan, offsets.

    Plain ``==`` would let a writer that turns ``1.0`` into ``1``, ``True`` into
    ``1``, ``-0.0`` into ``0.0`` or an offset datetime into a naive one pass. Key
    order is not compared: the layout moves plain pairs before tables on purpose.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a.hex() == b.hex() if not math.isnan(a) else math.isnan(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dt.datetime | dt.time):
        return bool(a == b) and a.utcoffset() == b.utcoffset()
    return bool(a == b)


def assert_round_trips(doc: Mapping[str, Any]) -> str:
    text = dumps(doc)
    back = tomllib.loads(text)
    assert same(back, doc), f"round-trip changed the document:\n{text}"
    assert dumps(back) == text  # stable: writing what we read gives the same text
    text.encode("utf-8")  # writable as a UTF-8 file
    return text


def test_same_is_strict() -> None:
    # The round-trip assertions are only as good as this comparison.
    assert same({"a": [1.0, {"b": "x"}]}, {"a": [1.0, {"b": "x"}]})
    assert same(math.nan, math.nan)
    assert not same(1, 1.0)
    assert not same(1, True)
    assert not same(0.0, -0.0)
    assert not same(0.1, 0.1 + 1e-17)
    assert not same({"a": 1, "b": 2}, {"a": 1})
    assert not same({"a": 1}, {"b": 1})
    assert not same([1], [1, 1])
    assert not same(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert not same(dt.datetime(2024, 1, 1, 5, 30, tzinfo=IST), dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert not same(dt.date(2024, 1, 1), dt.datetime(2024, 1, 1))


# --- exact text ----------------------------------------------------------------

EXACT: list[tuple[str, dict[str, Any], str]] = [
    ("empty document", {}, ""),
    (
        "scalars",
        {"s": "x", "i": -5, "f": 1.5, "t": True, "n": False},
        's = "x"\ni = -5\nf = 1.5\nt = true\nn = false\n',
    ),
    (
        "plain pairs, then tables, then arrays of tables, order kept in each",
        {
            "t1": {"a": 1},
            "x": 1,
            "aot": [{"a": 1}, {"b": 2}],
            "y": [1, 2],
            "t2": {"c": 3},
            "z": [],
        },
        "x = 1\ny = [1, 2]\nz = []\n\n"
        "[t1]\na = 1\n\n[t2]\nc = 3\n\n"
        "[[aot]]\na = 1\n\n[[aot]]\nb = 2\n",
    ),
    (
        "quoted keys",
        {"a.b": 1, "": 2, "é": 3, "bare_-09Az": 4, "has space": {'q"\\': 5, "x\ty": 6}},
        '"a.b" = 1\n"" = 2\n"é" = 3\nbare_-09Az = 4\n\n'
        '["has space"]\n"q\\"\\\\" = 5\n"x\\ty" = 6\n',
    ),
    (
        "string escapes",
        {"s": 'q" b\\ \b\t\n\f\r \x00\x01\x1f\x7f é 日本 🎉 \x80 \u2028'},
        's = "q\\" b\\\\ \\b\\t\\n\\f\\r \\u0000\\u0001\\u001F\\u007F é 日本 🎉 \x80 \u2028"\n',
    ),
    (
        "floats",
        {
            "a": 0.1,
            "b": -0.0,
            "c": 1e16,
            "d": 5e-324,
            "e": math.inf,
            "f": -math.inf,
            "g": 1.0,
            "h": 1785116457.25,
        },
        "a = 0.1\nb = -0.0\nc = 1e+16\nd = 5e-324\ne = inf\nf = -inf\ng = 1.0\nh = 1785116457.25\n",
    ),
    (
        "64-bit integer bounds",
        {"max": 2**63 - 1, "min": -(2**63), "zero": 0},
        "max = 9223372036854775807\nmin = -9223372036854775808\nzero = 0\n",
    ),
    (
        "dates and times",
        {
            "utc": dt.datetime(1979, 5, 27, 7, 32, tzinfo=UTC),
            "ist": dt.datetime(1979, 5, 27, 7, 32, 0, 999999, tzinfo=IST),
            "pst": dt.datetime(1979, 5, 27, 0, 32, tzinfo=PST),
            "local": dt.datetime(1979, 5, 27, 7, 32, 1),
            "date": dt.date(1, 1, 1),
            "time": dt.time(0, 32, 0, 5),
        },
        "utc = 1979-05-27T07:32:00+00:00\n"
        "ist = 1979-05-27T07:32:00.999999+05:30\n"
        "pst = 1979-05-27T00:32:00-08:00\n"
        "local = 1979-05-27T07:32:01\n"
        "date = 0001-01-01\n"
        "time = 00:32:00.000005\n",
    ),
    (
        "empty table, implicit parent table",
        {"vertex": {}, "p": {"q": {"r": 1}}, "w": {"aot": [{}]}},
        "[vertex]\n\n[p.q]\nr = 1\n\n[[w.aot]]\n",
    ),
    (
        "nested arrays of tables, tables inside entries",
        {"a": [{"x": 1, "b": [{"y": 2}, {"y": 3}], "t": {"z": 4}}, {"x": 5}]},
        "[[a]]\nx = 1\n\n[a.t]\nz = 4\n\n[[a.b]]\ny = 2\n\n[[a.b]]\ny = 3\n\n[[a]]\nx = 5\n",
    ),
    (
        "inline tables in mixed and nested lists",
        {"m": [1, {"k": "v", "n": {"d": []}}, [{"a": 1}], {}, "s"], "t": {"l": [[{"b": []}]]}},
        'm = [1, { k = "v", n = { d = [] } }, [{ a = 1 }], {}, "s"]\n\n[t]\nl = [[{ b = [] }]]\n',
    ),
    (
        "quoted keys in headers",
        {"a.b": {"": {"c d": [{"é": 1}]}}},
        '[["a.b".""."c d"]]\n"é" = 1\n',
    ),
]


@pytest.mark.parametrize(("doc", "expected"), [c[1:] for c in EXACT], ids=[c[0] for c in EXACT])
def test_exact_text(doc: dict[str, Any], expected: str) -> None:
    assert dumps(doc) == expected
    assert_round_trips(doc)


# --- round-trip only -----------------------------------------------------------

ROUND_TRIP: list[tuple[str, dict[str, Any]]] = [
    ("every ASCII character in a string", {"s": "".join(map(chr, range(128)))}),
    ("every ASCII character in a key", {"".join(map(chr, range(128))): {"k": 1}}),
    ("header-looking strings", {"s": "[a]\n[[b]]\nc = 1", "k": {"[x]": "= y #"}}),
    ("non-BMP unicode", {"🎉": "\U0010ffff\U0001f600", "ключ": {"値": "ä\u00ad\ufeff"}}),
    ("deep nesting", {"a": {"b": {"c": {"d": [{"e": {"f": [{"g": {}}]}}]}}}}),
    ("lists of lists", {"l": [[], [[]], [1, [2.5, ["x"]]], [True, dt.date(2024, 2, 29)]]}),
    ("list of empty tables", {"l": [{}, {}], "m": [{}, 1]}),
    ("table then array key with the same prefix", {"a": {"b": 1}, "a_b": [{"c": 1}]}),
    (
        "keys that look like other TOML",
        {"true": 1, "1.5": 2, "inf": 3, "-": 4, "1979-05-27": 5, "#": 6, "=": 7, " ": 8},
    ),
    ("big and small floats", {"f": [1.7976931348623157e308, 2.2250738585072014e-308, -1e-300]}),
]


@pytest.mark.parametrize("doc", [c[1] for c in ROUND_TRIP], ids=[c[0] for c in ROUND_TRIP])
def test_round_trip(doc: dict[str, Any]) -> None:
    text = assert_round_trips(doc)
    assert '"""' not in text
    assert "'''" not in text


def test_nan() -> None:
    text = dumps({"n": math.nan, "l": [math.nan, -math.nan]})
    assert text == "n = nan\nl = [nan, nan]\n"
    back = tomllib.loads(text)
    assert math.isnan(back["n"])
    assert all(math.isnan(x) for x in back["l"])


def test_negative_zero_keeps_its_sign() -> None:
    back = tomllib.loads(dumps({"z": -0.0}))
    assert math.copysign(1.0, back["z"]) == -1.0


def test_strings_stay_on_one_line() -> None:
    doc = {"s": "a\nb\r\nc", "k\nk": {"x": "\n"}}
    text = dumps(doc)
    assert text.count("\n") == 4  # s, blank, header, x
    assert_round_trips(doc)


def test_dates_and_times_read_by_tomllib_are_written_back_unchanged() -> None:
    source = (
        "a = 1979-05-27T07:32:00Z\n"
        "b = 1979-05-27T00:32:00-07:00\n"
        "c = 1979-05-27T00:32:00.999999+23:59\n"
        "d = 1979-05-27 07:32:00.5\n"
        "e = 1979-05-27\n"
        "f = 07:32:00\n"
        "g = 00:32:00.123456\n"
        "h = 1979-05-27T00:32:00-00:00\n"
    )
    doc = tomllib.loads(source)
    assert_round_trips(doc)


def test_subclasses_of_supported_types() -> None:
    class Name(str):
        pass

    class Count(int):
        pass

    doc = {Name("k"): Name("v"), "c": Count(3), "m": _ReadOnly({"x": 1})}
    text = dumps(doc)
    assert text == 'k = "v"\nc = 3\n\n[m]\nx = 1\n'
    assert tomllib.loads(text) == {"k": "v", "c": 3, "m": {"x": 1}}


class _ReadOnly(Mapping[str, Any]):
    """A Mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


# --- the ClewdR config ---------------------------------------------------------

CLEWDR: dict[str, Any] = {
    "ip": "127.0.0.1",
    "port": 8484,
    "check_update": True,
    "password": 'pw-Ö-"quoted"',
    "max_retries": 5,
    "gemini_keys": ["AIzaSyA-0000000000000000000000000000000", "AIzaSyB-1111"],
    "custom_prompt": "line one\nline two\t# not a comment",
    "cookie_array": [
        {
            "cookie": "sk-ant-sid01-" + "A" * 86 + "-" + "B" * 6 + "AA",
            "reset_time": 1785087657,
            "token": {
                "access_token": "sk-ant-oat01-xyz",
                "expires_in": 28800,
                "refresh_token": "sk-ant-ort01-abc",
                "expires_at": 1785116457.25,
                "organization": {"uuid": "3f6b2c1e-0000-4000-8000-000000000000"},
            },
            "session_usage": {
                "total_input_tokens": 1,
                "total_output_tokens": 2,
                "sonnet_input_tokens": 3,
                "sonnet_output_tokens": 4,
                "opus_input_tokens": 0,
                "opus_output_tokens": 9_000_000_000,
            },
        },
        {"cookie": "sk-ant-sid01-second"},
    ],
    "wasted_cookie": [
        {"cookie": "sk-ant-sid01-free", "reason": "Free"},
        {"cookie": "sk-ant-sid01-restricted", "reason": {"Restricted": 1785000000}},
    ],
    "vertex": {
        "credentials": [
            {
                "type": "service_account",
                "project_id": "p-1",
                "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
                "client_email": "sa@p-1.iam.gserviceaccount.com",
            }
        ]
    },
}


def test_clewdr_config_round_trips() -> None:
    assert_round_trips(CLEWDR)


def test_clewdr_config_layout() -> None:
    headers = [line for line in dumps(CLEWDR).splitlines() if line.startswith("[")]
    assert headers == [
        "[[vertex.credentials]]",
        "[[cookie_array]]",
        "[cookie_array.token]",
        "[cookie_array.token.organization]",
        "[cookie_array.session_usage]",
        "[[cookie_array]]",
        "[[wasted_cookie]]",
        "[[wasted_cookie]]",
        "[wasted_cookie.reason]",
    ]


def test_clewdr_cookie_entry_text() -> None:
    doc = {"wasted_cookie": CLEWDR["wasted_cookie"], "cookie_array": CLEWDR["cookie_array"][:1]}
    doc["cookie_array"][0] = {**doc["cookie_array"][0], "cookie": "sk-ant-sid01-x"}
    assert dumps(doc) == (
        '[[wasted_cookie]]\ncookie = "sk-ant-sid01-free"\nreason = "Free"\n'
        "\n"
        '[[wasted_cookie]]\ncookie = "sk-ant-sid01-restricted"\n'
        "\n"
        "[wasted_cookie.reason]\nRestricted = 1785000000\n"
        "\n"
        '[[cookie_array]]\ncookie = "sk-ant-sid01-x"\nreset_time = 1785087657\n'
        "\n"
        "[cookie_array.token]\n"
        'access_token = "sk-ant-oat01-xyz"\n'
        "expires_in = 28800\n"
        'refresh_token = "sk-ant-ort01-abc"\n'
        "expires_at = 1785116457.25\n"
        "\n"
        "[cookie_array.token.organization]\n"
        'uuid = "3f6b2c1e-0000-4000-8000-000000000000"\n'
        "\n"
        "[cookie_array.session_usage]\n"
        "total_input_tokens = 1\n"
        "total_output_tokens = 2\n"
        "sonnet_input_tokens = 3\n"
        "sonnet_output_tokens = 4\n"
        "opus_input_tokens = 0\n"
        "opus_output_tokens = 9000000000\n"
    )
    assert_round_trips(doc)


def test_clewdr_reason_as_inline_table_reads_back_the_same() -> None:
    # ClewdR itself may write `reason = { Restricted = ... }`; we write a sub-table.
    source = '[[wasted_cookie]]\ncookie = "c"\nreason = { Restricted = 1785000000 }\n'
    doc = tomllib.loads(source)
    assert "[wasted_cookie.reason]" in assert_round_trips(doc)


# --- refusals ------------------------------------------------------------------

REFUSED: list[tuple[str, Any, type[Exception], str]] = [
    ("None", {"a": {"b": None}}, TypeError, "a.b"),
    ("set in a list", {"a": {"b": [1, {2}]}}, TypeError, "a.b[1]"),
    ("None in an array of tables", {"x": [{"ok": 1}, {"bad": None}]}, TypeError, "x[1].bad"),
    ("None in an inline table", {"l": [{"a": None}, 1]}, TypeError, "l[0].a"),
    ("tuple", {"t": (1, 2)}, TypeError, "t"),
    ("bytes", {"b": b"x"}, TypeError, "b"),
    ("object under a quoted key", {"t": {"a.b": {"c": object()}}}, TypeError, 't."a.b".c'),
    ("int key", {"t": {1: "x"}}, TypeError, "in t"),
    ("int key at top level", {1: "x"}, TypeError, "top level"),
    ("int key in an inline table", {"l": [{2: "x"}, 1]}, TypeError, "in l[0]"),
    ("integer above 64 bits", {"n": [2**63]}, ValueError, "n[0]"),
    ("integer below 64 bits", {"n": -(2**63) - 1}, ValueError, "n"),
    ("lone surrogate in a value", {"s": {"t": "a\ud800"}}, ValueError, "s.t"),
    ("lone surrogate in a key", {"s": {"\udfff": 1}}, ValueError, "s.<key>"),
    (
        "offset with seconds",
        {"d": dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(seconds=30)))},
        ValueError,
        "d",
    ),
    ("time with a time zone", {"t": [dt.time(1, 2, tzinfo=UTC)]}, ValueError, "t[0]"),
]


@pytest.mark.parametrize(
    ("doc", "error", "path"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused(doc: Any, error: type[Exception], path: str) -> None:
    with pytest.raises(error, match=rf" {re.escape(path)}$"):
        dumps(doc)


def test_type_error_names_the_type() -> None:
    with pytest.raises(TypeError, match=r"\bset\b.* cookie_array\[0\]\.token$"):
        dumps({"cookie_array": [{"token": {1, 2}}]})
    with pytest.raises(TypeError, match="null"):
        dumps({"proxy": None})


def test_document_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="mapping"):
        dumps([("a", 1)])  # type: ignore[arg-type]


# --- property ------------------------------------------------------------------

_minutes = st.integers(-(24 * 60 - 1), 24 * 60 - 1)
_offsets = _minutes.map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
_bare = "abcxyzABCXYZ0189_-"
_keys = st.text(_bare, min_size=1, max_size=6) | st.text(max_size=5)
_scalars = (
    st.text(max_size=10)
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.datetimes()
    | st.datetimes(timezones=_offsets)
    | st.dates()
    | st.times()
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    tables = st.dictionaries(_keys, children, max_size=4)
    return st.lists(children, max_size=4) | tables | st.lists(tables, min_size=1, max_size=3)


_documents = st.dictionaries(_keys, st.recursive(_scalars, _containers, max_leaves=12), max_size=5)


@settings(max_examples=60, deadline=None, database=None)
@given(_documents)
def test_property_round_trip(doc: dict[str, Any]) -> None:
    assert_round_trips(doc)
