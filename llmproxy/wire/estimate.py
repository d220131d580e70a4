"""Local token estimates, without a tokenizer.

claude.ai's web stream reports no usage, yet clients (and the cookie usage buckets
of ClewdR §5.6) need ``input_tokens`` and ``output_tokens``. ClewdR counts them
with the ``o200k_base`` tokenizer (clewdr-behaviour.md §9.4). In Python that is
tiktoken: a compiled extension plus a 3.6 MB vocabulary fetched on first use,
neither of which a pure-Python zipapp can count on. This module estimates the
same numbers from the *shape* of the text instead, in one regular-expression
pass.

Method
------

A byte-pair tokenizer first cuts text into *pre-tokens* with a regular
expression, then merges each pre-token's bytes into vocabulary entries. Common
pre-tokens are one vocabulary entry; rare ones split. So the estimate is: cut the
text the way ``o200k_base`` does (its pre-token rules rewritten for Python's
``re``: a word takes at most one leading space or punctuation mark, camelCase
splits at the capitals, digits go in threes, a punctuation run keeps the line
breaks after it, a line break or an indentation run is a pre-token of its own),
then charge each pre-token by what it is:

=========================  ==========================================================
pre-token                  tokens charged
=========================  ==========================================================
ASCII word                 1, plus 1 per 11.5 letters beyond the 4.5th
Latin word with accents    1, plus 1 per 2.1 letters beyond the 3.5th, plus 0.06
                           per extra UTF-8 byte
Cyrillic word              1, plus 1 per 8.5 letters beyond the 2.5th
Greek, Armenian, Hebrew,   1, plus 1 per 3.1 letters beyond the 2nd
Arabic word
Han, kana, CJK marks       0.68 per character
Hangul                     0.84 per character
Thai, Indic, Georgian,     0.54 per character
any other script
ASCII letters inside one   0.25 per letter
of those three ("使用Python")
digits                     1 per group of up to 3 (exact for o200k_base)
run of punctuation,        at least 1: 0.25 per bracket, quote, comma, period,
symbols and emoji          colon or semicolon and 0.9 per other mark; plus 0.28
                           per UTF-8 byte beyond the first of each character
line break, indentation,   1
a space before a digit
=========================  ==========================================================

and the sum is rounded. The weights were fitted on the training set below
(minimising the squared log error, weighted by the square root of the reference
count) and rounded.

Measured error
--------------

The reference is **o200k_base** (GPT-4o's tokenizer, which ClewdR uses for the
same purpose), not Claude's: Anthropic does not publish Claude's tokenizer, and
counting through its API needs the network. The tiktoken vocabulary could not be
downloaded here either, so the exact o200k_base counts come from published test
fixtures: the token-id lists of ``niieani/gpt-tokenizer`` (``data/TestPlans.txt``)
and ``tryAGI/Tiktoken`` (``Snapshots/*_o200k_base.verified.txt``). The samples
are in ``tests/unit/test_estimate.py``, which re-measures the figures below:

- training set, 42 samples, 1,152 reference tokens (English prose, a
  880-character Python function, Chinese, Japanese, Korean, mixed-script text,
  European languages, Russian, Greek, Hebrew, Urdu, Thai, Gujarati, Georgian,
  symbol soup, emoji): the total is estimated within **-1.5 %**; per sample the
  mean absolute error is **7 %** and the worst **31 %** (a 13-token Georgian
  line). The English paragraph is within 2 %, the Python function within 5 %.
- held-out set, 26 samples never used for fitting, 523 reference tokens (more
  European languages, Bulgarian, random symbol strings, emoji, Latin-1 symbol
  lists, 1- to 3-token strings): total **-10 %**; per sample mean **16 %**, worst
  **50 %** (``ƒšŠŒŽ`` repeated; ``你好世界``, which is 2 tokens). Short or exotic
  strings are where the estimate is weakest; non-English Latin-script prose runs
  10-15 % low.
- JSON has no exact reference here. It is checked against its pre-token count
  under o200k_base's own rules, a lower bound of the true count: a compact tool
  request estimates 9 % above that bound, an indented one 4 % above.

Claude's tokenizer is reported to need 5-30 % more tokens than o200k_base for
the same English or code, and more for CJK (nearer one token per character), so
these numbers run low against Anthropic's bills. They serve what ClewdR uses its
estimate for: usage reported to clients of the web route and the per-cookie
usage windows.

Cost: one ``re`` scan and a few operations per pre-token. On the development
machine that is about 0.2 s per MB of English or code and 0.04 s per MB of
Chinese, on one core (a 100 KB prompt: about 20 ms); a caller holding a
multi-megabyte body may prefer a worker thread.

Requests
--------

:func:`estimate_request` adds up an Anthropic Messages request: the system
prompt, every message's text, ``tool_use`` inputs (as compact JSON),
``tool_result`` contents, plain-text documents and tool definitions (name,
description, input schema as JSON). Fixed amounts stand in for what text
cannot measure, each documented at its constant: :data:`IMAGE_TOKENS` per image,
:data:`DOCUMENT_TOKENS` per PDF, :data:`MESSAGE_OVERHEAD` per message,
:data:`REQUEST_OVERHEAD` once and :data:`TOOLS_OVERHEAD` when tools are present.
Thinking blocks of earlier turns are not counted: the API drops them from the
context.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = [
    "DOCUMENT_TOKENS",
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "REQUEST_OVERHEAD",
    "TOOLS_OVERHEAD",
    "estimate_content",
    "estimate_request",
    "estimate_text",
]

IMAGE_TOKENS: Final = 1_600
"""Tokens charged per image block.

