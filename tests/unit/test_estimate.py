# ruff: noqa: E501
"""The local token estimate (llmproxy.wire.estimate).

The reference counts are exact **o200k_base** counts (GPT-4o's tokenizer, the one
ClewdR estimates with): the lengths of the token-id lists published as test
fixtures by niieani/gpt-tokenizer (``data/TestPlans.txt``) and tryAGI/Tiktoken
(``src/tests/Tiktoken.UnitTests/Snapshots/*_o200k_base.verified.txt``; the
English, Python, Chinese and mixed-script texts are that project's
``Strings.cs``). Claude's tokenizer is not public, so it cannot be the reference.

TRAINING is what the weights were fitted on; HELD_OUT was never used for fitting.
The bounds asserted here are the figures the module docstring states.
"""

from __future__ import annotations

import json
import math
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmproxy.wire import estimate
from llmproxy.wire.estimate import (
    DOCUMENT_TOKENS,
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    TOOLS_OVERHEAD,
    estimate_content,
    estimate_request,
    estimate_text,
)


class Sample(NamedTuple):
    name: str
    kind: str
    text: str
    o200k: int


PYTHON_FUNCTION = '''import numpy as np
from typing import Optional

def binary_search(arr: list[int], target: int) -> Optional[int]:
    """Find the index of target in a sorted array.

    Args:
        arr: A sorted list of integers.
        target: The value to search for.

    Returns:
        The index of target if found, None otherwise.

    Examples:
        >>> binary_search([1, 3, 5, 7, 9], 5)
        2
        >>> binary_search([1, 3, 5, 7, 9], 4)
        None
    """
    left, right = 0, len(arr) - 1
    while left <= right:
        mid = (left + right) // 2
        if arr[mid] == target:
            return mid
        elif arr[mid] < target:
            left = mid + 1
        else:
            right = mid - 1
    return None

# Performance: O(log n) time, O(1) space
result = binary_search([2, 4, 6, 8, 10, 12], 8)
print(f"Found at index: {result}")  # Output: Found at index: 3'''

