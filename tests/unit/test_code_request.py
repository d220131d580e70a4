"""The Claude Code request: identity, system rebuild, fidelity, sticky key, "Hi", validation."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmproxy.claude as package
from llmproxy.claude.code_request import (
    ANTHROPIC_VERSION,
    CLAUDE_CODE_VERSION,
    CONNECTION_TEST_REPLY,
    CONNECTION_TEST_REPLY_JSON,
    GENERATION_ONLY_FIELDS,
    OAUTH_BETA,
    USER_AGENT,
    billing_block,
    build_system,
    entrypoint_from_env,
    first_user_text,
    is_connection_test,
    merge_betas,
    prepare_count_tokens_body,
    prepare_messages_body,
    sticky_key,
    upstream_headers,
    validate_messages_body,
)
from llmproxy.errors import BadRequest


def billing_text(suffix: str, entrypoint: str = "cli") -> str:
    return (
        f"x-anthropic-billing-header: cc_version=2.1.76.{suffix}; "
        f"cc_entrypoint={entrypoint}; cch=00000;"
    )


def expected_suffix(sampled: str) -> str:
    """The §6.4 rule written out independently: first 3 hex of SHA-256(salt + sample + version)."""
    return hashlib.sha256(f"59cf53e54c78{sampled}2.1.76".encode()).hexdigest()[:3]


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def test_constants() -> None:
    assert CLAUDE_CODE_VERSION == "2.1.76"
    assert USER_AGENT == "claude-code/2.1.76"
    assert OAUTH_BETA == "oauth-2025-04-20"
    assert ANTHROPIC_VERSION == "2023-06-01"


def test_package_exports_are_real() -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None


# --- billing header ----------------------------------------------------------------


def test_billing_vector_hey() -> None:
    block = billing_block({"messages": [user("hey")]})
    assert block == {"type": "text", "text": billing_text("4dc")}


def test_billing_vector_abcdefg_first_text_block_of_first_user_message() -> None:
    messages = [
        user(
            [
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {"type": "text", "text": "abcdefg"},
                {"type": "text", "text": "ignored"},
            ]
        ),
        user("later"),
    ]
    assert billing_block({"messages": messages})["text"] == billing_text("540")


@pytest.mark.parametrize(
    ("messages", "text"),
    [
        ([], ""),
        ([{"role": "assistant", "content": "first"}, user("second")], "second"),
        ([user([{"type": "image", "source": {}}]), user("not consulted")], ""),
        ([user([{"type": "text", "text": 5}, {"type": "text", "text": "ok"}])], "ok"),
        ([{"role": "system", "content": "s"}, user([{"type": "text", "text": "u"}])], "u"),
        ("not a list", ""),
    ],
)
def test_first_user_text(messages: Any, text: str) -> None:
    assert first_user_text({"messages": messages}) == text


def test_billing_falls_back_to_zero_for_every_missing_index() -> None:
    assert expected_suffix("000") == "4dc"  # which is why "hey" gives .4dc
    assert billing_block({})["text"] == billing_text("4dc")
    assert billing_block({"messages": [user("abcde")]})["text"] == billing_text(
        expected_suffix("e00")
    )


def test_billing_samples_utf16_code_units_not_characters_or_bytes() -> None:
    # Each emoji is two UTF-16 code units, so index 4 is "a", 7 is "d", 20 is "q"
    # (Python's own indexing would give "c", "f", "s").
    text = "😀😀abcdefghijklmnopqrstuvwxyz"
    assert billing_block({"messages": [user(text)]})["text"] == billing_text(expected_suffix("adq"))
    # BMP non-ASCII: one unit each (UTF-8 byte offsets would differ).
    text = "éééé" + "X" + "ab" + "Y" + "c" * 12 + "Z" + "tail"
    assert billing_block({"messages": [user(text)]})["text"] == billing_text(expected_suffix("XYZ"))


def test_billing_lone_surrogate_half_hashes_as_replacement_character() -> None:
    text = "abcd😀xyzw"  # index 4 is the high surrogate, index 5 the low one
    assert billing_block({"messages": [user(text)]})["text"] == billing_text(
        expected_suffix("\ufffdy0")
    )
    lone = "abcd\ud800xyz"  # a lone surrogate straight from json.loads("\\ud800")
    assert billing_block({"messages": [user(lone)]})["text"] == billing_text(
        expected_suffix("\ufffdz0")
    )


def test_billing_entrypoint() -> None:
    body = {"messages": [user("hey")]}
    assert billing_block(body, "sdk-ts")["text"] == billing_text("4dc", "sdk-ts")
    assert billing_block(body, "  ")["text"] == billing_text("4dc")
    assert entrypoint_from_env({}) == "cli"
    assert entrypoint_from_env({"CLAUDE_CODE_ENTRYPOINT": " "}) == "cli"
    assert entrypoint_from_env({"CLAUDE_CODE_ENTRYPOINT": "sdk-py"}) == "sdk-py"


# --- system ------------------------------------------------------------------------

BILLING = {"type": "text", "text": billing_text("4dc")}
HEY = [user("hey")]


@pytest.mark.parametrize(
    ("system", "custom", "expected_tail"),
    [
        ("original", None, [{"type": "text", "text": "original"}]),
        (
            "original",
            "custom",
            [{"type": "text", "text": "custom"}, {"type": "text", "text": "original"}],
        ),
        (
            " keep  spaces ",
            " be nice ",
            [{"type": "text", "text": " be nice "}, {"type": "text", "text": " keep  spaces "}],
        ),
        (
            [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "x": 1}],
            None,
            [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "x": 1}],
        ),
        (
            [{"type": "text", "text": "a"}],
            "c",
            [{"type": "text", "text": "c"}, {"type": "text", "text": "a"}],
        ),
        # an empty client system is dropped (§4.2 step 5)
        (None, None, []),
        ("", None, []),
        ("  \n", "custom", [{"type": "text", "text": "custom"}]),
        ([], None, []),
        ([{"type": "text", "text": " "}, None, "", {"type": "text"}], None, []),
        # blank custom_system is dropped
        ("s", "   ", [{"type": "text", "text": "s"}]),
        ("s", "", [{"type": "text", "text": "s"}]),
        # a list with one real block goes as it is, blank blocks and all
        (
            [{"type": "text", "text": ""}, {"type": "text", "text": "real"}],
            None,
            [{"type": "text", "text": ""}, {"type": "text", "text": "real"}],
        ),
        ([{"type": "image", "source": {}}], None, [{"type": "image", "source": {}}]),
    ],
)
def test_build_system_order(system: Any, custom: str | None, expected_tail: list[Any]) -> None:
    body: dict[str, Any] = {"messages": HEY}
    if system is not None:
        body["system"] = system
    assert build_system(body, custom, "cli") == [BILLING, *expected_tail]


def test_build_system_keeps_list_blocks_as_the_same_objects() -> None:
    block = {"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    assert build_system({"messages": HEY, "system": [block]}, None)[1] is block


SCOPES = [
    # cache_control sent, cache_control forwarded
    ({"type": "ephemeral", "scope": "global"}, {"type": "ephemeral"}),
    ({"type": "ephemeral", "ttl": "1h", "scope": "org"}, {"type": "ephemeral", "ttl": "1h"}),
    ({"ephemeral": {"scope": "global", "ttl": "5m"}}, {"ephemeral": {"ttl": "5m"}}),
    (
        {"type": "ephemeral", "ephemeral": {"scope": "g"}, "scope": "g"},
        {"type": "ephemeral", "ephemeral": {}},
    ),
    (
        {"type": "persistent", "scope": "global"},
        {"type": "persistent", "scope": "global"},
    ),  # only ephemeral
    ({"type": "ephemeral"}, {"type": "ephemeral"}),
]


@pytest.mark.parametrize(("sent", "forwarded"), SCOPES)
def test_scope_is_stripped_from_system_blocks(
    sent: dict[str, Any], forwarded: dict[str, Any]
) -> None:
    block = {"type": "text", "text": "cached", "cache_control": sent, "citations": None}
    body = {"messages": HEY, "system": [block]}
    snapshot = copy.deepcopy(body)
    out = build_system(body, None)[1]
    assert json.dumps(out) == json.dumps(
        {"type": "text", "text": "cached", "cache_control": forwarded, "citations": None}
    )
    assert body == snapshot


def test_scope_is_stripped_only_in_system() -> None:
    scoped = {"type": "ephemeral", "scope": "global"}
    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "s", "cache_control": dict(scoped)}],
        "messages": [user([{"type": "text", "text": "m", "cache_control": dict(scoped)}])],
        "tools": [{"name": "t", "input_schema": {}, "cache_control": dict(scoped)}],
        "cache_control": dict(scoped),
    }
    out = prepare_messages_body(body, custom_system=None)
    assert out["system"][1]["cache_control"] == {"type": "ephemeral"}
    assert out["messages"][0]["content"][0]["cache_control"] == scoped
    assert out["tools"][0]["cache_control"] == scoped
    assert out["cache_control"] == scoped


# --- headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "merged"),
    [
        (None, "oauth-2025-04-20"),
        ("", "oauth-2025-04-20"),
        (" , ,", "oauth-2025-04-20"),
        ("interleaved-thinking-2025-05-14", "oauth-2025-04-20,interleaved-thinking-2025-05-14"),
        (
            " b , a,b,, oauth-2025-04-20 ,c ",
            "oauth-2025-04-20,b,a,c",
        ),
        ("oauth-2025-04-20", "oauth-2025-04-20"),
    ],
)
def test_merge_betas(client: str | None, merged: str) -> None:
    assert merge_betas(client) == merged


def test_upstream_headers() -> None:
    assert upstream_headers("sk-ant-oat01-xyz", "files-api-2025-04-14") == {
        "authorization": "Bearer sk-ant-oat01-xyz",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "oauth-2025-04-20,files-api-2025-04-14",
        "user-agent": "claude-code/2.1.76",
        "content-type": "application/json",
        "accept": "application/json",
    }


# --- fidelity: a big request survives ----------------------------------------------

SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/=\u2028\u00e9\ud83d"
IMAGE = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9Q"
    "DwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def big_request() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 16000,
        "system": [
            {
                "type": "text",
                "text": "You are terse.",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            },
            {"type": "text", "text": "Second block."},
        ],
        "messages": [
            user(
                [
                    {
                        "type": "text",
                        "text": "Look at these.",
                        "cache_control": {"type": "ephemeral"},
                    },
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": IMAGE},
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBERi0xLjQK",
                        },
                        "title": "Spec",
                        "context": "ctx",
                        "citations": {"enabled": True},
                    },
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "plain"},
                    },
                ]
            ),
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Let me think…", "signature": SIGNATURE},
                    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va+/=="},
                    {"type": "text", "text": "Calling a tool."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01A",
                        "name": "get_weather",
                        "input": {"city": "Paris", "n": 1.5e300},
                    },
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "q"},
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": [
                            {
                                "type": "web_search_result",
                                "encrypted_content": "Eq0=",
                                "url": "https://x",
                            }
                        ],
                    },
                ],
            },
            user(
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": [
                            {"type": "text", "text": "18°C"},
                            {"type": "image", "source": {"type": "url", "url": "https://e/x.png"}},
                        ],
                        "is_error": False,
                        "cache_control": {"type": "ephemeral", "scope": "keep-me-here"},
                    },
                    {"type": "future_block_2031", "payload": {"opaque": True}},
                ]
            ),
            {"role": "assistant", "content": "Prefill"},
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather",
                "input_schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
                "cache_control": {"type": "ephemeral"},
                "strict": True,
                "input_examples": [{"city": "Oslo"}],
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
            {"type": "tool_from_the_future", "name": "later", "anything": [1, None]},
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "adaptive", "display": "summarized"},
        "output_config": {
            "effort": "high",
            "format": {"type": "json_schema", "schema": {"type": "object"}},
        },
        "metadata": {"user_id": "user-123"},
        "stop_sequences": ["\n\nHuman:"],
        "stream": True,
        "cache_control": {"type": "ephemeral"},
        "service_tier": "auto",
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "mcp_servers": [{"type": "url", "url": "https://mcp", "name": "m"}],
        "container": "container_1",
        "inference_geo": "us",
        "a_field_from_2030": {"nested": ["kept", {"deep": None}]},
    }


def test_big_request_reaches_upstream_with_everything_but_the_system_unchanged() -> None:
    request = big_request()
    snapshot = copy.deepcopy(request)
    out = prepare_messages_body(request, custom_system="Be kind.", entrypoint="cli")

    assert request == snapshot  # not mutated
    expected = copy.deepcopy(snapshot)
    expected["system"] = [
        billing_block(snapshot),
        {"type": "text", "text": "Be kind."},
        *snapshot["system"],
    ]
    assert json.dumps(out) == json.dumps(expected)  # same values, same key order
    assert list(out) == list(snapshot)
    # opaque strings byte for byte
    assert out["messages"][1]["content"][0]["signature"] == SIGNATURE
    assert json.dumps(out["messages"][1]["content"][0]["signature"]) == json.dumps(SIGNATURE)
    assert out["messages"][0]["content"][1]["source"]["data"] == IMAGE


def test_big_request_shares_unrewritten_values_with_the_input() -> None:
    request = big_request()
    out = prepare_messages_body(request, custom_system=None)
    for key in set(request) - {"system"}:
        assert out[key] is request[key]


def test_prepare_applies_the_model_rules() -> None:
    request = {
        "model": "claude-opus-4-7-thinking",
        "max_tokens": 4000,
        "messages": HEY,
        "temperature": 0.7,
        "top_p": 0.9,
        "output_config": {"effort": "max"},
        "unknown": 1,
    }
    out = prepare_messages_body(request, custom_system=None)
    assert out == {
        "model": "claude-opus-4-7",
        "max_tokens": 4000,
        "messages": HEY,
        "output_config": {"effort": "max"},
        "unknown": 1,
        "thinking": {"type": "adaptive", "display": "summarized"},
        "system": [BILLING],
    }


@pytest.mark.parametrize("max_tokens", ["absent", None])
def test_prepare_defaults_max_tokens(max_tokens: Any) -> None:
    request: dict[str, Any] = {"model": "claude-opus-4-6", "messages": HEY}
    if max_tokens != "absent":
        request["max_tokens"] = max_tokens
    out = prepare_messages_body(request, custom_system=None)
    assert out["max_tokens"] == 8192
    assert "max_tokens" not in request or request["max_tokens"] is None


def test_prepare_keeps_max_tokens_zero_and_the_client_stream_flag() -> None:
    out = prepare_messages_body(
        {"model": "m", "max_tokens": 0, "stream": False, "messages": HEY}, custom_system=None
    )
    assert out["max_tokens"] == 0
    assert out["stream"] is False


def test_prepare_adds_system_when_the_client_sent_none() -> None:
    out = prepare_messages_body({"model": "m", "max_tokens": 5, "messages": HEY}, custom_system="c")
    assert list(out) == ["model", "max_tokens", "messages", "system"]
    assert out["system"] == [BILLING, {"type": "text", "text": "c"}]


def test_prepare_drops_an_empty_client_system() -> None:
    out = prepare_messages_body(
        {"model": "m", "max_tokens": 5, "messages": HEY, "system": "  "}, custom_system=None
    )
    assert out["system"] == [BILLING]


# --- count_tokens ------------------------------------------------------------------


def test_count_tokens_body_removes_only_generation_fields() -> None:
    request = big_request()
    request["temperature"] = 0.5
    request["top_k"] = 3
    request["diagnostics"] = {"previous_message_id": None}
    snapshot = copy.deepcopy(request)
    out = prepare_count_tokens_body(request, custom_system=None)
    assert request == snapshot
    for key in GENERATION_ONLY_FIELDS:
        assert key not in out
    kept = {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "cache_control",
        "context_management",
        "mcp_servers",
        "a_field_from_2030",
    }
    assert set(out) == kept
    assert out["system"][0] == billing_block(request)
    for key in kept - {"system"}:
        assert out[key] == request[key]


def test_count_tokens_body_is_sanitised_too() -> None:
    request = {
        "model": "claude-opus-4-8",
        "messages": HEY,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    out = prepare_count_tokens_body(request, custom_system=None)
    assert out == {
        "model": "claude-opus-4-8",
        "messages": HEY,
        "thinking": {"type": "adaptive", "display": "summarized"},
        "system": [BILLING],
    }


# --- sticky key --------------------------------------------------------------------


def cached(text: str, ttl: str = "5m", **extra: Any) -> dict[str, Any]:
    return {
        "type": "text",
        "text": text,
        "cache_control": {"type": "ephemeral", "ttl": ttl, **extra},
    }


def system_for(first_user: str, system: Any, custom: str | None = None) -> list[Any]:
    return build_system({"messages": [user(first_user)], "system": system}, custom)


def test_sticky_key_is_none_without_cache_control() -> None:
    assert sticky_key(system_for("hey", "plain")) is None
    assert sticky_key(system_for("hey", [{"type": "text", "text": "a"}])) is None
    assert sticky_key([]) is None
    assert sticky_key([{"type": "text", "text": "a", "cache_control": None}]) is None


def test_sticky_key_is_equal_for_equal_cached_prefixes() -> None:
    # Different first user messages give different billing blocks; the key ignores them.
    a = system_for(
        "first conversation", [cached("big prompt"), {"type": "text", "text": "uncached 1"}]
    )
    b = system_for(
        "another one entirely", [cached("big prompt"), {"type": "text", "text": "uncached 2"}]
    )
    assert a[0] != b[0]
    assert sticky_key(a) == sticky_key(b) is not None


def test_sticky_key_is_computed_after_scope_stripping() -> None:
    a = system_for("x", [cached("p", scope="global")])
    b = system_for("y", [cached("p")])
    assert sticky_key(a) == sticky_key(b)


def test_sticky_key_ignores_key_order() -> None:
    block = cached("p")
    reordered = {"cache_control": {"ttl": "5m", "type": "ephemeral"}, "text": "p", "type": "text"}
    assert sticky_key([block]) == sticky_key([reordered])


@pytest.mark.parametrize(
    "other",
    [
        [cached("different prompt")],
        [cached("big prompt", ttl="1h")],
        [cached("big prompt"), cached("second")],
        [cached("second"), cached("big prompt")],
    ],
)
def test_sticky_key_differs_for_different_cached_prefixes(other: list[Any]) -> None:
    assert sticky_key(system_for("x", [cached("big prompt")])) != sticky_key(system_for("x", other))


def test_sticky_key_is_stable_across_processes() -> None:
    # A literal: the key must not depend on PYTHONHASHSEED, the process or the platform.
    # It is SHA-256 of the canonical JSON (sorted keys, no spaces) of the cached blocks:
    canonical = (
        b'[{"cache_control":{"ttl":"5m","type":"ephemeral"},"text":"big prompt","type":"text"}]'
    )
    assert hashlib.sha256(canonical).hexdigest() == (
        "f25eca959e2a8d0586b167a86e8fddab3a1ae00eca3a44d3f9f18e7964a72455"
    )
    assert sticky_key([cached("big prompt")]) == (
        "f25eca959e2a8d0586b167a86e8fddab3a1ae00eca3a44d3f9f18e7964a72455"
    )


# --- connection test ---------------------------------------------------------------

HI_YES = [
    {"messages": [user("Hi")]},
    {"messages": [user("Hi")], "stream": False},
    {"messages": [user("Hi")], "stream": None},
    {"messages": [user([{"type": "text", "text": "Hi"}])]},
    {"messages": [user([{"type": "text", "text": "Hi", "citations": None}])]},
    {
        "messages": [user([{"type": "text", "text": "Hi", "unknown": 1}])],
        "model": "x",
        "max_tokens": 5,
    },
    {"messages": [{"role": "user", "content": "Hi", "name": "st"}]},
]
HI_NO = [
    {"messages": [user("Hi")], "stream": True},
    {"messages": [user("Hi"), user("Hi")]},
    {
        "messages": [
            user("Hi "),
        ]
    },
    {"messages": [user(" Hi")]},
    {"messages": [user("hi")]},
    {"messages": [user("Hello")]},
    {"messages": [{"role": "assistant", "content": "Hi"}]},
    {"messages": [user([{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}])]},
    {"messages": [user([{"type": "text", "text": "Hi"}, {"type": "text", "text": "Hi"}])]},
    {"messages": [user([{"type": "image", "text": "Hi"}])]},
    {"messages": [user(["Hi"])]},
    {"messages": []},
    {"messages": "Hi"},
    {},
]


@pytest.mark.parametrize("body", HI_YES)
def test_connection_test_detected(body: dict[str, Any]) -> None:
    assert is_connection_test(body)


@pytest.mark.parametrize("body", HI_NO)
def test_connection_test_not_detected(body: dict[str, Any]) -> None:
    assert not is_connection_test(body)


def test_connection_test_reply_is_clewdrs_exact_body() -> None:
    exact = (
        '{"role":"assistant","content":[{"type":"text",'
        '"text":"Claude Reverse Proxy is working, please send a real message."}]}'
    )
    assert CONNECTION_TEST_REPLY_JSON == exact.encode()
    assert CONNECTION_TEST_REPLY == json.loads(exact)


# --- validation --------------------------------------------------------------------

GOOD: dict[str, Any] = {"model": "claude-opus-4-6", "max_tokens": 10, "messages": [user("x")]}

INVALID = [
    # body, message
    ([], "The request body must be a JSON object"),
    ({"messages": [user("x")]}, "model: field required"),
    ({**GOOD, "model": 4}, "model: must be a string, not 4"),
    ({**GOOD, "model": None}, "model: must be a string, not null"),
    ({**GOOD, "model": ""}, "model: must not be empty"),
    ({"model": "m"}, "messages: field required"),
    ({**GOOD, "messages": "hi"}, "messages: must be an array of messages"),
    ({**GOOD, "messages": {"role": "user"}}, "messages: must be an array of messages"),
    ({**GOOD, "messages": []}, "messages: at least one message is required"),
    ({**GOOD, "messages": [user("x"), "y"]}, "messages.1: must be an object with role and content"),
    ({**GOOD, "messages": [{"content": "x"}]}, "messages.0.role: field required"),
    (
        {**GOOD, "messages": [{"role": "human", "content": "x"}]},
        "messages.0.role: must be 'user', 'assistant' or 'system', not \"human\"",
    ),
    (
        {**GOOD, "messages": [{"role": 1, "content": "x"}]},
        "messages.0.role: must be 'user', 'assistant' or 'system', not 1",
    ),
    ({**GOOD, "messages": [{"role": "user" * 20, "content": "x"}]}, "not a long string"),
    ({**GOOD, "messages": [{"role": "user"}]}, "messages.0.content: field required"),
    (
        {**GOOD, "messages": [{"role": "user", "content": None}]},
        "messages.0.content: must be a string or an array of content blocks",
    ),
    (
        {**GOOD, "messages": [{"role": "user", "content": {"type": "text"}}]},
        "messages.0.content: must be a string or an array of content blocks",
    ),
    ({**GOOD, "max_tokens": "100"}, 'max_tokens: must be a non-negative integer, not "100"'),
    ({**GOOD, "max_tokens": 100.0}, "max_tokens: must be a non-negative integer, not 100.0"),
    ({**GOOD, "max_tokens": True}, "max_tokens: must be a non-negative integer, not true"),
    ({**GOOD, "max_tokens": -1}, "max_tokens: must be a non-negative integer, not -1"),
    ({**GOOD, "stream": "true"}, 'stream: must be a boolean, not "true"'),
    ({**GOOD, "stream": 1}, "stream: must be a boolean, not 1"),
    (
        {**GOOD, "system": {"type": "text", "text": "s"}},
        "system: must be a string or an array of text blocks",
    ),
    ({**GOOD, "system": 3}, "system: must be a string or an array of text blocks"),
]


@pytest.mark.parametrize(("body", "message"), INVALID)
def test_validation_names_the_problem(body: Any, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_messages_body(body)
    assert message in caught.value.message
    assert caught.value.status == 400


VALID = [
    GOOD,
    {"model": "m", "messages": [user("x")]},  # max_tokens defaults later
    {**GOOD, "max_tokens": 0},  # pre-warms the cache
    {**GOOD, "max_tokens": None, "stream": None, "system": None},
    {**GOOD, "stream": True, "system": "s"},
    {**GOOD, "system": [{"type": "text", "text": "s"}, "odd but the upstream's call"]},
    {
        **GOOD,
        "messages": [{"role": "system", "content": "mid"}, {"role": "assistant", "content": []}],
    },
    {**GOOD, "messages": [user([{"type": "hologram_2040", "x": 1}])], "brand_new_field": {"a": 1}},
    {**GOOD, "thinking": "whatever", "tools": "not checked here", "temperature": "hot"},
    big_request(),
]


@pytest.mark.parametrize("body", VALID)
def test_validation_is_lenient_about_the_rest(body: dict[str, Any]) -> None:
    validate_messages_body(body)


# --- property: prepare never loses or mutates --------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
blocks = st.dictionaries(
    st.sampled_from(["type", "text", "cache_control", "x"]), json_values, max_size=4
)
systems = (
    st.none() | st.text(max_size=10) | st.lists(blocks | json_values, max_size=3) | json_values
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system"]),
            "content": st.text(max_size=25) | st.lists(blocks, max_size=3),
        }
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(["claude-opus-4-7", "claude-sonnet-4-5-20250929-thinking", "gpt-x"])
    | st.text(max_size=10),
    msgs=messages,
    system=systems,
    extra=st.dictionaries(
        st.text(max_size=6).filter(lambda k: k not in {"model", "messages", "system"}),
        json_values,
        max_size=5,
    ),
    custom=st.none() | st.text(max_size=5),
)
def test_prepare_property(
    model: str, msgs: list[Any], system: Any, extra: dict[str, Any], custom: str | None
) -> None:
    request: dict[str, Any] = {"model": model, "messages": msgs, **extra}
    if system is not None:
        request["system"] = system
    snapshot = copy.deepcopy(request)
    out = prepare_messages_body(request, custom_system=custom)
    counted = prepare_count_tokens_body(request, custom_system=custom)
    assert request == snapshot
    assert out["messages"] is request["messages"]
    assert out["system"][0] == billing_block(request)
    rewritable = {
        "model",
        "thinking",
        "output_config",
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "system",
    }
    for key in set(request) - rewritable:
        assert out[key] is request[key]
        if key not in GENERATION_ONLY_FIELDS:
            assert counted[key] is request[key]
    assert not set(GENERATION_ONLY_FIELDS) & set(counted)
    json.dumps(out)  # still serialisable
