"""Gemini-native paths, the safety rewrite, empty answers, Vertex URLs and the OpenAI fix-ups."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmproxy.errors import BadRequest
from llmproxy.gemini.native import (
    CORE_CATEGORIES,
    forward_query,
    is_empty_generate,
    parse_native_path,
    safety_off,
    safety_settings_off,
    vertex_base_for,
    vertex_model_url,
    vertex_openai_url,
    with_safety_off,
)
from llmproxy.gemini.openai_compat import (
    chat_models,
    fill_chunk,
    is_empty_chat,
    openai_error_type,
    vertex_chat_body,
)


@pytest.mark.parametrize(
    ("path", "model", "method"),
    [
        ("models/gemini-2.5-pro:generateContent", "gemini-2.5-pro", "generateContent"),
        ("models/gemini-2.5-flash:streamGenerateContent", "gemini-2.5-flash", "streamGenerateContent"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash", None),
        ("models", None, None),
        ("publishers/google/models/gemini-2.0-flash:countTokens", "gemini-2.0-flash", "countTokens"),
        ("projects/p/locations/us-central1/publishers/google/models/m-1.5:generateContent", "m-1.5", "generateContent"),
        ("tunedModels/abc:generateContent", None, None),
    ],
)
def test_paths(path: str, model: str | None, method: str | None) -> None:
    call = parse_native_path(path)
    assert (call.model, call.method) == (model, method)
    assert call.resource == path


def test_call_kinds() -> None:
    assert parse_native_path("models/m:streamGenerateContent").stream
    assert parse_native_path("models/m:generateContent").generates
    assert not parse_native_path("models/m:countTokens").generates
    assert parse_native_path("models/").lists_models


@pytest.mark.parametrize(
    "path", ["", "../x", "models/../../v1/keys", "models//m", "models/m:gen?x=1", "models/m%2F", "models/./m", "a b"]
)
def test_paths_that_could_escape_are_refused(path: str) -> None:
    with pytest.raises(BadRequest):
        parse_native_path(path)


def test_forward_query_drops_only_our_key() -> None:
    assert forward_query({"key": "secret", "alt": "sse", "pageSize": "5"}) == "alt=sse&pageSize=5"
    assert forward_query({"key": "secret"}) == ""


def test_safety_turns_everything_off_and_keeps_what_the_client_chose() -> None:
    given_settings = [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_LOW_AND_ABOVE", "method": "SEVERITY"},
        {"category": "HARM_CATEGORY_CIVIC_INTEGRITY", "threshold": "BLOCK_NONE"},
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"},
    ]
    out = safety_settings_off(given_settings)
    assert out[0] == {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF", "method": "SEVERITY"}
    assert out[1] == given_settings[1]  # BLOCK_NONE kept: some models refuse OFF for it
    assert out[2] == given_settings[2]
    assert [e["category"] for e in out[3:]] == ["HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT"]
    assert given_settings[0]["threshold"] == "BLOCK_LOW_AND_ABOVE"  # the input is not changed
    assert {e["category"] for e in safety_settings_off(None)} == set(CORE_CATEGORIES)
    assert "HARM_CATEGORY_CIVIC_INTEGRITY" not in {e["category"] for e in safety_settings_off(None)}


def test_safety_keeps_the_clients_spelling_and_leaves_garbage_to_google() -> None:
    snake = with_safety_off({"contents": [], "safety_settings": []})
    assert "safetySettings" not in snake and len(snake["safety_settings"]) == 4
    garbage = {"contents": [], "safetySettings": "none please"}
    assert with_safety_off(garbage) is garbage


def test_safety_off_on_raw_bodies() -> None:
    assert safety_off(b"not json") == b"not json"
    assert safety_off(b"[1, 2]") == b"[1, 2]"
    body = {"contents": [{"parts": [{"text": "é"}]}], "extra": {"n": 1.5}}
    out = json.loads(safety_off(json.dumps(body).encode()))
    assert out["contents"] == body["contents"] and out["extra"] == {"n": 1.5}
    assert len(out["safetySettings"]) == 4


@given(st.dictionaries(st.text(min_size=1), st.integers() | st.text() | st.booleans(), max_size=5))
def test_safety_off_changes_nothing_but_the_safety_field(body: dict[str, Any]) -> None:
    out = json.loads(safety_off(json.dumps(body).encode()))
    for name, value in body.items():
        if name not in ("safetySettings", "safety_settings"):
            assert out[name] == value


@pytest.mark.parametrize(
    ("body", "empty"),
    [
        ({"candidates": []}, True),
        ({"promptFeedback": {"blockReason": "OTHER"}}, True),
        ({"candidates": [{"finishReason": "OTHER", "content": {"parts": []}}]}, True),
        ({"candidates": [{"finishReason": "STOP", "content": {"parts": [{"text": "x"}]}}]}, False),
        ({"candidates": [{"finishReason": "SAFETY"}]}, False),
        ([], False),
    ],
)
def test_empty_generate(body: Any, empty: bool) -> None:
    assert is_empty_generate(json.dumps(body).encode()) is empty
    assert is_empty_generate(b"{not json") is False


def test_vertex_urls() -> None:
    assert vertex_model_url("https://h", "p 1", "global", "gemini-2.5-pro", "generateContent") == (
        "https://h/v1beta1/projects/p%201/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"
    )
    assert vertex_openai_url("https://h", "p", "us-east5") == (
        "https://h/v1beta1/projects/p/locations/us-east5/endpoints/openapi/chat/completions"
    )
    default = "https://aiplatform.googleapis.com"
    assert vertex_base_for(None, default, "global") == default
    assert vertex_base_for(None, default, "us-central1") == "https://us-central1-aiplatform.googleapis.com"
    assert vertex_base_for("http://fake/", default, "us-central1") == "http://fake"


def test_vertex_chat_body_follows_clewdr() -> None:
    body = {"model": "google/gemini-2.5-pro", "messages": [], "frequency_penalty": 1, "extra_body": {"google": {"thinking_config": {"thinking_budget": 0}}}}
    out = vertex_chat_body(body, safety_off=True)
    assert out["model"] == "google/gemini-2.5-pro"
    assert "frequency_penalty" not in out
    assert out["extra_body"]["google"]["thinking_config"] == {"thinking_budget": 0}
    assert len(out["extra_body"]["google"]["safety_settings"]) == 4
    assert body["extra_body"] == {"google": {"thinking_config": {"thinking_budget": 0}}}  # not mutated
    plain = vertex_chat_body({"model": "gemini-2.5-flash", "messages": []}, safety_off=False)
    assert plain == {"model": "google/gemini-2.5-flash", "messages": []}


@pytest.mark.parametrize(
    ("body", "empty"),
    [
        ({"choices": []}, True),
        ({"choices": [{"finish_reason": "OTHER", "message": {"content": ""}}]}, True),
        ({"choices": [{"finish_reason": "stop", "message": {"content": "x"}}]}, False),
        ({"error": {"message": "x"}}, False),
    ],
)
def test_empty_chat(body: Any, empty: bool) -> None:
    assert is_empty_chat(json.dumps(body).encode()) is empty


def test_fill_chunk_adds_only_what_is_missing() -> None:
    chunk: dict[str, Any] = {"id": "given", "choices": []}
    assert fill_chunk(chunk, object_name="chat.completion.chunk", completion_id="new", created=5, model="m")
    assert chunk == {"id": "given", "choices": [], "object": "chat.completion.chunk", "created": 5, "model": "m"}
    assert not fill_chunk(chunk, object_name="x", completion_id="y", created=6, model="z")


def test_model_lists_and_error_types() -> None:
    native = {"models": [
        {"name": "models/a", "supportedGenerationMethods": ["generateContent"]},
        {"name": "models/e", "supportedGenerationMethods": ["embedContent"]},
        {"name": "models/b"},
        "junk",
    ]}
    assert [m["id"] for m in chat_models(native)["data"]] == ["a", "b"]
    assert chat_models(None) == {"object": "list", "data": []}
    assert openai_error_type("RESOURCE_EXHAUSTED", 429) == "rate_limit_error"
    assert openai_error_type(None, 418) == "invalid_request_error"
    assert openai_error_type("WHO_KNOWS", 500) == "server_error"