TRAINING: list[Sample] = [
    Sample(
        "king_lear",
        "prose",
        "King Lear, one of Shakespeare's darkest and most savage plays, tells the story of the foolish and Job-like Lear, who divides his kingdom, as he does his affections, according to vanity and whim. Lear’s failure as a father engulfs himself and his world in turmoil and tragedy.",
        60,
    ),
    Sample("python", "code", PYTHON_FUNCTION, 265),
    Sample(
        "chinese",
        "cjk",
        "我很抱歉，我不能提供任何非法或不道德的建议。快速赚钱是不容易的，需要耐心、刻苦努力和经验。如果您想增加收入，请考虑增加工作时间、寻找其他业务机会、学习新技能或提高自己的价值等方法。请记住，通过合法而道德的方式来获得收入，才是长期稳定的解决方案。",
        78,
    ),
    Sample(
        "multilingual",
        "mixed",
        "The quick brown fox jumps over the lazy dog. Le renard brun saute par-dessus le chien paresseux. Ñoño español con eñe. Überraschung auf Deutsch. Привет мир! Как дела? 素早い茶色の狐が怠惰な犬を飛び越える。빠른 갈색 여우가 게으른 개를 뛰어넘는다. مرحبا بالعالم. สวัสดีชาวโลก 🦊🐕🌍✨",
        101,
    ),
    Sample("commas", "prose", "hello, I am a text, and I have commas. a,b,c", 15),
    Sample("identifiers", "code", "toString constructor hasOwnProperty valueOf", 8),
    Sample("emoji_words", "mixed", "hello 👋 world 🌍", 6),
    Sample("simple", "prose", "This is some text", 4),
    Sample("hello_world_q", "prose", "Hello, World! How are you today? 🌍", 11),
    Sample("japanese", "cjk", "こんにちは、世界！お元気ですか？", 10),
    Sample("spanish", "latin", "Hola, mundo! ¿Cómo estás hoy? 🇪🇸", 13),
    Sample("russian", "cyrillic", "Привет, мир! Как дела?", 8),
    Sample("korean", "cjk", "안녕하세요, 세상! 오늘 기분이 어때요? 🇰🇷", 18),
    Sample("french", "latin", "Bonjour, le monde ! Comment ça va aujourd'hui ? 🇫🇷", 15),
    Sample("fox13", "prose", "The quick brown fox jumps over 13 lazy dogs. 😺", 13),
    Sample("russian2", "cyrillic", "Здравствуйте, это мой первый раз здесь. Что мне делать?", 12),
    Sample("gujarati", "other", "હેલો, વિશ્વ! તમે આજે કેમ છો? 🇮🇳", 21),
    Sample("thai", "other", "ความรักและการเป็นกันเองเป็นสิ่งสำคัญที่สุดในโลก 🇹🇭", 29),
    Sample(
        "python_java",
        "prose",
        "Python vs Java: Which programming language should you learn first?",
        12,
    ),
    Sample(
        "lao_tzu", "prose", "A journey of a thousand miles begins with a single step. - Lao Tzu", 16
    ),
    Sample(
        "german", "latin", "Die Grenzen meiner Sprache bedeuten die Grenzen meiner Welt. 🇩🇪", 15
    ),
    Sample("hebrew", "other", "יש לי כמה שאלות בנוגע לפרויקט החדש שלך. 🇮🇱", 16),
    Sample("logic", "symbols", "A ∀ x (P(x) → Q(x)) ∧ (∃x P(x)) → ∃x Q(x)", 28),
    Sample("italian", "latin", "L'amore è una forza potente che unisce le persone. 🇮🇹", 17),
    Sample("greek", "other", "Είναι μια ηλιόλουστη ημέρα στην Ελλάδα. 🇬🇷", 17),
    Sample(
        "turkish",
        "latin",
        "Teslim tarihi yaklaşıyor, projeyi zamanında bitirmemiz gerekiyor. 🇹🇷",
        21,
    ),
    Sample("vietnamese", "latin", "Chào mừng bạn đến với thế giới của lập trình. 🇻🇳", 17),
    Sample("polish", "latin", "Dlaczego warto uczyć się języków obcych? 🇵🇱", 16),
    Sample("physics_pt", "latin", "E = mc², uma equação famosa na física. 🇵🇹", 16),
    Sample("chinese_q", "cjk", "你今天遇到什么有趣的事情了吗？🇨🇳", 15),
    Sample("georgian", "other", "გამარჯობა! როგორ ხართ დღეს? 🇬🇪", 13),
    Sample("russian3", "cyrillic", "Это был незабываемый опыт, который я буду помнить всегда.", 14),
    Sample("greek2", "other", "Διαβάζοντας βιβλία, εμπλουτίζουμε τον εαυτό μας με γνώσεις.", 23),
    Sample(
        "hungarian", "latin", "A számítástechnika világa tele van izgalmas lehetőségekkel. 🇭🇺", 23
    ),
    Sample("urdu", "other", "دیکھو، آسمان میں کتنی تارے ہیں! 🇵🇰", 18),
    Sample("swahili", "latin", "Nenda polepole na ujifunze kila siku. 🇹🇿", 15),
    Sample("ukrainian", "cyrillic", "Філософія - це наука про знання. 🇺🇦", 16),
    Sample("random1", "symbols", "4gH@!0sT*#(9^%$[x{}j+|Yz6;Q]~8", 29),
    Sample("random2", "symbols", "wNb)I<>#:i^P]*cR8ytUx1Q`6O@z/", 23),
    Sample("latin1_symbols", "symbols", "¬§±²³µ¶·¹ºª«»¦©¯°±!@#$%^&*()_+", 27),
    Sample("emoji_faces", "emoji", "😊😀😁😂🤣😃😄😅😆😉😊😋😎😍😘😗😙😚☺️🙂🤗🤔", 34),
    Sample("emoji_fruit", "emoji", "🍏🍎🍐🍊🍋🍌🍉🍇🍓🍈🍒🍑", 24),
]