Anthropic bills an image at about ``width * height / 750`` tokens after scaling it
to at most ~1.15 megapixels, so a full-size image costs about 1,600 tokens. The
size is not known without decoding the image, so every image is charged the
full-size amount (the common figure in other proxies and agents, too).
"""

DOCUMENT_TOKENS: Final = 1_600
"""Tokens charged per PDF (base64, URL or file) document block.

A PDF page is billed as its extracted text plus one page image; the page count is
not known without parsing the PDF, so a document is charged like one image-sized
page. Plain-text documents are estimated from their text instead.
"""

MESSAGE_OVERHEAD: Final = 3
"""Tokens charged per message for the role markers around it."""

REQUEST_OVERHEAD: Final = 4
"""Tokens charged once per request (the prompt's start and the assistant cue).

Chosen so that, with :data:`MESSAGE_OVERHEAD`, Anthropic's count_tokens example
comes out right: a system prompt ``"You are a scientist"`` and one user message
``"Hello, Claude"`` count 14 input tokens.
"""

TOOLS_OVERHEAD: Final = 346
"""Tokens charged once when ``tools`` is non-empty.

Anthropic adds a tool-use system prompt; its pricing page lists a few hundred
tokens for current models (346 with ``tool_choice`` auto for Claude 4-class
models, as recalled, not re-verified).
"""

# --- the pre-token scanner -------------------------------------------------------

# Accented Latin letters (Latin-1, Latin Extended-A/B, Latin Extended Additional).
_LATIN_EXT = "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
# Combining marks, and the blocks of scripts that write vowels as marks; Python's
# ``\w`` has no marks, so without these a Hindi or Thai word would fall apart.
_MARKS = (
    "\u0300-\u036f"  # combining diacritics
    "\u0900-\u0dff"  # Indic
    "\u0e00-\u0eff"  # Thai, Lao
    "\u0f00-\u109f"  # Tibetan, Myanmar
    "\u1780-\u17ff"  # Khmer
)
# o200k_base lets a word take one leading character that is neither a letter, a
# digit nor a line break; "_" is a word character to Python but not a letter.
_LEAD = r"(?:[^\r\n\w]|_)?"

# The branches, in the order o200k_base tries its own. Group numbers are what
# ``match.lastindex`` reports, so the loop below can dispatch on small integers.
_ASCII, _WORD, _BREAK, _DIGITS, _MARK_RUN, _SPACE = range(1, 7)
_PRETOKEN = re.compile(
    _LEAD + "(?:"
    # 1: an ASCII word, split at camelCase humps as o200k_base does, with an
    # English contraction. It fails when a non-ASCII letter follows, so that
    # "español" is one word for branch 2.
    r"((?:[A-Z]*+[a-z]++|[A-Z]++(?![a-z]))"
    rf"(?![{_LATIN_EXT}{_MARKS}]|[^\W\d_\x00-\x7f])"
    r"(?:'(?:[stdmSTDM]|re|ve|ll|RE|VE|LL)(?![A-Za-z]))?)"
    # 2: any other word: letters of any script and the marks that belong to them.
    rf"|((?:[^\W\d_]|[{_MARKS}])++)"
    ")"
    # 3: a line break (with the blanks before it), or blanks that are followed by
    # more blanks or a line break; the last blank before a word goes to the word.
    r"|(\s*[\r\n]+|\s+(?!\S))"
    # 4: digits; o200k_base takes them in threes.
    r"|(\d++)"
    # 5: punctuation, symbols and emoji, with one leading space and the line
    # breaks that follow.
    r"|( ?(?:[^\s\w]|_)++[\r\n]*+)"
    # 6: any other blanks (a space before a digit).
    r"|(\s++)"
)

# Where non-ASCII words start: (first code point of a range, charge kind), sorted.
_KIND_LATIN, _KIND_CYRILLIC, _KIND_ALPHABETIC, _KIND_CJK, _KIND_HANGUL, _KIND_OTHER = range(6)
_SCRIPT_STARTS: tuple[tuple[int, int], ...] = (
    (0x0000, _KIND_LATIN),  # ASCII and Latin-1, Latin Extended-A/B, IPA, diacritics
    (0x0370, _KIND_ALPHABETIC),  # Greek
    (0x0400, _KIND_CYRILLIC),
    (0x0530, _KIND_ALPHABETIC),  # Armenian, Hebrew, Arabic, Syriac, Thaana
    (0x0800, _KIND_OTHER),  # Indic, Thai, Lao, Tibetan, Myanmar, Georgian, ...
    (0x1100, _KIND_HANGUL),  # Hangul Jamo
    (0x1200, _KIND_OTHER),
    (0x1E00, _KIND_LATIN),  # Latin Extended Additional
    (0x1F00, _KIND_ALPHABETIC),  # Greek Extended
    (0x2000, _KIND_OTHER),
    (0x3000, _KIND_CJK),  # CJK symbols, kana, Han
    (0xA000, _KIND_OTHER),
    (0xAC00, _KIND_HANGUL),  # Hangul syllables
    (0xD7B0, _KIND_OTHER),
    (0xF900, _KIND_CJK),  # CJK compatibility ideographs
    (0xFB00, _KIND_ALPHABETIC),  # Hebrew and Arabic presentation forms
    (0xFF00, _KIND_CJK),  # full-width forms
    (0x10000, _KIND_OTHER),
    (0x20000, _KIND_CJK),  # Han extensions B to H
    (0x323B0, _KIND_OTHER),
)
_SCRIPT_KEYS = [start for start, _ in _SCRIPT_STARTS]

# Weights (see the table in the module docstring).
_ASCII_FREE = 4.5
_ASCII_PER = 11.5
_LATIN_FREE = 3.5
_LATIN_PER = 2.1
_LATIN_BYTE = 0.06
_CYRILLIC_FREE = 2.5
_CYRILLIC_PER = 8.5
_ALPHABETIC_FREE = 2.0
_ALPHABETIC_PER = 3.1
_CJK_CHAR = 0.68
_HANGUL_CHAR = 0.84
_OTHER_CHAR = 0.54
_GLUED_ASCII = 0.25
_ASCII_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MARK_COMMON = 0.25
_MARK_OTHER = 0.9
_MARK_BYTE = 0.28
# Brackets, quotes and separators: the vocabulary has most short runs of them as
# one token (``([``, ``":"``, ``"},``), unlike runs of other marks (``@#%``).
_COMMON_MARKS = str.maketrans("", "", "\"'()[]{},.:;")


def estimate_text(text: str) -> int:
    """Estimate the number of tokens in ``text`` (see the module docstring).

    Args:
        text: Any string; ``""`` is 0 tokens.

    Returns:
        A non-negative integer, at least 1 for non-empty text.
    """
    if not text:
        return 0
    total = 0.0
    for match in _PRETOKEN.finditer(text):
        branch = match.lastindex
        if branch == _ASCII:
            # Only the letters split; a leading space or mark rides along.
            letters = match.end(_ASCII) - match.start(_ASCII)
            if letters > _ASCII_FREE:
                total += 1.0 + (letters - _ASCII_FREE) / _ASCII_PER
            else:
                total += 1.0
        elif branch == _BREAK or branch == _SPACE:
            total += 1.0
        elif branch == _MARK_RUN:
            total += _charge_marks(match.group().strip(" \r\n"))
        elif branch == _DIGITS:
            total += (match.end() - match.start() + 2) // 3
        else:
            total += _charge_word(match.group(_WORD))
    return max(1, round(total))


def _charge_marks(marks: str) -> float:
    """Tokens for a run of punctuation, symbols and emoji."""
    count = len(marks)
    common = count - len(marks.translate(_COMMON_MARKS))
    extra_bytes = len(marks.encode(errors="surrogatepass")) - count
    return (
        max(1.0, common * _MARK_COMMON + (count - common) * _MARK_OTHER) + extra_bytes * _MARK_BYTE
    )


def _charge_word(word: str) -> float:
    """Tokens for a word that is not plain ASCII, by the script of its first
    non-ASCII letter ("API调用" is Chinese, "español" Latin)."""
    letters = len(word)
    first = word.lstrip(_ASCII_LETTERS)[:1] or word[0]
    kind = _SCRIPT_STARTS[bisect_right(_SCRIPT_KEYS, ord(first)) - 1][1]
    if kind == _KIND_LATIN:
        extra_bytes = len(word.encode(errors="surrogatepass")) - letters
        return 1.0 + max(0.0, letters - _LATIN_FREE) / _LATIN_PER + extra_bytes * _LATIN_BYTE
    if kind == _KIND_CYRILLIC:
        return 1.0 + max(0.0, letters - _CYRILLIC_FREE) / _CYRILLIC_PER
    if kind == _KIND_ALPHABETIC:
        return 1.0 + max(0.0, letters - _ALPHABETIC_FREE) / _ALPHABETIC_PER
    # Scripts charged per character; ASCII letters glued to them ("使用Python")
    # cost what they would in an ASCII word.
    ascii_letters = len(word.encode("ascii", "ignore"))
    rate = _CJK_CHAR if kind == _KIND_CJK else _HANGUL_CHAR if kind == _KIND_HANGUL else _OTHER_CHAR
    return (letters - ascii_letters) * rate + ascii_letters * _GLUED_ASCII


def estimate_content(content: Any) -> int:
    """Estimate one message's ``content``: a string or a list of content blocks.

    Blocks are counted as the module docstring says; an unknown block type is
    counted by its JSON text, so new block types are not free.
    """
    if isinstance(content, str):
        return estimate_text(content)
    if not isinstance(content, list):
        return 0
    return sum(_estimate_block(block) for block in content)


def _estimate_block(block: Any) -> int:
    if isinstance(block, str):
        return estimate_text(block)
    if not isinstance(block, Mapping):
        return 0
    kind = block.get("type")
    if kind == "text":
        return estimate_text(_str(block.get("text")))
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "document":
        source = block.get("source")
        if isinstance(source, Mapping) and source.get("type") == "text":
            return estimate_text(_str(source.get("data")))
        if isinstance(source, Mapping) and source.get("type") == "content":
            return estimate_content(source.get("content"))
        return DOCUMENT_TOKENS
    if kind in ("tool_use", "server_tool_use"):
        return estimate_text(_str(block.get("name"))) + estimate_text(_json(block.get("input")))
    if kind == "tool_result" or (isinstance(kind, str) and kind.endswith("_tool_result")):
        return estimate_content(block.get("content"))
    if kind in ("thinking", "redacted_thinking"):
        return 0
    return estimate_text(_json(block))


def estimate_request(body: Mapping[str, Any]) -> int:
    """Estimate the input tokens of an Anthropic Messages request body.

    Args:
        body: The request (protocols.md §1.3); malformed parts count as nothing.

    Returns:
        The estimate, including the fixed overheads named in the module docstring.
    """
    total = REQUEST_OVERHEAD
    system = body.get("system")
    if isinstance(system, str | list):
        total += estimate_content(system)
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, Mapping):
                total += MESSAGE_OVERHEAD + estimate_content(message.get("content"))
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        total += TOOLS_OVERHEAD + sum(_estimate_tool(tool) for tool in tools)
    return total


def _estimate_tool(tool: Any) -> int:
    if not isinstance(tool, Mapping):
        return 0
    parts: Iterable[Any] = (tool.get("name"), tool.get("description"))
    total = sum(estimate_text(part) for part in parts if isinstance(part, str))
    schema = tool.get("input_schema")
    if schema is not None:
        total += estimate_text(_json(schema))
    elif "name" not in tool or "type" in tool:
        # A server tool ({"type": "web_search_20250305", ...}): its definition text.
        total += estimate_text(_json(tool))
    return total


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json(value: Any) -> str:
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return ""
