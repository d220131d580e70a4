"""Cookie text → stored value (clewdr-behaviour.md §5.1), and masking for logs."""

from __future__ import annotations

import pytest

from llmproxy.credentials.cookie import CookieFormatError, mask, parse_cookie

# Bodies are made up: 86–120 characters of base64url, then "-", 6 characters, "AA".
BODY = "Ab3_" * 22 + "-xY9_zQAA"  # 88 + 9 characters
PREFIXED = "sk-ant-sid01-" + BODY
SHORTEST_BODY = "a" * 86 + "-bbbbbbAA"
LONGEST_BODY = "a" * 120 + "-bbbbbbAA"


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        (PREFIXED, PREFIXED),
        ("sessionKey=" + PREFIXED, PREFIXED),
        ("SESSIONKEY = " + PREFIXED, PREFIXED),
        ("  " + PREFIXED + "\n", PREFIXED),
        ('"' + PREFIXED + '"', PREFIXED),
        ("Cookie: foo=bar; sessionKey=" + PREFIXED + "; other=1", PREFIXED),
        ("sk-ant-sid02-" + BODY, "sk-ant-sid02-" + BODY),
        ("sk-ant-sid99-" + SHORTEST_BODY, "sk-ant-sid99-" + SHORTEST_BODY),
        ("sk-ant-sid01-" + LONGEST_BODY, "sk-ant-sid01-" + LONGEST_BODY),
        (BODY, BODY),
        ("sessionKey=" + BODY, BODY),
        (SHORTEST_BODY, SHORTEST_BODY),
        (LONGEST_BODY, LONGEST_BODY),
        (" '" + BODY + "'; ", BODY),
    ],
)
def test_accepted_forms_give_the_stored_value(text: str, stored: str) -> None:
    assert parse_cookie(text) == stored


def test_a_prefixed_cookie_is_found_inside_junk_glued_to_it() -> None:
    # Cleaning removes separators, so the match has to be found by search (as ClewdR).
    assert parse_cookie("xx" + PREFIXED) == PREFIXED


def test_junk_glued_to_a_bare_body_is_part_of_it_as_in_clewdr() -> None:
    # Cleaning drops the space, so "junk BODY" is one 92+ character body: ClewdR
    # stores it so, and identity has to agree with ClewdR's files.
    assert parse_cookie("junk " + BODY) == "junk" + BODY


def test_parsing_is_idempotent() -> None:
    for text in (PREFIXED, BODY, "sessionKey=" + PREFIXED):
        once = parse_cookie(text)
        assert parse_cookie(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "sk-ant-sid01-short-abcdefAA",
        "a" * 85 + "-bbbbbbAA",  # body one short
        "a" * 121 + "-bbbbbbAA",  # body one long (bare form must match whole)
        "a" * 90 + "-bbbbbbAB",  # wrong tail
        "a" * 90 + "-bbbbbAA",  # 5 tail characters
        "sk-ant-api03-" + BODY,  # an API key is not a session cookie
        "sk-ant-oat01-" + BODY,  # nor is an OAuth token
        "sk-ant-sid01----------------------------SET_YOUR_COOKIE_HERE"
        "----------------------------------------AAAAAAAA",  # ClewdR's placeholder
        "sk-ant-sidXX----------------------------SET_YOUR_COOKIE_HERE"
        "----------------------------------------AAAAAAAA",  # its older spelling
    ],
)
def test_rejections_raise_a_value_error_with_a_reason(text: str) -> None:
    with pytest.raises(CookieFormatError, match="not a Claude session cookie") as info:
        parse_cookie(text)
    assert isinstance(info.value, ValueError)
    assert BODY not in str(info.value)


def test_rejection_never_echoes_the_text() -> None:
    secret = "sk-ant-sid01-" + "s3cr3t" * 5
    with pytest.raises(CookieFormatError) as info:
        parse_cookie(secret)
    assert "s3cr3t" not in str(info.value)


def test_mask_keeps_the_prefix_and_a_few_body_characters() -> None:
    masked = mask(PREFIXED)
    assert masked == "sk-ant-sid01-" + BODY[:8] + "…"
    assert len(masked) < 30


def test_mask_of_a_bare_body_or_other_secret_shows_little() -> None:
    assert mask(BODY) == BODY[:8] + "…"
    assert mask("AIzaSyExampleExampleExample") == "AIzaSy…"  # 27 // 4 = 6 characters
    assert mask("short") == "s…"
    assert mask("") == "…"


def test_masks_tell_cookies_apart() -> None:
    other = "sk-ant-sid01-" + "Zz" + BODY[2:]
    assert mask(other) != mask(PREFIXED)