HELD_OUT: list[Sample] = [
    Sample("norwegian", "latin", "Det finnes ingen bedre tid enn nå for å starte noe nytt. 🇳🇴", 17),
    Sample(
        "dutch",
        "latin",
        "Aanvaard de uitdagingen van het leven met moed en vastberadenheid. 🇳🇱",
        19,
    ),
    Sample("swedish", "latin", "Det är en vacker dag i Sverige. 🇸🇪", 13),
    Sample("brazil", "latin", "O Brasil é o maior país da América do Sul. 🇧🇷", 15),
    Sample("norwegian2", "latin", "Nå er det tid for å feire med familie og venner. 🇳🇴", 18),
    Sample("icelandic", "latin", "Þetta er góður dagur til að læra eitthvað nýtt. 🇮🇸", 19),
    Sample("maori", "latin", "Mā te whakawhiti kōrero e whai hua ai tātou. 🇳🇿", 19),
    Sample("czech", "latin", "Vždy je dobré mít plán B, pokud něco nevyjde. 🇨🇿", 19),
    Sample("romanian", "latin", "Dragostea e un sentiment minunat care ne unește pe toți. 🇷🇴", 20),
    Sample("bulgarian", "cyrillic", "Каква е твоята любима храна? 🇧🇬", 15),
    Sample("swedish2", "latin", "Sträva alltid efter att bli en bättre version av dig själv.", 14),
    Sample("greek3", "other", "Το πρόγραμμα αυτό είναι πολύ ενδιαφέρον. 🇬🇷", 12),
    Sample("a_a", "prose", "a a", 2),
    Sample("hello", "prose", "hello", 1),
    Sample("indivisible", "prose", "indivisible", 3),
    Sample("latin_ext", "symbols", "ƒšŠŒŽƒšŠŒŽƒšŠŒŽƒšŠŒŽƒšŠŒŽƒšŠŒŽ", 30),
    Sample("random3", "symbols", "5ħÅŸēýïūē$%#^*()_+{[ö&!@#?>|,.<>", 28),
    Sample("random4", "symbols", "1B4t#%&*()_+dF5g^hJk7LmN0pQrS<>?", 28),
    Sample("random5", "symbols", "8mR5*w7^a$!F(0%#J9@X6vZ1)nU3]_Y/", 29),
    Sample("latin1_2", "symbols", "ÄÜö¿¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿", 34),
    Sample("emoji_faces2", "emoji", "🤨😐😑😶🙄😏😣😥😮🤐😯😪😫😴😌🤓😛😜😝🤤", 40),
    Sample("emoji_faces3", "emoji", "😒😓😔😕🙃🤑😲😷🤒🤕🤢🤧😈👿👹👺💀☠️", 37),
    Sample("emoji_people", "emoji", "😾😿🙀😽😼😻🙈🙉🙊👶👦👧👨👩👴👵👨\u200d⚕️👩\u200d⚕️", 44),
    Sample("emoji_sky", "emoji", "🌞🌝🌚🌛🌜🌙⭐️🌟💫✨🔥💥☄️🌈☀️🌤️⛅️🌥️", 40),
    Sample("hello_emoji", "mixed", "Hello 🌍 World!", 5),
    Sample("zh_short", "cjk", "你好世界", 2),
]

# A compact and an indented tool request: no exact reference, but the number of
# o200k_base pre-tokens (computed with o200k_base's own pre-token regex) is a
# lower bound of its count.
TOOL_REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "tools": [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        }
    ],
    "messages": [{"role": "user", "content": "What is the weather like in San Francisco?"}],
}
JSON_LOWER_BOUNDS = [
    (json.dumps(TOOL_REQUEST, separators=(",", ":")), 97),
    (json.dumps(TOOL_REQUEST, indent=2), 182),
]


def relative_errors(samples: list[Sample]) -> list[float]:
    return [estimate_text(s.text) / s.o200k - 1 for s in samples]


def total_error(samples: list[Sample]) -> float:
    return sum(estimate_text(s.text) for s in samples) / sum(s.o200k for s in samples) - 1


def test_sample_sets_are_what_the_docstring_describes() -> None:
    assert len(TRAINING) == 42
    assert sum(s.o200k for s in TRAINING) == 1152
    assert len(HELD_OUT) == 26
    assert sum(s.o200k for s in HELD_OUT) == 523
    assert {s.name for s in TRAINING}.isdisjoint(s.name for s in HELD_OUT)


def test_training_set_error() -> None:
    errors = relative_errors(TRAINING)
    assert abs(total_error(TRAINING)) <= 0.02
    assert sum(map(abs, errors)) / len(errors) <= 0.08
    assert max(map(abs, errors)) <= 0.32


def test_held_out_error() -> None:
    errors = relative_errors(HELD_OUT)
    assert abs(total_error(HELD_OUT)) <= 0.11
    assert sum(map(abs, errors)) / len(errors) <= 0.17
    assert max(map(abs, errors)) <= 0.5


@pytest.mark.parametrize(("name", "tolerance"), [("king_lear", 0.02), ("python", 0.05)])
def test_english_prose_and_code_are_close(name: str, tolerance: float) -> None:
    (sample,) = [s for s in TRAINING if s.name == name]
    assert abs(estimate_text(sample.text) / sample.o200k - 1) <= tolerance


@pytest.mark.parametrize(("text", "lower_bound"), JSON_LOWER_BOUNDS)
def test_json_is_near_its_pre_token_count(text: str, lower_bound: int) -> None:
    assert lower_bound <= estimate_text(text) <= math.ceil(lower_bound * 1.1)


def test_beats_four_characters_per_token() -> None:
    """The point of the exercise: chars/4 is far worse on the same references."""
    ours = sum(map(abs, relative_errors(TRAINING + HELD_OUT)))
    naive = sum(abs(max(1, len(s.text) // 4) / s.o200k - 1) for s in TRAINING + HELD_OUT)
    assert ours < naive / 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        (" ", 1),
        ("hello", 1),
        ("1234567", 3),  # digits go in threes
        ("\n\n", 1),
        ("使用Python写一个函数", 6),  # ASCII glued to Chinese is cheap
    ],
)
def test_small_cases(text: str, expected: int) -> None:
    assert estimate_text(text) == expected


def test_camel_case_splits_like_o200k() -> None:
    assert estimate_text("hasOwnProperty") == 3
    assert estimate_text("hasownproperty") == 2


@given(st.text())
def test_never_fails_on_any_text(text: str) -> None:
    n = estimate_text(text)
    assert n >= (1 if text else 0)
    # Never more than a few tokens per character (UTF-8 bytes bound a BPE count).
    assert n <= 2 * len(text.encode("utf-8", "surrogatepass")) + 1


def test_lone_surrogates_are_counted() -> None:
    assert estimate_text("a\ud800b") >= 2


# --- requests ------------------------------------------------------------------


def test_count_tokens_documentation_example() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "system": "You are a scientist",
        "messages": [{"role": "user", "content": "Hello, Claude"}],
    }
    assert estimate_request(body) == 14


def test_request_adds_up_its_parts() -> None:
    body = {
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": "iVBORw0KGgo=",
                        },
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "A long private thought " * 50,
                        "signature": "sig",
                    },
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"zoom": 2}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [
                            {"type": "text", "text": "a cat"},
                            {
                                "type": "image",
                                "source": {"type": "url", "url": "https://example.com/x.png"},
                            },
                        ],
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBERi0=",
                        },
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "text",
                            "media_type": "text/plain",
                            "data": "plain words",
                        },
                    },
                ],
            },
        ],
    }
    expected = (
        REQUEST_OVERHEAD
        + estimate_text("Be brief.")
        + 3 * MESSAGE_OVERHEAD
        + estimate_text("What is in this picture?")
        + IMAGE_TOKENS
        + estimate_text("look")
        + estimate_text('{"zoom":2}')
        + estimate_text("a cat")
        + IMAGE_TOKENS
        + DOCUMENT_TOKENS
        + estimate_text("plain words")
    )
    assert estimate_request(body) == expected


def test_tools_cost_their_definitions_and_a_fixed_prompt() -> None:
    bare = {k: v for k, v in TOOL_REQUEST.items() if k != "tools"}
    tool = TOOL_REQUEST["tools"][0]  # type: ignore[index]
    schema = json.dumps(tool["input_schema"], separators=(",", ":"))
    definition = (
        estimate_text(tool["name"]) + estimate_text(tool["description"]) + estimate_text(schema)
    )
    assert estimate_request(TOOL_REQUEST) == estimate_request(bare) + TOOLS_OVERHEAD + definition
    server_tool = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    with_server = dict(bare, tools=[server_tool])
    assert estimate_request(with_server) > estimate_request(bare) + TOOLS_OVERHEAD


def test_string_content_and_unknown_blocks() -> None:
    assert estimate_content("Hello there") == estimate_text("Hello there")
    unknown = {"type": "future_block", "payload": "something new"}
    assert estimate_content([unknown]) == estimate_text(json.dumps(unknown, separators=(",", ":")))
    assert estimate_content(None) == 0
    assert estimate_content([1, None, "text"]) == estimate_text("text")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": "not a list"},
        {"messages": [None, 3, {"role": "user"}]},
        {"system": 5, "tools": "x", "messages": []},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
        {"tools": [None, {"name": "t", "input_schema": {"x": {1, 2}}}]},  # not JSON-able
    ],
)
def test_malformed_requests_count_what_they_can(body: dict[str, object]) -> None:
    assert estimate_request(body) >= REQUEST_OVERHEAD


def test_module_exports() -> None:
    assert sorted(estimate.__all__) == estimate.__all__
    for name in estimate.__all__:
        assert hasattr(estimate, name)
